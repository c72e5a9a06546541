"""The staff ticket console's own handling around the services: the list's view and
requester refusals, the live part's poll, bad action forms, the comment tabs, and the
select lists the ticket page offers. Personas come from ``login_as``."""
from __future__ import annotations

from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Comment, Ticket
from tests.helpers_matrix import fast_passwords, visible_text  # noqa: F401  (fixture)
from tests.tickets.conftest import HTMX_BOOSTED, HTMX_PARTIAL


def test_list_views_and_requester_refusals(fast_passwords, login_as, customer):  # noqa: F811
    engineer = login_as("engineer")
    own = services.create_ticket(customer, "Printer on fire", "Smoke")
    other_engineer = login_as("engineer")
    theirs = services.create_ticket(customer, "Scanner jammed", "Paper")
    assert theirs.assignee_id == other_engineer.user.id and own.assignee_id == engineer.user.id

    # an engineer's default view, also for an unknown one, is the own queue
    for query in ("", "?view=everything"):
        page = visible_text(engineer.get(f"/tickets/{query}"))
        assert "Printer on fire" in page and "Scanner jammed" not in page
    assert "Scanner jammed" in visible_text(engineer.get("/tickets/?view=all"))

    agent = login_as("agent")
    for requester, words in [("x" * 255, "at most 254 characters"),
                             ("Nobody Atall", "No customer is called or has the email")]:
        resp = agent.get("/tickets/", query_string={"view": "all", "requester": requester})
        assert resp.status_code == 422 and words in visible_text(resp)
    resp = agent.get("/tickets/", query_string={"view": "all", "requester": customer.email})
    assert resp.status_code == 200 and "Scanner jammed" in visible_text(resp)
    assert agent.get("/tickets/requesters?requester=c").get_data(as_text=True).strip() == ""


def test_the_live_part_polls_and_bad_forms_are_refused_on_the_page(
        fast_passwords, login_as, customer):  # noqa: F811
    engineer = login_as("engineer")
    ticket = services.create_ticket(customer, "Printer on fire", "Smoke")
    since = ticket.updated_at.isoformat()
    poll = engineer.get(f"/tickets/{ticket.id}", query_string={"since": since},
                        headers=HTMX_PARTIAL)
    assert poll.status_code == 204 and poll.get_data() == b""
    stale = engineer.get(f"/tickets/{ticket.id}?since=2000-01-01T00:00:00", headers=HTMX_PARTIAL)
    assert stale.status_code == 200 and 'id="ticket-live"' in stale.get_data(as_text=True)
    assert "<html" not in stale.get_data(as_text=True)

    for path, data, words in [("status", {"status": "escalated"}, "Choose a valid status."),
                              ("priority", {"priority": "asap"}, "Choose a valid priority."),
                              ("comments", {"reply-body": ""}, "Write a reply first")]:
        resp = engineer.post(f"/tickets/{ticket.id}/{path}", data=data)
        assert resp.status_code == 422, path
        assert words in visible_text(resp), path
        assert resp.headers.get("HX-Replace-Url") is None  # only htmx requests get it
    boosted = engineer.post(f"/tickets/{ticket.id}/status", data={"status": "pending"},
                            headers=HTMX_BOOSTED)
    assert boosted.status_code == 422
    assert boosted.headers["HX-Replace-Url"] == f"/tickets/{ticket.id}"
    assert "cannot become pending" in visible_text(boosted)  # the page, with the refusal
    partial = engineer.post(f"/tickets/{ticket.id}/status", data={"status": "pending"},
                            headers=HTMX_PARTIAL)
    assert partial.status_code == 422 and 'id="ticket-live"' in partial.get_data(as_text=True)
    assert "<html" not in partial.get_data(as_text=True)  # the live part alone
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "open"


def test_comment_tabs_note_reply_and_resolve(fast_passwords, login_as, customer):  # noqa: F811
    engineer = login_as("engineer")
    ticket = services.create_ticket(customer, "Printer on fire", "Smoke")
    assert engineer.post(f"/tickets/{ticket.id}/comments",
                         data={"note-body": "Fuser is cooked"}).status_code == 302
    assert engineer.post(f"/tickets/{ticket.id}/comments",
                         data={"body": "Legacy form note", "internal": "y"}).status_code == 302
    resp = engineer.post(f"/tickets/{ticket.id}/comments",
                         data={"reply-body": "New fuser fitted", "resolve": "1"})
    assert resp.status_code == 302
    assert "resolved" in visible_text(engineer.get(resp.headers["Location"]))
    comments = db.session.execute(db.select(Comment.body, Comment.public)
                                  .where(Comment.ticket_id == ticket.id).order_by(Comment.id)).all()
    assert [tuple(c) for c in comments] == [("Fuser is cooked", False), ("Legacy form note", False),
                                            ("New fuser fitted", True)]
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "resolved"
    portal = login_as(customer)
    page = visible_text(portal.get(f"/portal/tickets/{ticket.id}"))
    assert "New fuser fitted" in page and "Fuser is cooked" not in page


def test_the_ticket_page_offers_the_next_statuses_and_names_an_unapproved_assignee(
        fast_passwords, login_as, make_user, customer):  # noqa: F811
    engineer = make_user("engineer", name="Erin Gone")
    ticket = services.create_ticket(customer, "Printer on fire", "Smoke")
    services.change_status(ticket, engineer, "closed")
    engineer.status = "disabled"
    make_user("engineer", name="Frank Fixer")
    db.session.commit()
    page = login_as("manager").get(f"/tickets/{ticket.id}").get_data(as_text=True)
    status_select = page[page.index('name="status"'):].split("</select>")[0]
    assert "Closed (current)" in status_select and ">Open<" in status_select
    assert "Resolved" not in status_select and "Pending" not in status_select
    assignee_select = page[page.index('name="assignee_id"'):].split("</select>")[0]
    assert "Erin Gone (not approved)" in assignee_select and "Frank Fixer" in assignee_select
