"""A small browser for the round-trip test: parse a page's links and forms with
:mod:`html.parser`, and submit a form exactly as it was rendered.

What a browser sends for a form (HTML living standard, "constructing the entry list"): every
named, enabled control except unchecked checkboxes and radios, file inputs and buttons that
were not the one pressed; a ``<select>`` sends its selected options (the first one when none
is marked, for a single select); a ``<textarea>`` its text (without the newline that follows
the start tag). The pressed submit button adds its own name and value.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

HTMX_GET_ATTRS = ("hx-get",)
HTMX_WRITE_ATTRS = ("hx-post", "hx-put", "hx-patch", "hx-delete")


@dataclass
class Control:
    """One form control as rendered."""

    tag: str
    type: str
    name: str
    value: str = ""
    checked: bool = False
    disabled: bool = False
    options: list = field(default_factory=list)  # (value, selected) for <select>
    multiple: bool = False


@dataclass
class Form:
    """A ``<form>`` as rendered: where it goes, how, and its controls."""

    action: str
    method: str
    enctype: str
    attrs: dict
    controls: list = field(default_factory=list)
    buttons: list = field(default_factory=list)  # submit buttons: Control(tag="button")
    htmx_targets: list = field(default_factory=list)  # (method, url) from hx-post … inside it

    def entries(self, button: Control | None = None) -> list[tuple[str, str]]:
        """The (name, value) pairs a browser submits with ``button`` pressed."""
        out: list[tuple[str, str]] = []
        for c in self.controls:
            if c.disabled or not c.name:
                continue
            if c.tag == "select":
                selected = [v for v, sel in c.options if sel]
                if not selected and c.options and not c.multiple:
                    selected = [c.options[0][0]]
                out.extend((c.name, v) for v in selected)
            elif c.type in ("checkbox", "radio"):
                if c.checked:
                    out.append((c.name, c.value or "on"))
            elif c.type in ("file", "image", "reset", "button", "submit"):
                continue
            elif c.tag == "textarea":  # submitted with CRLF line breaks
                out.append((c.name, c.value.replace("\n", "\r\n")))
            else:
                out.append((c.name, c.value))
        if button is not None and button.name and not button.disabled:
            out.append((button.name, button.value))
        return out

    def has_control(self, name: str) -> bool:
        return any(c.name == name for c in self.controls)


@dataclass
class Page:
    """Links (``(url, htmx)``) and forms of one HTML page, URLs absolute-path resolved."""

    links: list = field(default_factory=list)
    forms: list = field(default_factory=list)
    csrf_header: str | None = None  # body hx-headers X-CSRFToken (sent by htmx requests)


class _PageParser(HTMLParser):
    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.page = Page()
        self.form: Form | None = None
        self.select: Control | None = None
        self.option: list | None = None  # [value or None, selected, text]
        self.textarea: Control | None = None

    def _url(self, value: str) -> str:
        return urljoin(self.base, html.unescape(value.strip()))

    def handle_starttag(self, tag, attrs_list):
        attrs = {k: (v if v is not None else "") for k, v in attrs_list}
        if tag == "body" and "hx-headers" in attrs:
            import json
            try:
                self.page.csrf_header = json.loads(attrs["hx-headers"]).get("X-CSRFToken")
            except ValueError:
                pass
        if tag in ("a", "link") and attrs.get("href"):  # links and stylesheets
            self.page.links.append((self._url(attrs["href"]), False))
        for name, value in attrs.items():  # <script src>, <img src>, data-plotly-src …
            if value and (name == "src" or (name.startswith("data-") and name.endswith("-src"))):
                self.page.links.append((self._url(value), False))
        for attr in HTMX_GET_ATTRS:
            if attrs.get(attr) and tag != "form":
                self.page.links.append((self._url(attrs[attr]), True))
        if tag == "form":
            self.form = Form(action=self._url(attrs.get("action") or self.base),
                             method=(attrs.get("method") or "get").upper(),
                             enctype=attrs.get("enctype", "application/x-www-form-urlencoded"),
                             attrs=attrs)
            for attr in HTMX_WRITE_ATTRS + HTMX_GET_ATTRS:
                if attrs.get(attr):
                    self.form.htmx_targets.append((attr[3:].upper(), self._url(attrs[attr])))
            self.page.forms.append(self.form)
            return
        if self.form is None:
            return
        if tag != "form":
            for attr in HTMX_WRITE_ATTRS:
                if attrs.get(attr):
                    self.form.htmx_targets.append((attr[3:].upper(), self._url(attrs[attr])))
        disabled = "disabled" in attrs
        if tag == "input":
            type_ = attrs.get("type", "text").lower()
            control = Control("input", type_, attrs.get("name", ""), attrs.get("value", ""),
                              checked="checked" in attrs, disabled=disabled)
            if type_ in ("submit", "image"):
                self.form.buttons.append(control)
            else:
                self.form.controls.append(control)
        elif tag == "button":
            type_ = attrs.get("type", "submit").lower()
            if type_ == "submit":
                self.form.buttons.append(Control("button", "submit", attrs.get("name", ""),
                                                 attrs.get("value", ""), disabled=disabled))
        elif tag == "select":
            self.select = Control("select", "select", attrs.get("name", ""), disabled=disabled,
                                  multiple="multiple" in attrs)
            self.form.controls.append(self.select)
        elif tag == "option" and self.select is not None:
            self.option = [attrs.get("value"), "selected" in attrs, ""]
        elif tag == "textarea":
            self.textarea = Control("textarea", "textarea", attrs.get("name", ""), "",
                                    disabled=disabled)
            self.form.controls.append(self.textarea)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "select":
            self._close_option()
            self.select = None
        elif tag == "option":
            self._close_option()
        elif tag == "textarea" and self.textarea is not None:
            if self.textarea.value.startswith("\n"):
                self.textarea.value = self.textarea.value[1:]
            self.textarea = None

    def _close_option(self):
        if self.option is not None and self.select is not None:
            value, selected, text = self.option
            self.select.options.append((text.strip() if value is None else value, selected))
        self.option = None

    def handle_data(self, data):
        if self.textarea is not None:  # the HTML input stream has LF line ends only
            self.textarea.value += data.replace("\r\n", "\n").replace("\r", "\n")
        elif self.option is not None:
            self.option[2] += data


def parse_page(body: str, url: str) -> Page:
    """Links and forms of ``body`` served at ``url`` (path with query)."""
    parser = _PageParser(url)
    parser.feed(body)
    parser.close()
    return parser.page


def local_path(url: str, host: str = "localhost") -> str | None:
    """``path?query`` of ``url`` when it points into the app (same origin), else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https") or (parts.netloc and parts.netloc != host):
        return None
    if not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
