"""Demo data for ``make run``: every headline feature at once.

* one user per role (plus a pending engineer registration) and a spread of tickets — rows
  inserted directly (not through the ticket services), so seeding emails nobody;
* uptime monitoring: an HTTP monitor of the app's own ``/healthz`` (at ``PUBLIC_URL``), a TCP
  monitor of a closed port (down: an open incident) and a heartbeat, each with
  :data:`HISTORY_DAYS` days of results recorded through
  :func:`crm.monitoring.engine.results.record_outcomes` — so rollups, flips and incidents are
  exactly what the check engine would have written (one closed incident in the health
  check's history, the open one of the closed port); a contact group for alerts from now on;
* a public status page (``/status/demo``) and an announced maintenance window.
"""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from crm.auth.models import ACTIVE, PENDING, User
from crm.clock import utcnow
from crm.extensions import db
from crm.tickets.models import Comment, Ticket, TicketChange

DEMO_PASSWORD = "demo-pass-123"
#: days of monitoring history backfilled, one result every :data:`HISTORY_STEP_MINUTES`
HISTORY_DAYS = 3
HISTORY_STEP_MINUTES = 10
STATUS_PAGE_SLUG = "demo"
#: a TCP port nothing listens on in a development machine (the Discard service)
CLOSED_PORT = 9

USERS = [
    ("admin", "Ada Admin", "admin@demo.example.com", ACTIVE),
    ("manager", "Maya Manager", "manager@demo.example.com", ACTIVE),
    ("agent", "Aiden Agent", "agent@demo.example.com", ACTIVE),
    ("engineer", "Erin Engineer", "engineer@demo.example.com", ACTIVE),
    ("engineer", "Ezra Engineer", "engineer2@demo.example.com", ACTIVE),
    ("engineer", "Penny Pending", "pending.engineer@demo.example.com", PENDING),
    ("customer", "Carla Customer", "customer@demo.example.com", ACTIVE),
    ("customer", "Colin Customer", "customer2@demo.example.com", ACTIVE),
    ("customer", "Chen Customer", "customer3@demo.example.com", ACTIVE),
]

SUBJECTS = [
    (
        "Order #1042 arrived damaged",
        "The box was crushed and the mug inside is broken. Photos attached to my email.",
    ),
    ("Refund not received", "I returned my order two weeks ago and still have no refund."),
    ("Cannot log in to my account", "The reset email never arrives; I checked the spam folder."),
    ("Wrong size delivered", "I ordered a medium jacket and received a small one."),
    ("Invoice shows the wrong VAT number", "Please correct the VAT number on invoice INV-2291."),
    ("Tracking link does not work", "The carrier page says the tracking number is unknown."),
    (
        "Charged twice for one order",
        "My card statement shows two charges of 59.90 for order #1107.",
    ),
    ("Gift card code rejected", "The code from my birthday gift card says 'invalid' at checkout."),
    ("Change delivery address", "I moved last week; can you send order #1188 to my new address?"),
    (
        "Product page shows wrong price",
        "The blue kettle is 39.00 on the list but 45.00 in the basket.",
    ),
]
REPLIES = [
    "Thanks for letting us know, we are looking into it.",
    "Could you send us the order number and a photo?",
    "Here are the photos you asked for.",
    "We have issued a replacement; it ships tomorrow.",
    "Thank you, that solved it!",
]


def seed_demo(force: bool = False, seed: int = 7) -> dict[str, str] | None:
    """Insert demo users and tickets when the database has no users (or ``force``).

    :returns: {role label: email} of the demo log-ins, or None when skipped.
    """
    if not force and db.session.scalar(select(func.count(User.id))):
        return None
    rng = random.Random(seed)
    now = utcnow()
    users: dict[str, list[User]] = {}
    logins: dict[str, str] = {}
    for role, name, email, status in USERS:
        if db.session.scalar(select(User).where(User.email == email)):
            continue
        u = User(
            email=email,
            name=name,
            role=role,
            status=status,
            created_at=now - timedelta(days=40),
            email_verified_at=now - timedelta(days=40),
        )
        u.set_password(DEMO_PASSWORD)
        db.session.add(u)
        users.setdefault(role, []).append(u)
        label = role if status == ACTIVE else f"{role} (pending)"
        logins.setdefault(label, email)
    db.session.flush()
    engineers = [u for u in users.get("engineer", []) if u.status == ACTIVE]
    customers = users.get("customer", [])
    statuses = ["open", "open", "in_progress", "in_progress", "pending", "resolved", "closed"]
    for i in range(36):
        subject, description = SUBJECTS[i % len(SUBJECTS)]
        created = now - timedelta(days=rng.uniform(0, 30), minutes=rng.randint(0, 600))
        status = statuses[i % len(statuses)]
        requester = customers[i % len(customers)] if customers else None
        if requester is None:
            break
        assignee = (
            engineers[i % len(engineers)] if engineers and (status != "open" or i % 3) else None
        )
        t = Ticket(
            subject=subject,
            description=description,
            priority=rng.choice(["low", "normal", "normal", "high", "urgent"]),
            status=status,
            requester_id=requester.id,
            assignee_id=assignee.id if assignee else None,
            created_at=created,
            updated_at=created + timedelta(hours=rng.randint(1, 48)),
            assigned_at=created if assignee else None,
        )
        if status in ("resolved", "closed"):
            t.resolved_at = t.updated_at
        db.session.add(t)
        db.session.flush()
        db.session.add(
            TicketChange(
                ticket_id=t.id,
                actor_id=requester.id,
                field="status",
                before=None,
                after="open",
                created_at=created,
            )
        )
        if assignee:
            db.session.add(
                TicketChange(
                    ticket_id=t.id,
                    actor_id=None,
                    field="assignee",
                    before=None,
                    after=assignee.name,
                    created_at=created,
                )
            )
        if status != "open":
            db.session.add(
                TicketChange(
                    ticket_id=t.id,
                    actor_id=assignee.id if assignee else None,
                    field="status",
                    before="open",
                    after=status,
                    created_at=t.updated_at,
                )
            )
        for k in range(rng.randint(0, 3) if status not in ("open",) else 0):
            author = assignee if k % 2 == 0 and assignee else requester
            db.session.add(
                Comment(
                    ticket_id=t.id,
                    author_id=author.id,
                    body=REPLIES[(i + k) % len(REPLIES)],
                    public=not (author is assignee and k == 2),
                    created_at=created + timedelta(hours=k + 1),
                )
            )
    db.session.commit()
    from crm.shop.demo import seed_shop  # shop customers, orders, products

    seed_shop(rng, customers, author=next(iter(users.get("manager", [])), None))
    admin = next(iter(users.get("admin", [])), None)
    seed_monitoring(
        rng, by=admin, alert_emails=[u.email for u in users.get("admin", []) + engineers[:1]]
    )
    return logins


