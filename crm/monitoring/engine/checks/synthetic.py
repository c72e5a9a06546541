"""Synthetic (multi-step API) check: the steps run in order through the shared HTTP client;
values extracted from one step's response are available to later steps as ``{{var}}`` in the
URL, headers and body. The first failing step stops the scenario; the error names the step
and the assertion.

A step: ``{name, method, url, headers, body, assertions: [...], extract: {var: source}}``.

Assertions (``type`` plus its fields):

* ``{"type": "status", "expected": "200-299"}`` (a step with no status assertion expects 200-299)
* ``{"type": "header", "name": "Content-Type", "expected": "json"}`` (value contains; no
  ``expected``: the header must exist)
* ``{"type": "body_contains", "expected": "text"}``
* ``{"type": "json_path", "path": "data.items[0].status", "expected": "ok"}`` (no
  ``expected``: the path must exist)
* ``{"type": "response_time", "max_ms": 500}``

Extraction sources: a JSON path of the response body (``data.token``), or
``header:<Name>`` for a response header.
"""
from __future__ import annotations

import json
import re

import httpx

from crm.monitoring.engine.checks.base import (
    CheckContext,
    CheckOutcome,
    Target,
    describe_exception,
    down,
    json_equals,
    json_path_get,
    status_matches,
    up,
)
from crm.monitoring.engine.checks.http import send
from crm.net.redact import echo

_VAR = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")


def substitute(value, variables: dict):
    """Replace ``{{var}}`` in strings (recursively in dicts/lists); unknown names stay as is."""
    if isinstance(value, str):
        return _VAR.sub(
            lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0), value
        )
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def _expected(assertion: dict):
    for key in ("expected", "contains", "text", "value"):
        if assertion.get(key) is not None:
            return assertion[key]
    return None


def evaluate(assertion: dict, response: httpx.Response, elapsed_ms: float) -> dict:
    """Evaluate one assertion on a response.

    :returns: ``{description, ok, detail}``; a ``detail`` quoting the response (a header's or
        JSON member's value) is cut to 64 characters and masked when its name looks secret
        (:func:`crm.net.redact.echo`). Steps are shown only in a manual run, to
        ``monitor.manage``; the check's ``error`` never carries a detail.
    """
    kind = assertion.get("type", "status")
    expected = _expected(assertion)
    if kind == "status":
        spec = str(expected or "200-299")
        ok = status_matches(response.status_code, spec)
        return {
            "description": f"status in {spec}",
            "ok": ok,
            "detail": f"got {response.status_code}",
        }
    if kind == "header":
        name = assertion.get("name", "")
        actual = response.headers.get(name)
        ok = actual is not None and (expected is None or str(expected) in actual)
        description = f"header {name}" + (
            f" contains {expected!r}" if expected is not None else " present"
        )
        return {
            "description": description,
            "ok": ok,
            "detail": "absent" if actual is None else f"got {echo(actual, name)}",
        }
    if kind == "body_contains":
        ok = str(expected) in response.text
        return {
            "description": f"body contains {expected!r}",
            "ok": ok,
            "detail": "found" if ok else "not found",
        }
    if kind == "json_path":
        path = assertion.get("path", "")
        description = (
            f"JSON {path} equals {expected!r}" if expected is not None else f"JSON {path} exists"
        )
        try:
            actual = json_path_get(response.json(), path)
        except (ValueError, KeyError) as exc:
            return {"description": description, "ok": False, "detail": str(exc)}
        ok = expected is None or json_equals(actual, expected)
        return {"description": description, "ok": ok, "detail": f"got {echo(actual, path)}"}
    if kind == "response_time":
        limit = float(assertion.get("max_ms") or expected or 0)
        return {
            "description": f"response time ≤ {limit:g} ms",
            "ok": elapsed_ms <= limit,
            "detail": f"took {elapsed_ms:.0f} ms",
        }
    return {"description": f"unknown assertion {kind!r}", "ok": False, "detail": ""}


def extract(source: str, response: httpx.Response):
    """Read a variable from a response: ``header:<Name>`` or a JSON path of the body.

    :raises KeyError | ValueError: not found / not JSON.
    """
    if source.lower().startswith("header:"):
        name = source.split(":", 1)[1].strip()
        if name not in response.headers:
            raise KeyError(f"no header {name}")
        return response.headers[name]
    return json_path_get(response.json(), source)


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Run the scenario of ``target`` (``config.steps``); each request is bounded by the
    monitor's timeout."""
    variables: dict = dict(target.config.get("variables") or {})
    steps_out: list[dict] = []
    total_ms = 0.0
    last_code = None
    for number, step in enumerate(target.config.get("steps") or [], start=1):
        name = step.get("name") or f"step {number}"
        body = step.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        try:
            response, elapsed = await send(
                ctx,
                method=step.get("method") or "GET",
                url=substitute(step["url"], variables),
                headers=substitute(step.get("headers") or {}, variables),
                body=substitute(body, variables) if body else None,
                timeout=target.timeout,
                follow_redirects=bool(step.get("follow_redirects", True)),
                verify=bool(step.get("verify_tls", True)),
            )
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            reason = describe_exception(exc)
            steps_out.append(
                {
                    "name": name,
                    "ok": False,
                    "status_code": None,
                    "response_time_ms": None,
                    "assertions": [
                        {"description": "request answered", "ok": False, "detail": reason}
                    ],
                }
            )
            return down(
                "synthetic",
                f"step {name!r}: request failed: {reason}",
                steps=steps_out,
                status_code=last_code,
                response_time_ms=None,
            )
        total_ms += elapsed
        last_code = response.status_code
        assertions = list(step.get("assertions") or [])
        if not any(a.get("type", "status") == "status" for a in assertions):
            assertions.insert(0, {"type": "status", "expected": "200-299"})
        results = [evaluate(a, response, elapsed) for a in assertions]
        for var, source in (step.get("extract") or {}).items():
            try:
                variables[var] = extract(source, response)
            except (KeyError, ValueError) as exc:
                results.append(
                    {"description": f"extract {var} from {source}", "ok": False, "detail": str(exc)}
                )
        ok = all(r["ok"] for r in results)
        steps_out.append(
            {
                "name": name,
                "ok": ok,
                "status_code": response.status_code,
                "response_time_ms": round(elapsed, 3),
                "assertions": results,
            }
        )
        if not ok:
            failed = next(r for r in results if not r["ok"])
            # no detail in the error: it may quote the response (see evaluate)
            return down(
                "synthetic",
                f"step {name!r}: assertion {failed['description']} failed",
                steps=steps_out,
                status_code=response.status_code,
                response_time_ms=round(total_ms, 3),
            )
    return up(
        "synthetic", steps=steps_out, status_code=last_code, response_time_ms=round(total_ms, 3)
    )
