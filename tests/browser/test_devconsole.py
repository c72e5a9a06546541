"""The developer-console message in a real browser: an admin saves it on the Security page,
and another person's next page load prints the self-XSS warning (styled) and then the
admin's message, as console text.

Context 1 is the admin; context 2 a visitor who is not logged in (a fresh profile, so no
cached ``/security/devconsole.json`` from before the change).
"""
from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, expect

from crm.extensions import db
from crm.security import DEVCONSOLE_SETTING
from crm.settings import get_setting
from tests.browser.conftest import nav_to

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "console-Warning-2026"
#: a message with markup and a console format directive: both must come out as typed text.
MESSAGE = "We are hiring! Send your CV to jobs@example.com <b>not bold</b> %c"


def _logged(msg: ConsoleMessage) -> tuple[str, list]:
    """(type, argument values) of one ``console.*`` call."""
    return msg.type, [arg.json_value() for arg in msg.args]


def test_admin_sets_the_devconsole_message_and_visitors_see_it_after_the_warning(
    people, snap, make_user
):
    admin_email = make_user("admin", name="Ada Admin", password=PASSWORD).email
    db.session.remove()  # no open transaction in this thread while the server works

    admin = people("admin")
    page = admin.page
    page.goto("/auth/login")
    page.get_by_label("Email").fill(admin_email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    nav_to(page, "Admin", "Security")
    expect(page.get_by_role("heading", name="Developer-console message")).to_be_visible()
    page.get_by_label("Developer-console message").fill(MESSAGE)
    page.get_by_role("button", name="Save message").click()
    expect(page.get_by_role("alert")).to_contain_text("Developer-console message saved.")
    expect(page.get_by_label("Developer-console message")).to_have_value(MESSAGE)
    snap(page, "admin-devconsole-message-saved")
    assert get_setting(DEVCONSOLE_SETTING) == MESSAGE
    db.session.remove()

    visitor = people("visitor")
    messages: list[ConsoleMessage] = []
    visitor.page.on("console", lambda msg: messages.append(msg))
    with visitor.page.expect_console_message(lambda m: MESSAGE in m.text):
        visitor.page.goto("/auth/login")
    expect(visitor.page.get_by_role("heading", name="Log in")).to_be_visible()

    logged = [_logged(m) for m in messages]
    stop = next(i for i, (_, args) in enumerate(logged) if args and args[0] == "%cStop!")
    kind, (_, style) = logged[stop]
    assert kind == "log" and "color:#dc2626" in style and "font-size:36px" in style  # big, red
    kind, (fmt, _, warning) = logged[stop + 1]
    assert fmt == "%c%s" and "copy and paste" in warning and "it is a scam" in warning
    mine = next(i for i, (_, args) in enumerate(logged) if MESSAGE in args)
    assert mine > stop + 1  # after the warning
    assert logged[mine][1][0] == "%c%s"  # passed as an argument: markup and "%c" stay text
    assert MESSAGE not in visitor.page.content()  # printed in the console, never in the page

    assert admin.errors == [] and visitor.errors == []
    assert admin.bad_responses == [] and visitor.bad_responses == []
