"""Read a form out of a rendered page the way a browser submits it (for round-trip tests).

:func:`form_fields` collects the *successful controls* of one ``<form>`` (HTML's "constructing
the entry list"): text-like inputs with their ``value``, checked checkboxes and radios, the
selected options of selects (the first option of a single select when none is marked), and
textareas' text (without the one newline after the start tag that browsers drop). Disabled
controls, buttons, and anything inside ``<template>`` are left out. The result is a list of
``(name, value)`` pairs, ready for ``client.post(url, data=MultiDict(pairs))``.
"""
from __future__ import annotations

from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict

_SKIPPED_INPUTS = {"submit", "button", "reset", "image", "file"}


class _FormParser(HTMLParser):
    def __init__(self, action: str | None):
        super().__init__(convert_charrefs=True)
        self.wanted_action = action
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._template_depth = 0
        self._select: dict | None = None
        self._option: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "template":
            self._template_depth += 1
        if self._template_depth:
            return
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "pairs": []}
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        disabled = "disabled" in a
        if tag == "input":
            kind = a.get("type", "text").lower()
            name = a.get("name")
            if not name or disabled or kind in _SKIPPED_INPUTS:
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form["pairs"].append((name, a.get("value", "on")))
            else:
                self._form["pairs"].append((name, a.get("value", "")))
        elif tag == "select":
            self._select = {
                "name": a.get("name"),
                "multiple": "multiple" in a,
                "disabled": disabled,
                "options": [],
            }
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "selected": "selected" in a, "text": ""}
            self._select["options"].append(self._option)
        elif tag == "textarea":
            self._textarea = {"name": a.get("name"), "disabled": disabled, "text": ""}

    def handle_endtag(self, tag):
        if tag == "template":
            self._template_depth -= 1
            return
        if self._template_depth or self._form is None:
            return
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            s, self._select = self._select, None
            if not s["name"] or s["disabled"]:
                return
            chosen = [o for o in s["options"] if o["selected"]]
            if not chosen and not s["multiple"] and s["options"]:
                chosen = s["options"][:1]
            if not s["multiple"]:
                chosen = chosen[-1:]
            for o in chosen:
                value = o["value"] if o["value"] is not None else o["text"].strip()
                self._form["pairs"].append((s["name"], value))
        elif tag == "textarea" and self._textarea is not None:
            t, self._textarea = self._textarea, None
            if t["name"] and not t["disabled"]:
                text = t["text"]
                if text.startswith("\r\n"):
                    text = text[2:]
                elif text.startswith("\n"):
                    text = text[1:]
                # browsers normalise line breaks to CRLF when submitting
                self._form["pairs"].append(
                    (t["name"], text.replace("\r\n", "\n").replace("\n", "\r\n"))
                )

    def handle_data(self, data):
        if self._template_depth:
            return
        if self._textarea is not None:
            self._textarea["text"] += data
        elif self._option is not None:
            self._option["text"] += data


def form_fields(html: str, action: str) -> MultiDict:
    """The entries the form whose ``action`` attribute is ``action`` would submit.

    :raises AssertionError: no such form on the page.
    """
    parser = _FormParser(action)
    parser.feed(html)
    parser.close()
    for form in parser.forms:
        if form["action"] == action:
            return MultiDict(form["pairs"])
    raise AssertionError(
        f"no <form action={action!r}> on the page; forms: {[f['action'] for f in parser.forms]}"
    )
