"""Customers' plans for self-service monitoring: how many monitors, the shortest interval and
whether SMS alerts are included. An admin sets a plan per customer; a customer without one has
the defaults (10 monitors, 60 s, no SMS: :data:`crm.monitoring.models.DEFAULT_PLAN_MONITORS`
and the two beside it). Going past the plan is refused with the limit in the message.
"""
from __future__ import annotations

from sqlalchemy import func, select

from crm.auth.models import CUSTOMER
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring.models import (
    DEFAULT_PLAN_MIN_INTERVAL_SECONDS,
    DEFAULT_PLAN_MONITORS,
    DEFAULT_PLAN_SMS,
    Monitor,
    MonitorPlan,
)

#: bounds an admin may set (monitors per customer; interval in seconds)
MAX_MONITORS_LIMIT = 10_000
MIN_INTERVAL_BOUNDS = (10, 86_400)


class PlanLimit(ServiceError):
    """A change would go past the owner's plan (HTTP 409 for the count, 422 for a value)."""


def plan_for(user) -> MonitorPlan:
    """``user``'s plan: the stored row, or an unsaved one with the defaults."""
    plan = db.session.get(MonitorPlan, user.id)
    if plan is None:
        plan = MonitorPlan(user_id=user.id, max_monitors=DEFAULT_PLAN_MONITORS,
                           min_interval_seconds=DEFAULT_PLAN_MIN_INTERVAL_SECONDS,
                           sms_included=DEFAULT_PLAN_SMS)
    return plan


def monitors_owned(user) -> int:
    """How many monitors ``user`` owns."""
    return db.session.scalar(select(func.count()).where(Monitor.owner_id == user.id)) or 0


def check_new_monitor(owner) -> None:
    """Refuse a new monitor when ``owner`` already has as many as the plan allows.

    :raises PlanLimit: 409, e.g. "Your plan allows 10 monitors, and you have 10. …".
    """
    plan, count = plan_for(owner), monitors_owned(owner)
    if count >= plan.max_monitors:
        raise PlanLimit(f"Your plan allows {plan.max_monitors} monitor"
                        f"{'s' if plan.max_monitors != 1 else ''}, and you have {count}. "
                        "Delete one or ask us for a larger plan.", status=409)


def check_settings(owner, *, interval_seconds: int | None, sms_numbers: int = 0) -> None:
    """Refuse settings the plan does not include: an interval shorter than the plan's
    shortest (seconds), or SMS recipients without SMS in the plan.

    :raises PlanLimit: 422 with ``field`` ``interval`` or ``contacts``.
    """
    plan = plan_for(owner)
    if interval_seconds is not None and interval_seconds < plan.min_interval_seconds:
        raise PlanLimit(f"Your plan checks at most every {plan.min_interval_seconds} s: "
                        f"choose an interval of {plan.min_interval_seconds} s or more.",
                        field="interval", status=422)
    if sms_numbers and not plan.sms_included:
        raise PlanLimit("Your plan does not include SMS alerts: use email addresses.",
                        field="contacts", status=422)


def set_plan(user, *, max_monitors: int, min_interval_seconds: int, sms_included: bool,
             by) -> MonitorPlan:
    """Store ``user``'s plan (added to the session; the caller commits). Monitors the
    customer already has beyond a lowered limit are kept; new ones are refused.

    :param by: the admin setting it (``updated_by_id``).
    :raises ServiceError: 422 for a user who is not a customer or a value out of bounds.
    """
    if user.role != CUSTOMER:
        raise ServiceError("Plans are for customers' own monitors.", field="user", status=422)
    if not 0 <= max_monitors <= MAX_MONITORS_LIMIT:
        raise ServiceError(f"Monitors must be between 0 and {MAX_MONITORS_LIMIT}.",
                           field="max_monitors", status=422)
    low, high = MIN_INTERVAL_BOUNDS
    if not low <= min_interval_seconds <= high:
        raise ServiceError(f"The shortest interval must be between {low} and {high} s.",
                           field="min_interval_seconds", status=422)
    plan = db.session.get(MonitorPlan, user.id) or MonitorPlan(user_id=user.id)
    plan.max_monitors, plan.min_interval_seconds = max_monitors, min_interval_seconds
    plan.sms_included, plan.updated_by_id = bool(sms_included), getattr(by, "id", None)
    db.session.add(plan)
    return plan
