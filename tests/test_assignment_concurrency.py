"""Concurrent ticket creation must not corrupt the assignment balance.

Tickets are raised by parallel HTTP requests against a real threaded server; the assignment
lock (crm.tickets.services._take_lock: a row lock on PostgreSQL, the write lock on SQLite)
serialises the choice, so every engineer ends with the same number of tickets.
"""
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from crm.extensions import db
from crm.tickets.models import Ticket, TicketChange
from tests.conftest import PASSWORD

ENGINEERS = 4
CUSTOMERS = 8
TICKETS_PER_CUSTOMER = 5


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _session_for(base: str, email: str) -> requests.Session:
    s = requests.Session()
    r = s.post(
        f"{base}/auth/login", data={"email": email, "password": PASSWORD}, allow_redirects=False
    )
    assert r.status_code == 302, r.text[:300]
    return s


def test_parallel_ticket_creation_keeps_engineers_balanced(live_server, make_user, app):
    engineer_ids = {make_user("engineer").id for _ in range(ENGINEERS)}
    customers = [make_user("customer") for _ in range(CUSTOMERS)]
    sessions = [_session_for(live_server, c.email) for c in customers]
    start = threading.Barrier(CUSTOMERS)

    def raise_tickets(session: requests.Session) -> list[int]:
        start.wait()
        codes = []
        for i in range(TICKETS_PER_CUSTOMER):
            r = session.post(
                f"{live_server}/portal/tickets/new",
                allow_redirects=False,
                data={"subject": f"Parallel {i}", "description": "race", "priority": "normal"},
            )
            codes.append(r.status_code)
        return codes

    with ThreadPoolExecutor(max_workers=CUSTOMERS) as pool:
        results = list(pool.map(raise_tickets, sessions))
    assert all(code == 302 for codes in results for code in codes), results

    db.session.remove()
    total = CUSTOMERS * TICKETS_PER_CUSTOMER
    per_engineer = Counter(
        dict(
            db.session.execute(
                select(Ticket.assignee_id, func.count(Ticket.id)).group_by(Ticket.assignee_id)
            ).all()
        )
    )
    assert sum(per_engineer.values()) == total
    assert None not in per_engineer
    assert set(per_engineer) == engineer_ids
    assert set(per_engineer.values()) == {total // ENGINEERS}
    # Each ticket was assigned exactly once (one assignee change per ticket).
    assert (
        db.session.scalar(
            select(func.count(TicketChange.id)).where(TicketChange.field == "assignee")
        )
        == total
    )
