"""Public status pages: what the headline says for each mix of monitor states (an outage
wins over maintenance, a down monitor in a window still shows down), and the rules a page's
address, title and monitors must meet when staff save it (the service's refusals, also as
the form's messages)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm import clock
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring.models import MaintenanceWindow, StatusPage
from crm.monitoring.pages.status_pages import save_status_page
from tests.helpers_matrix import visible_text

#: (statuses of the page's monitors, those in a maintenance window, headline)
HEADLINES = [
    (["up", "up"], set(), "All systems operational"),
    (["up", "down"], set(), "Some systems are down"),
    (["up", "up"], {0}, "Maintenance in progress"),
    (["down", "up"], {0}, "Some systems are down"),  # down in a window: still an outage
    (["up", "pending"], set(), "Status being checked"),
    (["paused"], set(), "Status being checked"),
]


def test_the_headline_for_each_mix_of_states(client, make_monitor):
    now = clock.utcnow()
    wrong = []
    for index, (statuses, in_window, headline) in enumerate(HEADLINES):
        monitors = [make_monitor("tcp", host="127.0.0.1", port=1, status=s, paused=s == "paused")
                    for s in statuses]
        page = save_status_page(None, slug=f"mix-{index}", title=f"Mix {index}", description="",
                                monitor_ids=[m.id for m in monitors])
        if in_window:
            window = MaintenanceWindow(title="Work", starts_at=now - timedelta(minutes=5),
                                       ends_at=now + timedelta(hours=1))
            window.monitors = [monitors[i] for i in in_window]
            db.session.add(window)
            db.session.commit()
        text = visible_text(client.get(f"/status/{page.slug}"))
        if headline not in text:
            wrong.append(f"{statuses} (window: {sorted(in_window)}): {text[:120]!r}")
        if in_window:
            db.session.delete(window)
            db.session.commit()
    assert not wrong, "\n".join(wrong)


def test_saving_a_page_refuses_bad_addresses_titles_and_monitors(app, make_monitor):
    monitor = make_monitor("tcp", host="127.0.0.1", port=1)
    taken = save_status_page(None, slug="Shop", title=" Shop status ", description="",
                             monitor_ids=[monitor.id])
    assert (taken.slug, taken.title) == ("shop", "Shop status")
    for kwargs, field, words in [
        ({"slug": "a"}, "slug", "2-64 lower-case letters"),
        ({"slug": "-shop"}, "slug", "2-64 lower-case letters"),
        ({"slug": "shop page"}, "slug", "2-64 lower-case letters"),
        ({"slug": "shop"}, "slug", "/status/shop is already used by another page"),
        ({"title": "   "}, "title", "Give the page a title"),
        ({"monitor_ids": [monitor.id, 999_999]}, "monitors", "Choose monitors from the list"),
    ]:
        values = {"slug": "api", "title": "API", "description": "", "monitor_ids": [monitor.id],
                  **kwargs}
        with pytest.raises(ServiceError) as refusal:
            save_status_page(None, **values)
        assert (refusal.value.status, refusal.value.field) == (422, field), kwargs
        assert words in refusal.value.message, kwargs
    # a page keeps its own address when saved again
    again = save_status_page(taken, slug="shop", title="Shop", description="New",
                             monitor_ids=[])
    assert again.id == taken.id and again.monitors == []
    assert db.session.scalar(db.select(db.func.count(StatusPage.id))) == 1


def test_the_form_shows_the_services_refusal_on_its_field(app, login_as, make_monitor):
    monitor = make_monitor("tcp", host="127.0.0.1", port=1)
    save_status_page(None, slug="shop", title="Shop", description="", monitor_ids=[monitor.id])
    engineer = login_as("engineer")
    resp = engineer.post("/monitors/status-pages/new", data={
        "slug": "shop", "title": "Second shop", "description": "", "monitors": [monitor.id]})
    assert resp.status_code == 422
    assert "/status/shop is already used by another page" in visible_text(resp)
    assert db.session.scalar(db.select(db.func.count(StatusPage.id))) == 1
