"""Customers' own monitors connect under the customer outbound policy, chosen per monitor by
its owner: loopback and private networks are refused at every connection unless
``MONITOR_ALLOWED_NETWORKS`` opens them, while the operators' monitors in the same check batch
keep the staff policy. Real HTTP and TCP peers on 127.0.0.1."""
from __future__ import annotations

import pytest

from crm.monitoring.access import can_view, get_monitor_or_404
from crm.monitoring.engine.checks import Target
from crm.monitoring.engine.runner import run_blocking, run_now, run_targets
from tests.monitoring.peers import Route


@pytest.fixture
def customer(make_user):
    return make_user("customer")


def test_a_customers_monitor_may_not_reach_loopback(app, customer, make_monitor, http_peer):
    http_peer.routes["/ok"] = Route(200, {"ok": True})
    theirs = make_monitor("http", url=http_peer.url("/ok"), owner_id=customer.id)
    ours = make_monitor("http", url=http_peer.url("/ok"))
    outcomes = run_blocking(run_targets([Target.from_monitor(theirs), Target.from_monitor(ours)]))
    assert outcomes[0].status == "down"
    assert "address refused: 127.0.0.1 (loopback" in outcomes[0].error
    assert outcomes[1].status == "up"  # the same batch, an operator's monitor: staff policy
    assert len(http_peer.requests) == 1  # the refused check never connected


def test_allowed_networks_let_a_customers_monitor_reach_the_peer(
    app, monkeypatch, customer, make_monitor, http_peer, tcp_peer
):
    monkeypatch.setitem(app.config, "MONITOR_ALLOWED_NETWORKS", "127.0.0.0/8")
    http_peer.routes["/ok"] = Route(200, {"ok": True})
    assert run_now(make_monitor("http", url=http_peer.url("/ok"), owner_id=customer.id)).status \
        == "up"
    tcp = make_monitor("tcp", host="127.0.0.1", port=tcp_peer.port, owner_id=customer.id)
    assert run_now(tcp).status == "up"


def test_the_apps_own_host_name_is_refused_for_customers(app, monkeypatch, customer,
                                                           make_monitor):
    monkeypatch.setitem(app.config, "PUBLIC_URL", "http://crm.internal.example:5000")
    monkeypatch.setitem(app.config, "MONITOR_ALLOWED_NETWORKS", "127.0.0.0/8")
    outcome = run_now(make_monitor("http", url="http://crm.internal.example:5000/",
                                   owner_id=customer.id))
    assert outcome.status == "down" and "own host name" in outcome.error


def test_owners_see_their_monitor_and_other_customers_get_404(app, make_user, make_monitor):
    from werkzeug.exceptions import NotFound

    owner, other, agent = make_user("customer"), make_user("customer"), make_user("agent")
    monitor = make_monitor("http", url="https://shop.example.org/", owner_id=owner.id)
    assert get_monitor_or_404(monitor.id, owner) is monitor
    assert can_view(agent, monitor)  # staff see every monitor, with its owner
    with pytest.raises(NotFound):
        get_monitor_or_404(monitor.id, other)
    operators = make_monitor("http", url="https://status.example.org/")
    with pytest.raises(NotFound):
        get_monitor_or_404(operators.id, owner)
