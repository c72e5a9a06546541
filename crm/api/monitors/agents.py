"""What monitored systems send in: results measured by remote agents (``crm-monitor run``
behind a firewall; ``monitor.manage``) and heartbeat pings from monitored jobs (public: the
token in the URL is the secret). The rules are the engine's
(:func:`crm.monitoring.engine.results.record_agent_result`,
:func:`crm.monitoring.engine.heartbeat.record_ping`).
"""
from __future__ import annotations

from crm.api.common import answer
from crm.api.monitors.schemas import HeartbeatOut, ResultIn, ResultOut
from crm.api.openapi import ApiProblem, api_operation, request_body
from crm.auth.policy import acting_user, public, requires
from crm.monitoring.access import get_monitor_or_404
from crm.monitoring.engine.heartbeat import record_ping
from crm.monitoring.engine.results import record_agent_result

TAG = "Monitors"


@api_operation("POST", "/monitors/{monitor_id}/results", body=ResultIn, response=ResultOut,
               status=201, tag=TAG, summary="Push a check result")
@requires("monitor.manage", api=True)
def push_result(monitor_id: int):
    """Record a result measured by a remote agent (``crm-monitor run`` behind a firewall).
    It goes through the same pipeline as the server's own checks. While an agent reports, the
    server postpones its own checks of the monitor (to two intervals after the result), so
    an agent that stops reporting is noticed by the server checking again. ``checked_at``
    may lie at most 5 minutes ahead (clock skew) and 7 days back."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    data: ResultIn = request_body()
    monitor = record_agent_result(monitor, status=data.status, checked_at=data.checked_at,
                                  response_time_ms=data.response_time_ms,
                                  status_code=data.status_code, error=data.error)
    return answer(ResultOut, {"monitor_id": monitor.id, "status": monitor.status}, 201)


def _ping(token: str):
    """Record a heartbeat ping. :raises ApiProblem: 404 for an unknown token."""
    if record_ping(token) is None:
        raise ApiProblem(404, "No heartbeat monitor has this ping URL.")
    return answer(HeartbeatOut, {"ok": True})


@api_operation("POST", "/heartbeat/{token}", response=HeartbeatOut, tag="Heartbeats",
               text_params=("token",), summary="Ping a heartbeat monitor")
@public
def heartbeat_ping(token: str):
    """Called by the monitored job at least every ``interval`` seconds (no log-in: the token
    in the URL is the secret). A ping to a down monitor is its recovery. 404 for an unknown
    token."""
    return _ping(token)


@api_operation("GET", "/heartbeat/{token}", response=HeartbeatOut, tag="Heartbeats",
               text_params=("token",), summary="Ping a heartbeat monitor (GET)")
@public
def heartbeat_ping_get(token: str):
    """The same ping for clients that can only send GET (``curl -fsS <ping_url>``, cron)."""
    return _ping(token)
