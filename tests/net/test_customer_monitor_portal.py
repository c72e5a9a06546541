"""The portal's "My monitors" pages as a customer uses them: the empty state, the form
submitted as rendered, a refusal under its field, the monitor's page, deleting with a
confirmation, and another customer's monitor answered with 404."""
from __future__ import annotations

from crm.extensions import db
from crm.monitoring.models import Monitor
from tests.monitoring.forms_html import form_fields


def test_a_customer_adds_a_website_and_sees_it(client, login, make_user):
    customer = make_user("customer")
    login(customer)
    index = client.get("/portal/monitors")
    assert index.status_code == 200 and "Add your first monitor" in index.text
    assert "0 of 10 monitors used" in index.text
    form = client.get("/portal/monitors/new")
    fields = form_fields(form.text, "/portal/monitors/new")
    assert fields["type"] == "http" and fields["interval"] == "300" and fields["email_me"] == "y"
    fields["name"], fields["url"] = "My shop", "https://shop.example.org/"
    created = client.post("/portal/monitors/new", data=fields)
    assert created.status_code == 302
    monitor = db.session.scalars(db.select(Monitor).where(Monitor.owner_id == customer.id)).one()
    assert monitor.config["url"] == "https://shop.example.org/"
    assert [c.email for c in monitor.contact_group.contacts] == [customer.email]
    page = client.get(created.headers["Location"])
    assert page.status_code == 200 and "My shop" in page.text and "Recent checks" in page.text
    assert "My shop" in client.get("/portal/monitors").text


def test_refusals_show_under_their_field_and_save_nothing(client, login, make_user):
    login(make_user("customer"))
    fields = form_fields(client.get("/portal/monitors/new").text, "/portal/monitors/new")
    fields["name"], fields["url"] = "Router", "http://192.168.1.1/"
    private = client.post("/portal/monitors/new", data=fields)
    assert private.status_code == 422 and "192.168.1.1" in private.text
    assert 'id="url-errors"' in private.text
    fields["url"], fields["interval"] = "https://shop.example.org/", "20"
    fast = client.post("/portal/monitors/new", data=fields)
    assert fast.status_code == 422 and "every 60 s" in fast.text
    assert db.session.scalar(db.select(db.func.count(Monitor.id))) == 0


def test_another_customers_monitor_is_404_and_deleting_asks_first(client, login, make_user,
                                                                 make_monitor):
    owner, other = make_user("customer"), make_user("customer")
    monitor = make_monitor("http", url="https://shop.example.org/", owner_id=owner.id)
    login(other)
    for path in (f"/portal/monitors/{monitor.id}", f"/portal/monitors/{monitor.id}/delete"):
        assert client.get(path).status_code == 404
    assert client.post(f"/portal/monitors/{monitor.id}/delete",
                       data={"confirm": "yes"}).status_code == 404
    client.post("/auth/logout")
    login(owner)
    asked = client.post(f"/portal/monitors/{monitor.id}/delete", data={})
    assert asked.status_code == 200 and "cannot be undone" in asked.text
    assert db.session.get(Monitor, monitor.id) is not None
    confirm = form_fields(asked.text, f"/portal/monitors/{monitor.id}/delete")
    assert client.post(f"/portal/monitors/{monitor.id}/delete", data=confirm).status_code == 302
    db.session.expire_all()
    assert db.session.get(Monitor, monitor.id) is None


def test_staff_use_the_console_not_the_portal(client, login, make_user):
    login(make_user("engineer"))
    assert client.get("/portal/monitors").status_code == 403
