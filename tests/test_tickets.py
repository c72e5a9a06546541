"""Ticket rules: workflow, auto-assignment, visibility, history, listing (both backends)."""
from datetime import timedelta

import pytest

from crm import clock
from crm.auth import services as accounts
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Comment, Ticket, TicketChange
from crm.tickets.services import TicketFilters


def new_ticket(
    customer, subject="Printer on fire", description="Smoke everywhere", priority="normal"
):
    return services.create_ticket(customer, subject, description, priority)


# ---------------------------------------------------------------- workflow

# The expected transitions, person by person: tests/tickets/test_transitions.py.


def test_engineer_walks_a_ticket_through_its_life_cycle(make_user):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = new_ticket(customer)
    assert t.status == "open" and t.assignee_id == engineer.id
    services.accept(t, engineer)
    assert t.status == "in_progress"
    services.change_status(t, engineer, "pending")
    services.change_status(t, engineer, "in_progress")
    services.change_status(t, engineer, "resolved")
    assert t.resolved_at is not None
    services.change_status(t, engineer, "closed")
    services.change_status(t, engineer, "open")  # reopen
    assert t.status == "open" and t.resolved_at is None
    fields = [(c.field, c.before, c.after) for c in services.history(t)]
    assert fields[:2] == [("status", None, "open"), ("assignee", None, engineer.name)]
    assert ("status", "open", "in_progress") in fields and ("status", "closed", "open") in fields


def test_invalid_transition_via_service_is_a_409_with_message(make_user):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = new_ticket(customer)
    with pytest.raises(ServiceError) as exc:
        services.change_status(t, engineer, "pending")
    assert exc.value.status == 409 and "cannot become pending" in exc.value.message


def test_only_the_assignee_engineer_can_accept_or_change(make_user):
    e1, e2, customer = make_user("engineer"), make_user("engineer"), make_user("customer")
    t = new_ticket(customer)
    other = e2 if t.assignee_id == e1.id else e1
    with pytest.raises(NotAllowed):
        services.accept(t, other)
    with pytest.raises(NotAllowed):
        services.change_status(t, other, "resolved")
    agent = make_user("agent")
    services.change_priority(t, agent, "urgent")
    assert t.priority == "urgent"


def test_requester_edits_only_while_open(make_user):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = new_ticket(customer)
    services.edit_content(t, customer, "Printer still on fire", None)
    assert t.subject == "Printer still on fire"
    services.accept(t, engineer)
    with pytest.raises(ServiceError, match="no longer be edited"):
        services.edit_content(t, customer, "Changed", None)
    with pytest.raises(NotAllowed):
        services.edit_content(t, make_user("customer"), "Hijack", None)


@pytest.mark.parametrize(
    "field,kwargs",
    [
        ("subject", {"subject": "", "description": "x"}),
        ("subject", {"subject": "s" * 201, "description": "x"}),
        ("description", {"subject": "s", "description": " "}),
        ("priority", {"subject": "s", "description": "x", "priority": "galactic"}),
    ],
)
def test_create_ticket_validates_fields(make_user, field, kwargs):
    with pytest.raises(ServiceError) as exc:
        services.create_ticket(make_user("customer"), **kwargs)
    assert exc.value.field == field and exc.value.status == 422


# ---------------------------------------------------------------- assignment


def test_assignment_balances_active_load_then_least_recently_assigned(make_user):
    e1, e2, e3 = make_user("engineer"), make_user("engineer"), make_user("engineer")
    customer = make_user("customer")
    assignees = [new_ticket(customer).assignee_id for _ in range(6)]
    assert sorted(assignees) == sorted([e1.id, e2.id, e3.id] * 2)
    # Never-assigned engineers first, then least recently assigned: the first round is e1,e2,e3.
    assert assignees[:3] == [e1.id, e2.id, e3.id]


def test_resolved_tickets_do_not_count_towards_load(make_user):
    e1, customer = make_user("engineer"), make_user("customer")
    first = new_ticket(customer)
    services.change_status(first, e1, "resolved")
    e2 = make_user("engineer")
    # e1 has 0 active tickets now, e2 also 0; e2 was never assigned so e2 wins the tie.
    assert new_ticket(customer).assignee_id == e2.id
    assert new_ticket(customer).assignee_id == e1.id


def test_pending_disabled_and_non_engineer_staff_get_no_tickets(make_user):
    make_user("engineer", status="pending")
    make_user("engineer", status="disabled")
    make_user("agent")
    make_user("manager")
    t = new_ticket(make_user("customer"))
    assert t.assignee_id is None


def test_waiting_tickets_are_assigned_when_an_engineer_is_approved(make_user):
    admin = make_user("admin")
    customer = make_user("customer")
    waiting = [new_ticket(customer).id for _ in range(3)]
    applicant = make_user("engineer", status="pending")
    accounts.decide_registration(applicant, admin, approve=True)
    assert {db.session.get(Ticket, i).assignee_id for i in waiting} == {applicant.id}


