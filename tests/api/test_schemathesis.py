"""Property-based run of schemathesis over the whole API (``/api/v1/openapi.json``), as an
admin and as a customer, against the app in-process (WSGI).

* Schema-valid requests (positive mode) go through schemathesis' default checks: no 5xx,
  status codes, content types, headers and bodies as documented; and they must be accepted
  (:func:`accepted`, schemathesis' ``positive_data_acceptance`` with the few refusals no
  JSON Schema can express: an unknown cursor, reset token or SMS code, a date that does not
  exist such as 2026-02-30, a start date after the end date).
* Schema-invalid requests (negative mode) must never cause a 5xx.
* Every method a path does not document answers 405 with an ``Allow`` header naming the
  documented ones.

Bounded for CI: :data:`MAX_EXAMPLES` examples per operation, mode and role, derandomised (the
same examples every run, so a failure reproduces and the test cannot flake). Every operation
is run even when one fails; the assertion lists each failing one with schemathesis' report,
which includes the request to reproduce it.
"""
from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

#: examples generated per operation, generation mode and role.
MAX_EXAMPLES = 10
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: 4xx answers to schema-valid input that are not client mistakes the schema could state
#: (410: a reset code or link that expired or was used up).
ACCEPTABLE_REFUSALS = {401, 403, 404, 409, 410, 429}
#: 422 members whose values are checked against server state (cursors, tokens, codes) or
#: against numbering plans (libphonenumber), not against a format.
STATEFUL_FIELDS = {"cursor", "token", "code", "phone"}

# ``format: password`` (a new password) must pass the password rules (crm.auth.passwords),
# which no JSON Schema can state: generate a few unrelated words and a number.
WORDS = ["amber", "quartz", "falcon", "meadow", "copper", "lantern", "orbit", "thistle", "velvet",
         "harbor", "juniper", "cobalt", "saffron", "glacier", "walnut", "tundra"]
schemathesis.openapi.format("password", st.builds(
    lambda words, number: "-".join(words) + f"-{number}",
    st.lists(st.sampled_from(WORDS), min_size=3, max_size=4, unique=True), st.integers(10, 9999)))


def _not_a_calendar_date(value: str) -> bool:
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return True
    return False


def _stateful_refusal(case, errors: dict) -> bool:
    """True when every 422 member is a value only the server's state or the calendar can judge."""
    query = case.query or {}
    for field in errors:
        if field in STATEFUL_FIELDS:
            continue
        if field in ("created_after", "created_before"):
            value = str(query.get(field, ""))
            if (
                _not_a_calendar_date(value)
                or "created_after" in query
                and "created_before" in query
            ):
                continue
        return False
    return bool(errors)


def accepted(ctx, response, case):
    """Schema-valid input is accepted: 2xx/3xx, or a refusal the schema cannot foresee."""
    status = response.status_code
    if status < 400 or status in ACCEPTABLE_REFUSALS:
        return True
    if status == 422:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if isinstance(body, dict) and _stateful_refusal(case, body.get("errors") or {}):
            return True
    raise AssertionError(f"Schema-valid request refused with {status}: {response.text[:500]}")


def _run(operation, mode, headers: dict[str, str]) -> None:
    """Generate and send :data:`MAX_EXAMPLES` cases of ``operation`` in ``mode``; raises the
    failures schemathesis/hypothesis found."""
    positive = mode == schemathesis.GenerationMode.POSITIVE

    @SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if positive:
            case.call_and_validate(
                headers=headers,
                additional_checks=[accepted],
                excluded_checks=[positive_data_acceptance, negative_data_rejection],
            )
        else:  # invalid input: only "no 5xx" applies
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"

    run()


def failures_of(app, headers: dict[str, str]) -> list[str]:
    """Run every operation of the app's OpenAPI document in both generation modes.

    :returns: one report per failing operation and mode.
    """
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _run(operation, mode, headers)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every report
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


def missing_allow(app, headers: dict[str, str]) -> list[str]:
    """Every undocumented method on every path must be a 405 whose ``Allow`` names the
    documented methods. :returns: one line per path that breaks the rule."""
    client = app.test_client()
    document = client.get("/api/v1/openapi.json").json
    problems = []
    for path, operations in document["paths"].items():
        concrete = path.replace("{", "").replace("}", "")
        for name in [p for p in path.split("/") if p.startswith("{")]:
            concrete = concrete.replace(name.strip("{}"), "1")
        documented = {m.upper() for m in operations}
        for method in set(METHODS) - documented:
            resp = client.open(concrete, method=method, headers=headers)
            allow = {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
            if resp.status_code != 405 or not documented <= allow:
                problems.append(f"{method} {concrete}: {resp.status_code}, Allow={sorted(allow)}")
    return problems


@pytest.mark.parametrize("role", ["admin", "customer"])
def test_the_api_conforms_to_its_openapi_document(app, make_user, token_for, role):
    headers = {"Authorization": f"Bearer {token_for(make_user(role))}"}
    problems = missing_allow(app, headers) + failures_of(app, headers)
    assert not problems, f"{len(problems)} problem(s):\n\n" + "\n\n".join(problems)
