"""Every example phone number the app shows is one it accepts.

The phone form once suggested "+44 7700 900123" (Ofcom's drama range), which the same form then
refused as invalid. These tests collect each example shown — help texts, error messages, the
API description — for several default regions and feed each back through the form that showed
it, expecting it to be accepted.
"""
from __future__ import annotations

import html
import re

import pytest

from crm.notifications.sms import normalise_phone

#: a phone-looking run: optional +, a digit, then digits/spaces/brackets/dashes, ending in a digit
PHONE_LIKE = re.compile(r"\+?\d[\d ()\-]{5,}\d")
HELP = re.compile(r'class="form-text"[^>]*>(.*?)</div>', re.S)
ERROR = re.compile(r'class="invalid-feedback[^"]*"[^>]*>(.*?)</div>', re.S)


def examples_in(page: str, where: re.Pattern = HELP) -> list[str]:
    """Phone-looking strings in the help texts (``HELP``) or field errors (``ERROR``) of a page."""
    found = []
    for block in where.findall(page):
        found += PHONE_LIKE.findall(html.unescape(block))
    return found


@pytest.fixture(params=["GB", "US", "DE", "IN"])
def region(request, app):
    """Run the test with ``PHONE_DEFAULT_REGION`` set to each region, then restore it."""
    saved = app.config["PHONE_DEFAULT_REGION"]
    app.config["PHONE_DEFAULT_REGION"] = request.param
    yield request.param
    app.config["PHONE_DEFAULT_REGION"] = saved


def test_every_example_on_the_phone_page_is_accepted_by_it(client, make_user, login, region):
    login(make_user("customer"))
    shown = examples_in(client.get("/auth/phone").get_data(as_text=True))
    refused = client.post("/auth/phone", data={"phone": "12345"})
    assert refused.status_code == 422
    in_error = examples_in(refused.get_data(as_text=True), ERROR)
    assert len(shown) == 2 and len(in_error) == 1, (
        shown,
        in_error,
    )  # international + national; error
    for example in shown + in_error:
        normalise_phone(example)  # raises ServiceError for an invalid number
        # a fresh user per example: the resend cool-down and "already verified" don't interfere
        client.post("/auth/logout")
        login(make_user("customer"))
        resp = client.post("/auth/phone", data={"phone": example})
        assert resp.status_code == 302, f"{region}: the example {example!r} was refused"


def test_every_example_on_the_sms_reset_page_is_accepted_by_it(client, region):
    shown = examples_in(client.get("/auth/reset/sms").get_data(as_text=True))
    refused = client.post("/auth/reset/sms", data={"identifier": "hello there"})
    assert refused.status_code == 422
    in_error = examples_in(refused.get_data(as_text=True), ERROR)
    assert len(shown) == 1 and len(in_error) == 1, (shown, in_error)
    for example in shown + in_error:
        resp = client.post("/auth/reset/sms", data={"identifier": example})
        assert resp.status_code == 302, f"{region}: the example {example!r} was refused"


def test_every_example_on_a_contact_group_page_is_accepted_by_it(client, make_user, login, region):
    from crm.monitoring import services

    group = services.create_contact_group("On call")
    login(make_user("engineer"))
    shown = examples_in(client.get(f"/monitors/contact-groups/{group.id}").get_data(as_text=True))
    refused = client.post(
        f"/monitors/contact-groups/{group.id}/contacts", data={"kind": "phone", "value": "12345"}
    )
    assert refused.status_code == 422
    in_error = examples_in(refused.get_data(as_text=True), ERROR)
    assert len(shown) == 1 and len(in_error) == 1, (shown, in_error)
    for example in set(shown + in_error):
        resp = client.post(
            f"/monitors/contact-groups/{group.id}/contacts",
            data={"kind": "phone", "value": example},
        )
        assert resp.status_code == 302, f"{region}: the example {example!r} was refused"


def test_the_api_documents_a_phone_example_it_accepts(client):
    spec = client.get("/api/v1/openapi.json").get_data(as_text=True)
    shown = set(PHONE_LIKE.findall(" ".join(re.findall(r"E\.164 such as [^,\"]+", spec))))
    assert shown
    for example in shown:
        assert normalise_phone(example, "GB")
