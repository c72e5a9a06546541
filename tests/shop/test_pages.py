"""Console and portal pages of the shop: each loads (with rows and empty), the customer
forms submit unchanged and show refusals on their fields, Customer 360 shows orders with
their timeline and the linked user's tickets, and the portal shows a customer their own
orders only."""
from __future__ import annotations

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from crm.clock import utcnow
from crm.extensions import db
from crm.shop.models import ShopChange, ShopCustomer, ShopNote
from crm.tickets.models import Ticket
from tests.helpers_matrix import visible_text
from tests.roundtrip.crawler import local_path, parse_page
from tests.shop.factories import make_customer, make_order, make_product


def submit_unchanged(client, url: str):
    """GET ``url``, then POST its first POST form exactly as rendered."""
    page = parse_page(client.get(url).get_data(as_text=True), url)
    form = next(f for f in page.forms if f.method.lower() == "post")
    return client.post(local_path(form.action) or url, data=MultiDict(form.entries()))


def test_empty_lists_and_the_new_form_load(login_as):
    agent = login_as("agent")
    for path in ("/shop/customers", "/shop/orders", "/shop/products"):
        resp = agent.get(path)
        assert resp.status_code == 200 and "yet" in visible_text(resp), path  # says why empty
    assert agent.get("/shop/customers/new").status_code == 200


def test_customer_360_shows_profile_orders_timeline_and_the_linked_users_tickets(
        login_as, make_user):
    user = make_user("customer", email="ada@example.com")
    customer = make_customer(email=user.email, user=user, note="Prefers email")
    order = make_order(customer, name="#4242")
    now = utcnow()
    db.session.add(Ticket(subject="Where is my kettle?", description="...", priority="normal",
                          status="open", requester_id=user.id, created_at=now, updated_at=now))
    db.session.commit()
    resp = login_as("agent").get(f"/shop/customers/{customer.id}")
    text = visible_text(resp)
    assert resp.status_code == 200
    for expected in ("Ada Lovelace", "+447400123456", "High Value", "#4242", "Delivered",
                     "In transit", "Label created", "Where is my kettle?", "Prefers email",
                     user.email):
        assert expected in text, expected
    order_page = login_as("manager").get(f"/shop/orders/{order.id}")
    assert order_page.status_code == 200 and "SORRY10" in visible_text(order_page)


