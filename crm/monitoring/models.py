"""Uptime monitoring: monitors, their check results, flips, rollups, incidents, contacts,
maintenance windows, status pages and health reports.

Storage design (what keeps dashboards fast after years, the weak point of tools whose raw
results table grows until pages time out):

* :class:`CheckResult` — one row per check, written in bulk, pruned after
  ``MONITOR_RESULT_RETENTION_DAYS``.
* :class:`Flip` — one row per state change (up → down, down → up), as Healthchecks stores
  them; incidents and uptime are computed from flips, not from raw results.
* :class:`Rollup` — per monitor × hour and × day: counts, response-time sum/min/max and a
  fixed log-scale histogram (:data:`HISTOGRAM_BOUNDS_MS`) for percentiles, status-code
  counts. Maintained as results arrive; dashboards and reports read only rollups and flips.

All times are UTC (:class:`crm.types.UTCDateTime`); durations are seconds; response times
milliseconds.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

# ---------------------------------------------------------------- vocabularies

HTTP, TCP, SMTP, FTP, DNS, TLS, HEARTBEAT, SYNTHETIC = (
    "http", "tcp", "smtp", "ftp", "dns", "tls", "heartbeat", "synthetic")
MONITOR_TYPES = (HTTP, TCP, SMTP, FTP, DNS, TLS, HEARTBEAT, SYNTHETIC)

#: Monitor.status values. ``pending``: not checked yet (or failing but not yet confirmed).
UP, DOWN, PENDING, PAUSED, MAINTENANCE = "up", "down", "pending", "paused", "maintenance"
MONITOR_STATUSES = (UP, DOWN, PENDING, PAUSED, MAINTENANCE)
#: CheckResult.status values.
RESULT_STATUSES = (UP, DOWN)

HOUR, DAY = "hour", "day"
ROLLUP_PERIODS = (HOUR, DAY)

#: Upper bounds (ms) of the response-time histogram buckets kept in each rollup; the last
#: bucket is open-ended. Percentiles are read from it (bucket upper bound, so p99 is within
#: one bucket: ≤ ~25 % over the true value).
HISTOGRAM_BOUNDS_MS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000,
                       3000, 5000, 7500, 10000, 20000, 30000, 60000)

DEFAULT_INTERVAL_SECONDS = 300
DEFAULT_TIMEOUT_SECONDS = 10


# ---------------------------------------------------------------- contacts

class ContactGroup(db.Model):
    """Recipients of alerts and reports: many email addresses and SMS numbers.

    Each monitor alerts its ``contact_group`` (the API's ``/monitors/<id>/contacts`` manage
    the monitor's own group, created on first use) and may escalate to a second group.
    ``owner_monitor_id`` marks a monitor's own group (None for a named, shareable group); the
    group goes when its monitor is deleted (unless :func:`crm.monitoring.services.delete_monitor`
    kept it for other monitors that use it, unowned).
    ``report_periods`` lists the health reports this group receives (daily, weekly, monthly).
    """

    __tablename__ = "contact_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # use_alter: monitors reference contact_groups too (a cycle PostgreSQL resolves by ALTER)
    owner_monitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE", use_alter=True,
                   name="fk_contact_groups_owner_monitor_id"), index=True)
    report_periods: Mapped[list] = mapped_column(JSON, default=list)
    #: the customer who owns this group (None: the operators')
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contacts = relationship("Contact", back_populates="group", cascade="all, delete-orphan",
                            order_by="Contact.id")


class Contact(db.Model):
    """One recipient in a group: exactly one of ``email`` or ``phone`` (E.164)."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_group", "group_id"),
        UniqueConstraint("group_id", "email", "phone", name="uq_contacts_group_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("contact_groups.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group = relationship("ContactGroup", back_populates="contacts")


# ---------------------------------------------------------------- monitors


class Monitor(db.Model):
    """Something checked on a schedule.

    Common settings are columns; the type's own fields live in ``config`` (JSON), validated
    by the API/console schemas:

    * http: ``url``, ``method``, ``headers`` (dict), ``body``, ``expected_status``
      (e.g. ``"200-299,301"``), ``keyword`` + ``keyword_absent``, ``json_path`` +
      ``json_expected``, ``max_response_ms``, ``follow_redirects``
    * tcp: ``host``, ``port``;  smtp: ``host``, ``port``, ``starttls``;
      ftp: ``host``, ``port``, ``username``, ``password``
    * dns: ``host`` (the name), ``expected_address``, ``resolver``, ``record_type``
    * tls: ``host``, ``port``, ``days_before`` (alert that many days before expiry)
    * heartbeat: ``grace_seconds`` (the push URL carries ``heartbeat_token``)
    * synthetic: ``steps``: list of {name, method, url, headers, body, assertions: [...],
      extract: {var: json_path}}

    Runtime state (``status``, ``consecutive_failures``, ``next_check_at`` …) is updated by
    the checker; ``next_check_at`` drives the due-time scheduler.
    """

    __tablename__ = "monitors"
    __table_args__ = (
        Index("ix_monitors_due", "paused", "next_check_at"),
        Index("ix_monitors_status", "status"),
        Index("ix_monitors_type", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_INTERVAL_SECONDS)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=DEFAULT_TIMEOUT_SECONDS)
    #: failed checks in a row before the monitor is declared down (confirmation).
    retries: Mapped[int] = mapped_column(Integer, default=1)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_groups.id", ondelete="SET NULL")
    )
    escalation_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_groups.id", ondelete="SET NULL")
    )
    escalate_after_minutes: Mapped[int | None] = mapped_column(Integer)
    remind_every_minutes: Mapped[int | None] = mapped_column(Integer)
    heartbeat_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: the customer who owns this monitor (self-service uptime); None for the operators'
    #: monitors. A customer's monitors connect under the customer outbound policy. No ON
    #: DELETE action: accounts are deleted by anonymising them (crm.admin.services), and
    #: SQLite could add the column only without one (ALTER TABLE … ADD COLUMN … REFERENCES,
    #: whose actions SQLAlchemy's reflection cannot read back).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # runtime state
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_response_ms: Mapped[float | None] = mapped_column(Float)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_flip_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_ping_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    contact_group = relationship("ContactGroup", foreign_keys=[contact_group_id])
    escalation_group = relationship("ContactGroup", foreign_keys=[escalation_group_id])

    @property
    def protocol(self) -> str:
        """The protocol label used in results and dashboards (``https``, ``http``, ``tcp`` …)."""
        if self.type == HTTP:
            url = (self.config or {}).get("url", "")
            return "https" if url.lower().startswith("https:") else "http"
        return self.type


