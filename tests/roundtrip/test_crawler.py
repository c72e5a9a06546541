"""The round-trip test's form reader sends what a browser sends for a rendered form."""
from __future__ import annotations

from tests.roundtrip.crawler import local_path, parse_page

PAGE = """<html><body hx-headers='{"X-CSRFToken": "tok"}'>
<a href="/tickets/?page=2">next</a> <a href="https://elsewhere.example.com/">out</a>
<div hx-get="/tickets/requesters?q=a"></div>
<form method="post" action="/things/7/edit">
  <input type="hidden" name="csrf_token" value="abc">
  <input name="name" value="Caf&eacute; &amp; bar">
  <input type="checkbox" name="paused" value="y" checked>
  <input type="checkbox" name="notify" value="y">
  <input type="radio" name="kind" value="a"><input type="radio" name="kind" value="b" checked>
  <input name="locked" value="x" disabled>
  <input type="file" name="upload">
  <select name="first"><option value="1">one</option><option value="2">two</option></select>
  <select name="picked"><option value="1">one</option><option selected>Two words</option></select>
  <select name="many" multiple><option value="a" selected>a</option><option value="b">b</option>
    <option value="c" selected>c</option></select>
  <textarea name="notes">
line one
line two</textarea>
  <textarea name="empty"></textarea>
  <button type="submit" name="save" value="1">Save</button>
  <button type="submit" name="delete" value="1">Delete</button>
  <button type="button" name="noop" value="1">No</button>
  <button type="button" hx-post="/things/7/preview">Preview</button>
</form>
</body></html>"""


def test_a_form_is_read_back_as_a_browser_submits_it():
    page = parse_page(PAGE, "/things/7/edit")
    assert page.csrf_header == "tok"
    assert ("/tickets/?page=2", False) in page.links and (
        "/tickets/requesters?q=a",
        True,
    ) in page.links
    assert local_path("https://elsewhere.example.com/") is None
    assert local_path("/tickets/?page=2") == "/tickets/?page=2"
    [form] = page.forms
    assert (form.method, form.action) == ("POST", "/things/7/edit")
    assert [(b.name, b.value) for b in form.buttons] == [("save", "1"), ("delete", "1")]
    assert form.htmx_targets == [("POST", "/things/7/preview")]
    assert form.entries(form.buttons[0]) == [
        ("csrf_token", "abc"),
        ("name", "Café & bar"),
        ("paused", "y"),
        ("kind", "b"),
        ("first", "1"),  # nothing selected in a single select: the first option
        ("picked", "Two words"),  # an option without a value sends its text
        ("many", "a"),
        ("many", "c"),
        ("notes", "line one\r\nline two"),  # the newline after <textarea> dropped, CRLF sent
        ("empty", ""),
        ("save", "1"),  # only the pressed button
    ]