def test_lists_filter_and_link_to_the_pages(login_as):
    ada = make_customer()
    make_order(ada, name="#1001")
    agent = login_as("agent")
    listing = agent.get("/shop/customers", query_string={"q": "#1001"})
    assert f"/shop/customers/{ada.id}" in listing.get_data(as_text=True)
    assert "No shop customers match" in visible_text(
        agent.get("/shop/customers", query_string={"q": "nobody-here"}))
    orders = agent.get("/shop/orders", query_string={"delivery_state": "Delivered"})
    assert "#1001" in visible_text(orders)
    assert "#1001" not in visible_text(
        agent.get("/shop/orders", query_string={"delivery_state": "Pending"}))
    fragment = agent.get("/shop/orders", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="shop-orders-table">')
    make_product()
    products = agent.get("/shop/products", query_string={"q": "KET-BLU"})
    assert "Blue kettle" in visible_text(products) and "39.00" in visible_text(products)
    bad = agent.get("/shop/orders", query_string={"status": "lost"})
    assert bad.status_code == 422 and "One of" in visible_text(bad)


def test_the_edit_form_submitted_unchanged_changes_nothing(login_as):
    customer = make_customer(addresses=[{"address1": "1 Main St", "city": "Dublin"}],
                             tags=["High Value", "Waiting on order"], note="VIP")
    resp = submit_unchanged(login_as("agent"), f"/shop/customers/{customer.id}/edit")
    assert resp.status_code == 302, visible_text(resp)
    db.session.rollback()
    stored = db.session.get(ShopCustomer, customer.id)
    assert stored.tags == ["High Value", "Waiting on order"] and stored.note == "VIP"
    assert stored.addresses == [{"address1": "1 Main St", "city": "Dublin"}]
    assert stored.accepts_marketing is True and stored.phone == "+447400123456"
    assert db.session.scalar(select(ShopChange.id)) is None  # nothing changed, nothing audited


def test_the_new_form_creates_and_refusals_land_on_their_fields(login_as):
    agent = login_as("agent")
    bad = agent.post("/shop/customers/new", data={"first_name": "Ann", "phone": "12",
                                                  "email": "nope"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert 'id="phone-errors"' in body and 'id="email-errors"' in body
    assert db.session.scalar(select(ShopCustomer.id)) is None
    good = agent.post("/shop/customers/new", data={
        "first_name": "Ann", "last_name": "Smith", "email": "ann@example.com",
        "phone": "07400 123456", "tag_list": "VIP, Waiting on order", "accepts_marketing": "y"})
    assert good.status_code == 302
    stored = db.session.scalar(select(ShopCustomer))
    assert (stored.phone, stored.tags, stored.accepts_marketing) == (
        "+447400123456", ["VIP", "Waiting on order"], True)
    assert good.headers["Location"].endswith(f"/shop/customers/{stored.id}")


def test_an_edit_with_a_bad_phone_is_refused_on_the_field_and_changes_nothing(login_as):
    customer = make_customer()
    resp = login_as("manager").post(f"/shop/customers/{customer.id}/edit", data={
        "first_name": "Ada", "last_name": "Byron", "phone": "call me maybe"})
    assert resp.status_code == 422 and 'id="phone-errors"' in resp.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(ShopCustomer, customer.id).last_name == "Lovelace"


def test_customers_and_engineers_are_refused_the_shop_console(login_as):
    for role in ("customer", "engineer"):
        client = login_as(role)
        for path in ("/shop/customers", "/shop/orders", "/shop/customers/new", "/shop/products"):
            assert client.get(path).status_code == 403, (role, path)


# ---------------------------------------------------------------- portal

def test_a_verified_customer_sees_their_orders_and_where_each_is(login_as, make_user):
    user = make_user("customer")
    mine = make_order(make_customer(email=user.email, user=user), name="#7001")
    theirs = make_order(make_customer(email="someone@example.com"), name="#7002")
    client = login_as(user)
    listing = client.get("/portal/orders/")
    assert "#7001" in visible_text(listing) and "#7002" not in visible_text(listing)
    page = client.get(f"/portal/orders/{mine.id}")
    assert page.status_code == 200 and "Where it is: Delivered" in visible_text(page)
    assert client.get(f"/portal/orders/{theirs.id}").status_code == 404
    assert client.get(f"/portal/orders/{theirs.id + 1000}").status_code == 404


def test_a_customer_without_a_linked_shop_customer_sees_an_empty_state(login_as):
    make_order(make_customer(email="someone@example.com"))
    resp = login_as("customer").get("/portal/orders/")
    assert resp.status_code == 200 and "No orders here yet" in visible_text(resp)


def test_verifying_the_email_links_the_shop_customer(make_user, login_as):
    user = make_user("customer", verified=False)
    customer = make_customer(email=user.email)
    order = make_order(customer)
    client = login_as(user)
    assert client.get("/portal/orders/").status_code == 403  # verify first
    from crm.auth import verification
    raw = verification.send_link(user)
    db.session.commit()
    assert client.get(f"/auth/verify/{raw}").status_code in (200, 302)
    db.session.rollback()
    assert db.session.get(ShopCustomer, customer.id).user_id == user.id
    assert client.get(f"/portal/orders/{order.id}").status_code == 200


def test_the_demo_data_gives_a_customer_360_page_and_a_where_is_my_order_answer(
        login_as):
    from crm.auth.models import User
    from crm.demo import DEMO_PASSWORD, seed_demo
    from crm.shop.models import ShopOrder

    seed_demo(force=True)
    linked = db.session.scalar(select(ShopCustomer).where(ShopCustomer.user_id.is_not(None)))
    page = login_as("agent").get(f"/shop/customers/{linked.id}")
    assert page.status_code == 200 and "An Post" in visible_text(page)
    order = db.session.scalar(select(ShopOrder).where(ShopOrder.customer_id == linked.id)
                              .order_by(ShopOrder.id))
    portal = login_as(db.session.get(User, linked.user_id), password=DEMO_PASSWORD)
    answer = portal.get(f"/portal/orders/{order.id}")
    assert answer.status_code == 200
    assert f"Where it is: {order.delivery_label}" in visible_text(answer)


def test_notes_on_the_customer_360_page(login_as):
    customer = make_customer()
    agent = login_as("agent")
    blank = agent.post(f"/shop/customers/{customer.id}/notes", data={"body": "  "})
    assert blank.status_code == 422 and 'id="body-errors"' in blank.get_data(as_text=True)
    assert agent.post(f"/shop/customers/{customer.id}/notes",
                      data={"body": "Wants a refund"}).status_code == 302
    page = agent.get(f"/shop/customers/{customer.id}")
    assert "Wants a refund" in visible_text(page) and "Delete note" in visible_text(page)
    other = login_as("agent").get(f"/shop/customers/{customer.id}")
    assert "Wants a refund" in visible_text(other) and "Delete note" not in visible_text(other)
    note_id = db.session.scalar(select(ShopNote.id))
    assert login_as("agent").post(
        f"/shop/customers/{customer.id}/notes/{note_id}/delete").status_code == 403
    assert agent.get(f"/shop/customers/{customer.id}/notes/{note_id}/delete"
                     ).status_code == 303  # a reload goes back to the page
    assert agent.post(f"/shop/customers/{customer.id}/notes/{note_id}/delete").status_code == 302
    assert db.session.scalar(select(ShopNote.id)) is None
