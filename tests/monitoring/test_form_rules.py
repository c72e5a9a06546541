"""The console's monitor form off the page: which field a service error lands on, what the
form sends for each type (defaults, the edit form's "empty password keeps the stored one",
synthetic step defaults) and the line a malformed text box is refused at. The pages
themselves are tested in ``test_console.py`` and ``test_console_forms.py``; these tests build
the form in a request context (no database), so they run on one backend."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from crm.monitoring.pages.forms import FormInputError, MonitorForm, error_target

pytestmark = pytest.mark.only_backend("sqlite")

COMMON = {"name": " Edge ", "interval": "60", "timeout": "2.5", "retries": "", "tags": "a, ,b"}


def _form(app, **fields) -> MonitorForm:
    with app.test_request_context(method="POST"):
        form = MonitorForm(formdata=MultiDict({**COMMON, **fields}))
        form.validate()
        return form


def test_service_errors_land_on_their_field(app):
    form = _form(app, type="synthetic", **{"steps-0-url": "https://a.example"})
    step = form.steps.entries[0].form
    assert error_target(form, "url") is form.url
    assert error_target(form, "steps.0.assertions.1.expected") is step.assertions
    assert error_target(form, "steps.0.extract.token") is step.extract
    assert error_target(form, "steps") is step.url  # "step 2 uses {{x}} before …"
    assert error_target(form, "headers.X-Long") is form.headers  # the first part names it
    for nowhere in (None, "", "steps.7.url", "steps.0.bogus", "submit", "csrf_token", "nope"):
        assert error_target(form, nowhere) is None, nowhere


def test_what_the_form_sends_for_each_type(app):
    data = _form(app, type="smtp", host=" mx.example ", port="").to_data()
    assert (data["host"], data["starttls"], "port" in data) == ("mx.example", False, False)
    assert data["retries"] == 1 and data["tags"] == ["a", "b"] and data["name"] == "Edge"
    assert data["timeout"] == 2.5

    ftp = _form(app, type="ftp", host="ftp.example", port="2121", username="bot", password="")
    assert "password" not in ftp.to_data(keep_password=True)  # edit: keep the stored one
    assert ftp.to_data()["password"] is None  # create: no password
    assert _form(app, type="ftp", host="ftp.example", password="s3cret").to_data(
        keep_password=True)["password"] == "s3cret"

    tls = _form(app, type="tls", host="example.com", days_before="").to_data()
    assert tls["days_before"] == 14 and "port" not in tls
    beat = _form(app, type="heartbeat", grace_seconds="").to_data()
    assert beat["grace_seconds"] == 60 and "host" not in beat
    dns = _form(app, type="dns", host="example.com", resolver=" ", record_type="AAAA").to_data()
    assert (dns["resolver"], dns["record_type"], "port" in dns) == (None, "AAAA", False)
    http = _form(app, type="http", url=" https://a.example ", expected_status=" ",
                 headers="Accept: text/html").to_data()
    assert (http["url"], http["expected_status"], http["headers"]) == (
        "https://a.example", "200-299", {"Accept": "text/html"})
    assert http["json_path"] is None and http["body"] is None


def test_synthetic_steps_get_defaults_and_bad_lines_name_their_box(app):
    data = _form(app, type="synthetic", **{
        "steps-0-url": " https://shop.example/login ", "steps-0-method": "",
        "steps-0-extract": "token = json data.token",
        "steps-1-name": "Cart", "steps-1-method": "POST", "steps-1-url": "https://shop.example/c",
        "steps-1-assertions": "status == 201\nbody contains added"}).to_data()
    first, second = data["steps"]
    assert (first["name"], first["method"], first["url"]) == (
        "Step 1", "GET", "https://shop.example/login")
    assert first["extract"] == {"token": "data.token"} and first["assertions"] == []
    assert second["assertions"] == [{"type": "status", "expected": "201"},
                                    {"type": "body_contains", "text": "added"}]
    for box, text, words in [("headers", "Accept text/html", "Line 1: write headers"),
                             ("assertions", "status == 200\nlooks fine", "Line 2: 'looks fine'"),
                             ("extract", "token: data.token", "Line 1: write extractions")]:
        form = _form(app, type="synthetic", **{"steps-0-url": "https://a.example",
                                              "steps-1-url": "https://b.example",
                                              f"steps-1-{box}": text})
        with pytest.raises(FormInputError) as refused:
            form.to_data()
        assert refused.value.field == f"steps-1-{box}" and words in refused.value.message


def test_the_edit_form_is_filled_from_the_stored_definition(app):
    spec = {"name": "Flow", "type": "synthetic", "interval": 120, "timeout": 5, "retries": 2,
            "tags": ["shop", "eu"], "paused": True, "password": "never shown",
            "steps": [{"name": "Log in", "method": "POST", "url": "https://shop.example/login",
                       "headers": {"X-A": "1"}, "body": "{}",
                       "assertions": [{"type": "json_path", "path": "$.ok", "expected": "true"}],
                       "extract": {"token": "$.token"}}]}
    with app.test_request_context():
        form = MonitorForm(formdata=None)
        form.fill_from(spec)
        step = form.steps.entries[0].form
        assert (form.name.data, form.tags.data, form.password.data) == ("Flow", "shop, eu", None)
        assert len(form.steps.entries) == 1 and step.method.data == "POST"
        assert (step.headers.data, step.assertions.data, step.extract.data) == (
            "X-A: 1", 'json $.ok == "true"', "token = json $.token")
