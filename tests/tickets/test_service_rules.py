"""Ticket service rules the other modules leave out: list filters' refusals, counting,
the waiting-ticket safety net, reassignment and priority refusals, the requester's edits,
follow-ups and the requester search."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import MultiDict

from crm import clock
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.tickets import jobs, services
from crm.tickets.filters import filters_from_args, parse_when
from crm.tickets.models import Ticket, TicketChange
from crm.tickets.services import TicketFilters


def _changes(ticket: Ticket) -> list[tuple]:
    return [(c.field, c.before, c.after) for c in services.history(ticket)]


# ---------------------------------------------------------------- list filters

#: (request args, the field named, words of the refusal)
BAD_FILTERS = [
    ({"status": "stuck"}, "status", "Status must be one of"),
    ({"priority": "whenever"}, "priority", "Priority must be one of"),
    ({"assignee": "bob"}, "assignee", "a user id, 'me' or 'none'"),
    ({"assignee": "1" * 13}, "assignee", "a user id, 'me' or 'none'"),
    ({"requester": "carla"}, "requester", "Requester must be a user id"),
    ({"created_after": "yesterday"}, "created_after", "YYYY-MM-DD"),
    ({"created_before": "2025-13-01"}, "created_before", "YYYY-MM-DD"),
    ({"created_after": "2025-02-02", "created_before": "2025-02-01"}, "created_before",
     "The end date is before the start date"),
    ({"q": "x" * 201}, "q", "At most 200 characters"),
    ({"active": "maybe"}, "active", "Active must be true or false"),
]


@pytest.mark.only_backend("sqlite")  # no database
def test_bad_filters_are_refused_naming_the_field():
    for args, field, words in BAD_FILTERS:
        with pytest.raises(ServiceError) as refusal:
            filters_from_args(MultiDict(args))
        assert (refusal.value.status, refusal.value.field) == (422, field), args
        assert words in refusal.value.message, args


@pytest.mark.only_backend("sqlite")
def test_filters_parse_every_accepted_form():
    f = filters_from_args(MultiDict({
        "status": "open", "priority": "high", "assignee": "me", "requester": "42",
        "created_after": "2025-02-01", "created_before": "2025-02-03", "q": "  printer ",
        "active": "true"}))
    assert (f.status, f.priority, f.assignee, f.requester, f.q, f.active) == \
        ("open", "high", "me", 42, "printer", True)
    assert f.created_after == datetime(2025, 2, 1, tzinfo=UTC)
    assert f.created_before == datetime(2025, 2, 4, tzinfo=UTC)  # the whole last day
    assert filters_from_args(MultiDict({"status": " ", "assignee": ""})) == TicketFilters()


@pytest.mark.only_backend("sqlite")
def test_date_times_are_read_as_utc():
    for value, expected in [
        ("2025-02-01T10:30:00Z", datetime(2025, 2, 1, 10, 30, tzinfo=UTC)),
        ("2025-02-01T12:30:00+02:00", datetime(2025, 2, 1, 10, 30, tzinfo=UTC)),
        ("2025-02-01T10:30", datetime(2025, 2, 1, 10, 30, tzinfo=UTC)),  # naive: UTC
        ("2025-02-01", datetime(2025, 2, 1, tzinfo=UTC)),
    ]:
        assert parse_when(value, "created_after") == expected, value
    assert parse_when("2025-02-01", "created_before", end_of_day=True) == \
        datetime(2025, 2, 2, tzinfo=UTC)


# ---------------------------------------------------------------- counting and listing

def test_count_follows_the_filters_and_the_customers_own_scope(make_user):
    engineer, carla, dan = make_user("engineer"), make_user("customer"), make_user("customer")
    for n in range(3):
        services.create_ticket(carla, f"Carla's issue {n}", "Details", "high" if n else "low")
    services.create_ticket(dan, "Dan's issue", "Details")
    agent = make_user("agent")
    assert services.count_tickets(agent, TicketFilters()) == 4
    assert services.count_tickets(agent, TicketFilters(priority="high")) == 2
    assert services.count_tickets(carla, TicketFilters()) == 3
    assert services.count_tickets(dan, TicketFilters(priority="high")) == 0
    assert services.count_tickets(engineer, TicketFilters(assignee="me")) == 4
    assert services.count_tickets(agent, TicketFilters(assignee="none")) == 0


def test_filters_by_assignee_id_and_active_status(make_user):
    first, carla = make_user("engineer"), make_user("customer")
    mine = services.create_ticket(carla, "First", "x")
    second = make_user("engineer")
    theirs = services.create_ticket(carla, "Second", "x")
    assert theirs.assignee_id == second.id
    services.change_status(mine, first, "closed")
    agent = make_user("agent")
    rows, _ = services.list_tickets(agent, TicketFilters(assignee=str(first.id)))
    assert [t.id for t in rows] == [mine.id]
    rows, _ = services.list_tickets(agent, TicketFilters(active=True))
    assert [t.id for t in rows] == [theirs.id]
    rows, _ = services.list_tickets(first, TicketFilters(), scope="assigned")
    assert [t.id for t in rows] == [mine.id]


def test_unknown_sort_is_refused(make_user):
    with pytest.raises(ServiceError, match="Sort must be one of") as refusal:
        services.list_tickets(make_user("agent"), TicketFilters(), sort="-colour")
    assert refusal.value.field == "sort"


def test_a_time_cursor_is_refused_by_a_ranked_sort_and_the_reverse(make_user):
    carla, agent = make_user("customer"), make_user("agent")
    make_user("engineer")
    tickets = [services.create_ticket(carla, f"Issue {n}", "x") for n in range(3)]
    _, by_time = services.list_tickets(agent, TicketFilters(), limit=1)
    _, by_rank = services.list_tickets(agent, TicketFilters(), limit=1, sort="priority")
    assert by_time and by_rank and len(tickets) == 3
    with pytest.raises(ServiceError, match="Invalid cursor"):
        services.list_tickets(agent, TicketFilters(), cursor=by_time, sort="priority")
    with pytest.raises(ServiceError, match="Invalid cursor"):
        services.list_tickets(agent, TicketFilters(), cursor=by_rank)


# ---------------------------------------------------------------- waiting tickets

def test_the_safety_net_job_assigns_waiting_tickets_oldest_first(make_user):
    carla = make_user("customer")
    waiting = [services.create_ticket(carla, f"Waiting {n}", "x") for n in range(3)]
    assert all(t.assignee_id is None for t in waiting)
    assert jobs.assign_waiting() == 0  # nobody to give them to: they keep waiting
    engineer = make_user("engineer")
    assert jobs.assign_waiting() == 3
    db.session.expire_all()
    assert {db.session.get(Ticket, t.id).assignee_id for t in waiting} == {engineer.id}
    assert jobs.assign_waiting() == 0


def test_auto_assign_leaves_assigned_and_finished_tickets_alone(make_user):
    first, carla = make_user("engineer"), make_user("customer")
    assigned = services.create_ticket(carla, "Assigned", "x")
    assert services.auto_assign(assigned.id) is None
    assert services.auto_assign(999_999) is None
    make_user("engineer")
    done = Ticket(subject="Done", description="x", priority="normal", status="closed",
                  requester_id=carla.id, created_at=clock.utcnow(), updated_at=clock.utcnow())
    db.session.add(done)
    db.session.commit()
    assert services.auto_assign(done.id) is None
    db.session.expire_all()
    assert db.session.get(Ticket, done.id).assignee_id is None
    assert db.session.get(Ticket, assigned.id).assignee_id == first.id


# ---------------------------------------------------------------- reassignment and priority

def test_reassignment_refusals(make_user):
    engineer, carla, manager = make_user("engineer"), make_user("customer"), make_user("manager")
    ticket = services.create_ticket(carla, "Printer", "x")
    before = _changes(ticket)
    with pytest.raises(ServiceError, match="already assigned to that engineer") as same:
        services.reassign(ticket, manager, engineer.id)
    assert same.value.status == 409
    for target in (carla.id, make_user("agent").id, make_user("engineer", status="pending").id,
                   None, 999_999):
        with pytest.raises(ServiceError, match="Choose an approved engineer") as bad:
            services.reassign(ticket, manager, target)
        assert bad.value.status == 422 and bad.value.field == "assignee_id"
    with pytest.raises(NotAllowed, match="Only managers and admins"):
        services.reassign(ticket, make_user("agent"), engineer.id)
    assert _changes(ticket) == before


def test_priority_refusals_and_history(make_user):
    engineer, carla = make_user("engineer"), make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "x", "normal")
    with pytest.raises(ServiceError, match="already normal") as same:
        services.change_priority(ticket, engineer, "normal")
    assert same.value.status == 409
    with pytest.raises(ServiceError, match="Priority must be one of") as bad:
        services.change_priority(ticket, engineer, "asap")
    assert bad.value.status == 422
    services.change_priority(ticket, engineer, "urgent")
    assert _changes(ticket)[-1] == ("priority", "normal", "urgent")


# ---------------------------------------------------------------- the requester's edits

def test_requester_edits_one_field_at_a_time_and_history_keeps_no_text(make_user):
    make_user("engineer")
    carla = make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "It smokes")
    services.edit_content(ticket, carla, None, "It smokes and beeps")
    services.edit_content(ticket, carla, "Printer", None)  # unchanged subject: nothing recorded
    assert (ticket.subject, ticket.description) == ("Printer", "It smokes and beeps")
    assert _changes(ticket)[-1] == ("description", "(previous text)", "(edited)")
    services.edit_content(ticket, carla, "  Printer on fire  ", None)
    assert ticket.subject == "Printer on fire"
    assert _changes(ticket)[-1] == ("subject", "Printer", "Printer on fire")


def test_requester_edit_refusals_save_nothing(make_user):
    make_user("engineer")
    carla = make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "It smokes")
    for subject, description, field, words in [
        ("", None, "subject", "This field is required"),
        ("x" * 201, None, "subject", "At most 200 characters"),
        (None, "bad\x00byte", "description", "NUL"),
        ("Fine subject", "   ", "description", "This field is required"),
    ]:
        with pytest.raises(ServiceError) as refusal:
            services.edit_content(ticket, carla, subject, description)
        assert (refusal.value.status, refusal.value.field) == (422, field)
        assert words in refusal.value.message
        db.session.expire_all()
        saved = db.session.get(Ticket, ticket.id)
        assert (saved.subject, saved.description) == ("Printer", "It smokes")


def test_only_the_requester_edits_the_text(make_user):
    engineer, carla = make_user("engineer"), make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "It smokes")
    for actor in (engineer, make_user("admin"), make_user("customer")):
        with pytest.raises(NotAllowed, match="Only the requester"):
            services.edit_content(ticket, actor, "Mine now", None)
    assert not services.can_edit_content(engineer, ticket)
    assert services.can_edit_content(carla, ticket)


# ---------------------------------------------------------------- comments

def test_internal_notes_are_for_staff_only(make_user):
    engineer, carla = make_user("engineer"), make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "x")
    with pytest.raises(NotAllowed, match="Only staff can write internal notes"):
        services.add_comment(ticket, carla, "psst", public=False)
    services.add_comment(ticket, engineer, "Known fault", public=False)
    services.add_comment(ticket, engineer, "We are on it")
    assert [c.body for c in services.visible_comments(carla, ticket)] == ["We are on it"]
    assert len(services.visible_comments(make_user("agent"), ticket)) == 2


def test_reply_and_resolve_refused_by_the_workflow_saves_no_comment(make_user):
    engineer, carla = make_user("engineer"), make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "x")
    services.change_status(ticket, engineer, "closed")
    with pytest.raises(ServiceError, match="cannot become resolved"):
        services.reply_and_resolve(ticket, engineer, "Fixed it")
    with pytest.raises(NotAllowed):
        services.reply_and_resolve(ticket, make_user("engineer"), "Fixed it")
    assert services.visible_comments(engineer, ticket) == []


# ---------------------------------------------------------------- follow-ups

def test_follow_up_chain(make_user):
    engineer, carla = make_user("engineer"), make_user("customer")
    first = services.create_ticket(carla, "Printer", "x")
    assert services.follow_up_source(carla, first.id) is None  # still open
    assert services.follow_up_source(carla, None) is None
    services.change_status(first, engineer, "closed")
    assert services.follow_up_source(carla, first.id) == first
    assert services.follow_up_source(make_user("customer"), first.id) is None
    second = services.create_follow_up(carla, first.id, "Printer again", "Smoke is back")
    assert services.follow_up_parent(second) == first
    assert services.follow_up_parent(first) is None
    assert services.follow_ups(first) == [second]
    with pytest.raises(ServiceError, match="one of your closed tickets") as refusal:
        services.create_follow_up(carla, second.id, "Third", "x")
    assert refusal.value.field == "follow_up_of"


# ---------------------------------------------------------------- the requester search

def test_requester_search_by_name_or_email_with_wildcards_taken_literally(make_user):
    ann = make_user("customer", name="Ann 100% Smith", email="ann@example.com")
    make_user("customer", name="Annabel Lee", email="annabel@example.org")
    make_user("customer", name="Bob_Jones", email="bob@example.com")
    make_user("engineer", name="Ann Engineer")
    assert [u.name for u in services.find_requesters("ann")] == ["Ann 100% Smith", "Annabel Lee"]
    assert services.find_requesters("100%") == [ann]
    assert [u.name for u in services.find_requesters("b_j")] == ["Bob_Jones"]
    assert services.find_requesters("b%j") == []
    assert services.find_requesters("ANN@EXAMPLE.COM", exact=True) == [ann]
    assert services.find_requesters("ann", exact=True) == []
    assert services.find_requesters("   ") == []
    assert len(services.find_requesters("example", limit=2)) == 2


def test_history_entries_are_utc_and_ordered(make_user):
    engineer, carla = make_user("engineer"), make_user("customer")
    ticket = services.create_ticket(carla, "Printer", "x")
    clock.set_offset(timedelta(minutes=5))
    services.accept(ticket, engineer)
    entries = services.history(ticket)
    assert [e.field for e in entries] == ["status", "assignee", "status"]
    assert all(e.created_at.tzinfo is not None for e in entries)
    assert entries[-1].created_at - entries[0].created_at >= timedelta(minutes=5)
    assert db.session.scalar(db.select(db.func.count(TicketChange.id))) == 3