def seed_monitoring(
    rng: random.Random, by: User | None = None, alert_emails: list[str] | None = None
) -> dict:
    """Monitors with :data:`HISTORY_DAYS` days of history, an incident, a contact group, a
    status page and a maintenance window (see the module doc). Commits.

    :param rng: the random source (seeded: the same demo every time).
    :param by: the user recorded as creator.
    :param alert_emails: the contact group's addresses (alerts from now on; the backfilled
        history alerted nobody).
    :returns: ``{"monitors": [Monitor], "status_page": StatusPage, "window": MaintenanceWindow}``.
    """
    from flask import current_app

    from crm.monitoring import services
    from crm.monitoring.engine.checks import CheckOutcome
    from crm.monitoring.engine.results import record_outcomes
    from crm.monitoring.models import MaintenanceWindow
    from crm.monitoring.pages import status_pages

    base = current_app.config.get("SERVER_NAME_FOR_LINKS", "http://127.0.0.1:5000").rstrip("/")
    health = services.create_monitor(
        {
            "name": "CR Tracker health",
            "type": "http",
            "url": f"{base}/healthz",
            "interval": 60,
            "json_path": "$.status",
            "json_expected": "ok",
            "tags": ["demo", "web"],
        },
        by=by,
    )
    legacy = services.create_monitor(
        {
            "name": "Legacy FTP gateway",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": CLOSED_PORT,
            "interval": 120,
            "retries": 2,
            "tags": ["demo", "legacy"],
        },
        by=by,
    )
    backup = services.create_monitor(
        {
            "name": "Nightly backup",
            "type": "heartbeat",
            "interval": 3600,
            "grace_seconds": 900,
            "tags": ["demo", "jobs"],
        },
        by=by,
    )

    now = utcnow().replace(second=0, microsecond=0)
    start = (now - timedelta(days=HISTORY_DAYS)).replace(minute=0)
    outage = (start + timedelta(days=1, hours=14), start + timedelta(days=1, hours=14, minutes=40))
    legacy_down_since = now - timedelta(hours=20)
    items: list[tuple[int, CheckOutcome]] = []
    at = start
    while at < now - timedelta(minutes=HISTORY_STEP_MINUTES):
        if outage[0] <= at < outage[1]:
            items.append(
                (
                    health.id,
                    CheckOutcome(
                        "down",
                        None,
                        None,
                        "HTTP 503: database error: OperationalError",
                        "http",
                        checked_at=at,
                    ),
                )
            )
        else:
            items.append(
                (
                    health.id,
                    CheckOutcome(
                        "up",
                        rng.uniform(25, 90) + (60 if at.hour == 9 else 0),
                        200,
                        None,
                        "http",
                        checked_at=at,
                    ),
                )
            )
        if at < legacy_down_since:
            items.append(
                (
                    legacy.id,
                    CheckOutcome("up", rng.uniform(0.4, 2.5), None, None, "tcp", checked_at=at),
                )
            )
        else:
            items.append(
                (
                    legacy.id,
                    CheckOutcome(
                        "down",
                        None,
                        None,
                        f"connection refused (127.0.0.1:{CLOSED_PORT})",
                        "tcp",
                        checked_at=at,
                    ),
                )
            )
        if at.minute == 0:  # the hourly backup job's ping
            items.append(
                (backup.id, CheckOutcome("up", None, None, None, "heartbeat", checked_at=at))
            )
        at += timedelta(minutes=HISTORY_STEP_MINUTES)
    record_outcomes(items)
    backup.last_ping_at = max(o.checked_at for mid, o in items if mid == backup.id)
    for monitor in (health, legacy, backup):
        monitor.next_check_at = now  # the engine takes over from here

    group = services.create_contact_group("Demo on-call", emails=alert_emails or [])
    for monitor in (health, legacy, backup):
        monitor.contact_group_id = group.id
    page = status_pages.save_status_page(
        None,
        slug=STATUS_PAGE_SLUG,
        title="CR Tracker service status",
        description="Live status of the demo services (no log-in needed).",
        monitor_ids=[health.id, legacy.id, backup.id],
    )
    window_start = (now + timedelta(days=4)).replace(hour=22, minute=0)
    window = MaintenanceWindow(
        title="Database upgrade",
        description="PostgreSQL minor upgrade; "
        "the console may be unavailable for up to 30 minutes.",
        starts_at=window_start,
        ends_at=window_start + timedelta(hours=1),
        all_monitors=True,
        announced=True,
        created_by_id=getattr(by, "id", None),
    )
    db.session.add(window)
    db.session.commit()
    return {"monitors": [health, legacy, backup], "status_page": page, "window": window}
