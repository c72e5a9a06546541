"""Customers' plans (crm.monitoring.plans): the defaults (10 monitors, 60 s, no SMS), an
admin's plan replacing them, and refusals that name the limit."""
from __future__ import annotations

import pytest

from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import plans


def test_a_customer_without_a_plan_has_the_defaults(make_user):
    plan = plans.plan_for(make_user("customer"))
    assert (plan.max_monitors, plan.min_interval_seconds, plan.sms_included) == (10, 60, False)


def test_the_eleventh_monitor_is_refused_with_the_limit(make_user, make_monitor):
    owner = make_user("customer")
    for _ in range(10):
        plans.check_new_monitor(owner)
        make_monitor("http", url="https://shop.example.org/", owner_id=owner.id)
    with pytest.raises(plans.PlanLimit) as refused:
        plans.check_new_monitor(owner)
    assert refused.value.status == 409
    assert "Your plan allows 10 monitors, and you have 10" in refused.value.message
    plans.check_new_monitor(make_user("customer"))  # counted per owner


def test_interval_and_sms_beyond_the_plan_are_refused_naming_the_field(make_user):
    owner = make_user("customer")
    plans.check_settings(owner, interval_seconds=60)
    with pytest.raises(plans.PlanLimit) as short:
        plans.check_settings(owner, interval_seconds=30)
    assert (short.value.field, short.value.status) == ("interval", 422)
    assert "every 60 s" in short.value.message
    with pytest.raises(plans.PlanLimit) as sms:
        plans.check_settings(owner, interval_seconds=None, sms_numbers=1)
    assert sms.value.field == "contacts"


def test_an_admins_plan_replaces_the_defaults(make_user, make_monitor):
    admin, owner = make_user("admin"), make_user("customer")
    plans.set_plan(owner, max_monitors=1, min_interval_seconds=30, sms_included=True, by=admin)
    db.session.commit()
    plans.check_settings(owner, interval_seconds=30, sms_numbers=2)
    make_monitor("tcp", host="shop.example.org", port=443, owner_id=owner.id)
    with pytest.raises(plans.PlanLimit, match="allows 1 monitor, and you have 1"):
        plans.check_new_monitor(owner)
    assert plans.plan_for(owner).updated_by_id == admin.id


@pytest.mark.parametrize("values, field", [
    ({"max_monitors": -1}, "max_monitors"),
    ({"max_monitors": 10_001}, "max_monitors"),
    ({"min_interval_seconds": 5}, "min_interval_seconds"),
    ({"min_interval_seconds": 90_000}, "min_interval_seconds"),
])
def test_plan_values_out_of_bounds_are_refused(make_user, values, field):
    owner, admin = make_user("customer"), make_user("admin")
    settings = {"max_monitors": 10, "min_interval_seconds": 60, "sms_included": False, **values}
    with pytest.raises(ServiceError) as refused:
        plans.set_plan(owner, by=admin, **settings)
    assert (refused.value.field, refused.value.status) == (field, 422)


def test_plans_are_for_customers_only(make_user):
    with pytest.raises(ServiceError, match="customers"):
        plans.set_plan(make_user("agent"), max_monitors=5, min_interval_seconds=60,
                       sms_included=False, by=make_user("admin"))
