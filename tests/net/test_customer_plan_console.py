"""The admin's "Monitoring plan" form on a customer's page: shown to admins for customers
only, saves as rendered, refuses values out of bounds on the field, and only admins may post."""
from __future__ import annotations

from crm.extensions import db
from crm.monitoring import plans
from tests.monitoring.forms_html import form_fields


def test_an_admin_sets_a_plan_and_the_form_saves_unchanged(client, login, make_user):
    customer = make_user("customer")
    admin = make_user("admin")
    login(admin)
    page = client.get(f"/admin/users/{customer.id}")
    assert page.status_code == 200 and "Monitoring plan" in page.text
    fields = form_fields(page.text, f"/admin/users/{customer.id}/monitoring-plan")
    assert fields["max_monitors"] == "10" and fields["min_interval_seconds"] == "60"
    saved = client.post(f"/admin/users/{customer.id}/monitoring-plan", data=fields)
    assert saved.status_code == 302  # unchanged: the defaults, now stored
    fields["max_monitors"], fields["min_interval_seconds"] = "3", "30"
    fields["sms_included"] = "y"
    assert client.post(f"/admin/users/{customer.id}/monitoring-plan", data=fields).status_code \
        == 302
    db.session.expire_all()
    plan = plans.plan_for(customer)
    assert (plan.max_monitors, plan.min_interval_seconds, plan.sms_included) == (3, 30, True)
    assert 'value="3"' in client.get(f"/admin/users/{customer.id}").text


def test_out_of_bounds_values_are_refused_on_the_field(client, login, make_user):
    customer = make_user("customer")
    login(make_user("admin"))
    refused = client.post(f"/admin/users/{customer.id}/monitoring-plan",
                          data={"max_monitors": "-1", "min_interval_seconds": "5"})
    assert refused.status_code == 422
    assert refused.text.count('aria-invalid="true"') == 2
    assert db.session.get(plans.MonitorPlan, customer.id) is None


def test_only_admins_set_plans_and_only_for_customers(client, login, make_user):
    customer, agent = make_user("customer"), make_user("agent")
    login(make_user("manager"))
    assert "Monitoring plan" not in client.get(f"/admin/users/{customer.id}").text
    assert client.post(f"/admin/users/{customer.id}/monitoring-plan",
                       data={"max_monitors": "5", "min_interval_seconds": "60"}).status_code == 403
    client.post("/auth/logout")
    login(make_user("admin"))
    assert client.get(f"/admin/users/{agent.id}/monitoring-plan").status_code == 404
    assert "Monitoring plan" not in client.get(f"/admin/users/{agent.id}").text