class CheckResult(db.Model):
    """One check of one monitor (raw, pruned after the retention period)."""

    __tablename__ = "check_results"
    __table_args__ = (
        Index("ix_check_results_monitor_time", "monitor_id", "checked_at"),
        Index("ix_check_results_time", "checked_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(8))
    response_time_ms: Mapped[float | None] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    protocol: Mapped[str] = mapped_column(String(16))


class Flip(db.Model):
    """A state change of a monitor (``old_status`` → ``new_status``) at ``created_at``."""

    __tablename__ = "flips"
    __table_args__ = (
        Index("ix_flips_monitor_time", "monitor_id", "created_at"),
        Index("ix_flips_time", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    old_status: Mapped[str] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class Rollup(db.Model):
    """Aggregates of one monitor over one hour or one UTC day (``bucket_start``).

    ``histogram``: counts per :data:`HISTOGRAM_BOUNDS_MS` bucket (list of ints, one longer
    than the bounds); ``status_codes``: {"200": n, …}; ``errors``: checks that got no answer
    at all (timeout, refused, DNS failure) — "did not respond".
    """

    __tablename__ = "rollups"
    # Dashboards scan one period's rows over a range and read only these columns: on
    # PostgreSQL the index covers them (INCLUDE), so a year of day rows is an index-only scan
    # instead of heap reads scattered between the hour rows (bench/monitors.py: 108 -> 14 ms).
    __table_args__ = (
        Index(
            "ix_rollups_period_bucket",
            "period",
            "bucket_start",
            postgresql_include=[
                "monitor_id",
                "count_up",
                "count_down",
                "errors",
                "protocol",
                "status_codes",
            ],
        ),
    )

    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count_up: Mapped[int] = mapped_column(Integer, default=0)
    count_down: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    sum_ms: Mapped[float] = mapped_column(Float, default=0.0)
    min_ms: Mapped[float | None] = mapped_column(Float)
    max_ms: Mapped[float | None] = mapped_column(Float)
    histogram: Mapped[list] = mapped_column(JSON, default=list)
    # JSONB on PostgreSQL: the dashboard unnests it per bucket (migration 0005)
    status_codes: Mapped[dict] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=dict
    )
    protocol: Mapped[str] = mapped_column(String(16), default="")


class Incident(db.Model):
    """A confirmed outage: opened when a monitor is declared down, closed on recovery
    (``duration_seconds`` = closed − opened). ``cause`` names the failing check detail (for
    synthetic monitors: the step and the assertion)."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_monitor_opened", "monitor_id", "opened_at"),
        Index("ix_incidents_open", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str | None] = mapped_column(Text)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    in_maintenance: Mapped[bool] = mapped_column(Boolean, default=False)

    monitor = relationship("Monitor")


maintenance_monitors = Table(
    "maintenance_monitors",
    db.metadata,
    Column("window_id", ForeignKey("maintenance_windows.id", ondelete="CASCADE"), primary_key=True),
    Column("monitor_id", ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
)


class MaintenanceWindow(db.Model):
    """Planned maintenance: alerts are suppressed and the status shows ``maintenance``.

    One-off (``recurrence`` empty: ``starts_at`` … ``ends_at``) or recurring (``daily``,
    ``weekly``, ``monthly``: the first occurrence is ``starts_at`` … ``ends_at``, repeated
    until ``recurrence_until``). Applies to ``monitors`` or, when ``all_monitors``, to every
    monitor. ``announced`` windows appear on public status pages.
    """

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_windows_time", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recurrence: Mapped[str] = mapped_column(String(16), default="")
    recurrence_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    all_monitors: Mapped[bool] = mapped_column(Boolean, default=False)
    announced: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    monitors = relationship("Monitor", secondary=maintenance_monitors)


status_page_monitors = Table(
    "status_page_monitors",
    db.metadata,
    Column("status_page_id", ForeignKey("status_pages.id", ondelete="CASCADE"), primary_key=True),
    Column("monitor_id", ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
)


class StatusPage(db.Model):
    """A public page (no log-in) at ``/status/<slug>`` for a group of monitors."""

    __tablename__ = "status_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the customer who owns this page (None: the operators')
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    monitors = relationship("Monitor", secondary=status_page_monitors, order_by="Monitor.name")


# ---------------------------------------------------------------- customers' plans

#: a customer's plan when an admin has set none: monitors, shortest interval (s), SMS alerts
DEFAULT_PLAN_MONITORS, DEFAULT_PLAN_MIN_INTERVAL_SECONDS, DEFAULT_PLAN_SMS = 10, 60, False


class MonitorPlan(db.Model):
    """What an admin allows one customer's self-service monitoring: at most ``max_monitors``
    monitors, checked no more often than every ``min_interval_seconds`` seconds, with SMS
    alerts only when ``sms_included``. A customer without a row has the defaults
    (:data:`DEFAULT_PLAN_MONITORS`, :data:`DEFAULT_PLAN_MIN_INTERVAL_SECONDS`,
    :data:`DEFAULT_PLAN_SMS`)."""

    __tablename__ = "monitor_plans"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_monitor_plans_user_id"),
        primary_key=True,
    )
    max_monitors: Mapped[int] = mapped_column(Integer, default=DEFAULT_PLAN_MONITORS)
    min_interval_seconds: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_PLAN_MIN_INTERVAL_SECONDS
    )
    sms_included: Mapped[bool] = mapped_column(Boolean, default=DEFAULT_PLAN_SMS)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_monitor_plans_updated_by_id")
    )


# ---------------------------------------------------------------- reports and broadcasts

REPORT_DAILY, REPORT_WEEKLY, REPORT_MONTHLY = "daily", "weekly", "monthly"
REPORT_PERIODS = (REPORT_DAILY, REPORT_WEEKLY, REPORT_MONTHLY)
REPORT_QUEUED, REPORT_RUNNING, REPORT_DONE, REPORT_FAILED = "queued", "running", "done", "failed"


class HealthReport(db.Model):
    """One generated health report for a recipient group and period [period_start, period_end).

    ``progress`` (0–100) and ``stage`` are updated while the job runs, for the console's
    progress bar; ``pdf`` holds the rendered PDF (wkhtmltopdf) once ``done``.
    """

    __tablename__ = "health_reports"
    __table_args__ = (
        Index("ix_health_reports_created", "created_at", "id"),
        UniqueConstraint(
            "group_id", "period", "period_start", name="uq_health_reports_group_period"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_groups.id", ondelete="SET NULL")
    )
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(8), default=REPORT_QUEUED)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    group = relationship("ContactGroup")
