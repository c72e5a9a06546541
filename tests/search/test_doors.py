"""Search through the three doors: the staff console (form errors, highlights, best match),
the customer portal (own tickets, public text only) and the API (q=, sort=, 422 problem)."""
from __future__ import annotations

import pytest

from crm.extensions import db
from crm.tickets.models import Ticket
from crm.tickets.services import TicketFilters

XSS_SUBJECT = '<script>alert("s")</script> kettle'
XSS_BODY = '<img src=x onerror=alert(1)> the kettle "boils" & <b>leaks</b>'


@pytest.fixture
def scene(make_user, add_ticket):
    """Carla's tickets (one with an internal note), Dan's ticket, an XSS-laden ticket."""
    carla = make_user("customer", name="Carla Buyer", email="carla@example.com")
    dan = make_user("customer", name="Dan Shopper", email="dan@example.com")
    t = {
        "noted": add_ticket(carla, "Toaster sparks", "It sparks when on.",
                            comments=(("Known supplier defect zebracode", False),
                                      ("We will replace it", True))),
        "kettle": add_ticket(carla, "Kettle whistles", "Loud kettle"),
        "dan": add_ticket(dan, "Kettle for Dan", "zebracode in public text"),
        "xss": add_ticket(dan, XSS_SUBJECT, XSS_BODY),
    }
    return carla, dan, t


def test_an_internal_note_word_finds_nothing_for_the_customer(scene, make_user, find):
    carla, _, t = scene
    assert find(carla, "zebracode") == []  # Dan's public "zebracode" is not Carla's either
    assert find(carla, "zebra*") == []
    assert find(carla, "toaster -zebracode") == [t["noted"].id]
    assert find(carla, "replace") == [t["noted"].id]
    assert find(carla, "kettle") == [t["kettle"].id]
    admin = make_user("admin")
    assert find(admin, "zebracode") == [t["dan"].id, t["noted"].id]
    assert find(admin, "toaster -zebracode") == []


def test_portal_search_covers_own_tickets_and_public_replies_only(scene, login_as):
    carla, _, t = scene
    client = login_as(carla)
    page = client.get("/portal/?q=zebracode").get_data(as_text=True)
    assert "None of your tickets match this search." in page and "Toaster" not in page
    page = client.get("/portal/?q=replace").get_data(as_text=True)
    assert "Toaster sparks" in page and "<mark>replace</mark>" in page
    assert "zebracode" not in page and "supplier" not in page.lower()
    page = client.get("/portal/?q=kettle&sort=relevance").get_data(as_text=True)
    assert "<mark>Kettle</mark> whistles" in page and "Dan" not in page
    resp = client.get("/portal/?q=assignee:me")
    assert resp.status_code == 422 and "Unknown search field: assignee" in resp.get_data(True)


def test_console_highlights_are_escaped_against_xss(scene, login_as, make_user):
    client = login_as(make_user("agent"))
    resp = client.get("/tickets/?view=all&q=kettle")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>leaks" not in html
    assert "&lt;script&gt;alert(&#34;s&#34;)&lt;/script&gt; <mark>kettle</mark>" in html
    assert "onerror=alert(1)&gt; the <mark>kettle</mark> &#34;boils&#34; &amp; " in html


def test_highlight_markers_typed_into_text_cannot_open_tags(make_user, add_ticket, login_as):
    add_ticket(make_user("customer"), "Odd \x03 kettle \x02 text", "\x02\x02<i>kettle\x03")
    html = login_as(make_user("agent")).get("/tickets/?view=all&q=kettle").get_data(True)
    assert "<i>" not in html and html.count("<mark>") == html.count("</mark>") >= 2


def test_console_unknown_field_is_a_form_message(scene, login_as, make_user):
    client = login_as(make_user("agent"))
    resp = client.get("/tickets/?view=all&q=kettle+colour:red+size:xl")
    assert resp.status_code == 422
    assert "Unknown search fields: colour, size" in resp.get_data(as_text=True)


def test_console_best_match_order_and_internal_notes_for_staff(scene, login_as, make_user):
    _, _, t = scene
    client = login_as(make_user("agent"))
    html = client.get("/tickets/?view=all&q=zebracode&sort=relevance").get_data(as_text=True)
    assert "Toaster sparks" in html and "Kettle for Dan" in html
    assert html.index("Kettle for Dan") < html.index("Toaster sparks")  # description first
    assert "supplier defect <mark>zebracode</mark>" in html
    assert '<option selected value="relevance">' in html or 'value="relevance" selected' in html


def test_api_q_sort_and_unknown_fields(scene, token_for, client, make_user):
    _, dan, t = scene
    token = token_for(make_user("agent"))
    auth = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/tickets?q=kettle status:open&sort=relevance", headers=auth).json
    assert {row["id"] for row in body["items"]} == {t["kettle"].id, t["dan"].id, t["xss"].id}
    resp = client.get("/api/v1/tickets?q=kettle colour:red", headers=auth)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "Unknown search field: colour" in resp.get_data(as_text=True)
    mine = client.get("/api/v1/tickets?q=zebracode",
                      headers={"Authorization": f"Bearer {token_for(dan)}"}).json
    assert [row["id"] for row in mine["items"]] == [t["dan"].id]


def test_a_deleted_ticket_leaves_the_index(scene, find, make_user):
    _, _, t = scene
    admin = make_user("admin")
    db.session.delete(db.session.get(Ticket, t["kettle"].id))
    db.session.commit()
    assert t["kettle"].id not in find(admin, "kettle")
    assert TicketFilters(q="kettle").q == "kettle"