def test_reassign_by_manager_records_history(make_user):
    e1, e2, manager = make_user("engineer"), make_user("engineer"), make_user("manager")
    t = new_ticket(make_user("customer"))
    target = e2 if t.assignee_id == e1.id else e1
    services.reassign(t, manager, target.id)
    assert t.assignee_id == target.id
    last = services.history(t)[-1]
    assert (last.field, last.after, last.actor_id) == ("assignee", target.name, manager.id)
    with pytest.raises(NotAllowed):
        services.reassign(t, make_user("agent"), e1.id)
    with pytest.raises(ServiceError):
        services.reassign(t, manager, make_user("customer").id)


# ---------------------------------------------------------------- comments and visibility


def test_customers_never_see_internal_notes(make_user):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = new_ticket(customer)
    services.add_comment(t, engineer, "We are on it", public=True)
    services.add_comment(t, engineer, "Customer's printer is a fire hazard", public=False)
    assert [c.body for c in services.visible_comments(customer, t)] == ["We are on it"]
    assert len(services.visible_comments(engineer, t)) == 2
    with pytest.raises(NotAllowed):
        services.add_comment(t, customer, "sneaky", public=False)


def test_customer_cannot_comment_on_someone_elses_ticket(make_user):
    make_user("engineer")
    t = new_ticket(make_user("customer"))
    with pytest.raises(NotAllowed):
        services.add_comment(t, make_user("customer"), "hello")


def test_history_is_utc_and_names_actor(make_user):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = new_ticket(customer)
    services.change_priority(t, engineer, "high")
    change = db.session.query(TicketChange).filter_by(field="priority").one()
    assert change.actor_id == engineer.id and (change.before, change.after) == ("normal", "high")
    assert change.created_at.utcoffset() == timedelta(0)


# ---------------------------------------------------------------- listing and search


def test_list_scopes_and_keyset_pagination(make_user):
    engineer, c1, c2 = make_user("engineer"), make_user("customer"), make_user("customer")
    ids = []
    for i in range(7):
        clock.set_offset(timedelta(seconds=i))
        ids.append(new_ticket(c1 if i % 2 == 0 else c2, subject=f"Ticket {i}").id)
    clock.set_offset(timedelta(0))
    mine, cursor = services.list_tickets(c1, TicketFilters(), limit=2)
    seen = [t.id for t in mine]
    while cursor:
        page, cursor = services.list_tickets(c1, TicketFilters(), cursor=cursor, limit=2)
        seen += [t.id for t in page]
    assert seen == [i for n, i in enumerate(ids) if n % 2 == 0][::-1]
    everything, _ = services.list_tickets(engineer, TicketFilters(), limit=100)
    assert len(everything) == 7
    assigned, _ = services.list_tickets(engineer, TicketFilters(), scope="assigned")
    assert len(assigned) == 7


def test_filters_by_status_priority_requester_and_dates(make_user):
    engineer, c1, c2 = make_user("engineer"), make_user("customer"), make_user("customer")
    a = new_ticket(c1, priority="urgent")
    b = new_ticket(c2)
    services.accept(b, engineer)
    admin = make_user("admin")
    by = lambda **kw: {t.id for t in services.list_tickets(admin, TicketFilters(**kw))[0]}  # noqa: E731
    assert by(status="in_progress") == {b.id}
    assert by(priority="urgent") == {a.id}
    assert by(requester=c2.id) == {b.id}
    assert by(active=True) == {a.id, b.id}
    assert by(assignee=str(engineer.id)) == {a.id, b.id}
    assert by(created_after=clock.utcnow() + timedelta(days=1)) == set()
    assert by(created_before=clock.utcnow() + timedelta(days=1)) == {a.id, b.id}


# Search (words, phrases, fields, orders, both databases): tests/search/.


def test_comment_rows_exist_for_thread(make_user):
    make_user("engineer")
    customer = make_user("customer")
    t = new_ticket(customer)
    services.add_comment(t, customer, "Any news?")
    assert db.session.query(Comment).filter_by(ticket_id=t.id).count() == 1


def test_update_ticket_is_all_or_nothing(make_user):
    make_user("engineer")
    customer = make_user("customer")
    t = new_ticket(customer, subject="Original")
    with pytest.raises(ServiceError):
        services.update_ticket(
            t, customer, subject="Changed", status="resolved", fields={"subject", "status"}
        )
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).subject == "Original"
    assert db.session.query(TicketChange).filter_by(ticket_id=t.id, field="subject").count() == 0


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "WzEsMl0",
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgMV0",
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgMWU0MDBd",
    ],
)
def test_forged_cursors_are_refused(make_user, cursor):
    with pytest.raises(ServiceError) as exc:
        services.list_tickets(make_user("admin"), TicketFilters(), cursor=cursor)
    assert exc.value.field == "cursor"


def test_accept_and_reassign_are_saved(make_user):
    e1, e2 = make_user("engineer"), make_user("engineer")
    t = new_ticket(make_user("customer"))
    assignee = e1 if t.assignee_id == e1.id else e2
    other = e2 if assignee is e1 else e1
    services.accept(t, assignee)
    db.session.rollback()  # anything not committed by the service is gone now
    assert db.session.get(Ticket, t.id).status == "in_progress"
    services.reassign(t, make_user("manager"), other.id)
    db.session.rollback()
    assert db.session.get(Ticket, t.id).assignee_id == other.id
