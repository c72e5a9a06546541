"""The app gunicorn serves for the benchmark: the real app plus one baseline page.

``gunicorn 'bench.app:create_bench_app()'`` builds the production app with
:func:`crm.create_app` and adds ``/bench/baseline``: the staff ticket list page
(``tickets/index.html`` with the same filter form, layout, login and permission check) fed
25 rows and the engineer list from memory. The only difference from ``/tickets/`` is the
database work, which is what the benchmark compares.
"""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from flask import Flask, request

from crm import create_app
from crm.auth.policy import requires
from crm.htmx import render_page_or_fragment
from crm.tickets.forms import FilterForm

STATUSES = ("open", "in_progress", "pending", "resolved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")


def fake_rows(
    n: int = 25, engineers: int = 50
) -> tuple[list[SimpleNamespace], list[SimpleNamespace]]:
    """(tickets, engineers) shaped like what the real page gets, built in memory."""
    staff = [SimpleNamespace(id=2 + i, name=f"Engineer {i + 1:02d}") for i in range(engineers)]
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    tickets = [
        SimpleNamespace(
            id=1_000_000 - i,
            subject=f"Order {40_000 + i} arrived damaged, refund requested for invoice {i}",
            requester=SimpleNamespace(name=f"Customer {10_000 + i}"),
            assignee=staff[i % len(staff)] if staff else None,
            status=STATUSES[i % len(STATUSES)],
            priority=PRIORITIES[i % len(PRIORITIES)],
            updated_at=now - timedelta(minutes=7 * i),
        )
        for i in range(n)
    ]
    return tickets, staff


def create_bench_app() -> Flask:
    """The production app (:func:`crm.create_app`) plus ``GET /bench/baseline``."""
    app = create_app()
    tickets, staff = fake_rows(25, int(os.environ.get("BENCH_ENGINEERS", "50")))
    next_cursor = "WyIyMDI2LTExLTIyVDEyOjAwOjAwKzAwOjAwIiwgOTk5OTc2XQ"

    @app.route("/bench/baseline")
    @requires("ticket.list_staff")
    def bench_baseline():
        """The ticket list page with rows from memory (no ticket/engineer queries)."""
        form = FilterForm(request.args)
        form.assignee.choices = [("", "Anyone"), ("none", "Unassigned")] + [
            (str(e.id), e.name) for e in staff
        ]
        html = render_page_or_fragment(
            "tickets/index.html",
            "tickets/_ticket_table.html",
            tickets=tickets,
            next_cursor=next_cursor,
            form=form,
            view="all",
            error=None,
            max_q=200,
            sort="-updated",
            marks={},
            count=None,
            count_bound=1000,
            jump=None,
        )
        return html, 200

    return app
