"""Writing notifications to the outbox and queueing them.

Every email is a named template set under ``crm/templates/email/<name>.{subject,txt,html}``
rendered by :func:`render_email`. :func:`queue_email` writes the outbox row in the caller's
transaction and arranges for it to be enqueued after commit.
"""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, render_template
from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    FunctionLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select

from crm import events
from crm.clock import utcnow
from crm.extensions import db
from crm.notifications import variables
from crm.notifications.models import FAILED, PENDING, SENT, EmailTemplate, Notification

SEND_JOB = "crm.notifications.jobs.send_notification"

log = logging.getLogger(__name__)


def render_email(template: str, **context) -> tuple[str, str, str]:
    """Render the named email template set: the admin's edit (:class:`EmailTemplate`) when
    there is one, else the files ``crm/templates/email/<template>.{subject.txt,txt,html}``.

    The context is first reduced to the template's declared variables
    (:func:`crm.notifications.variables.build_context`): templates see plain dicts, lists and
    scalars, never ORM objects.

    :returns: (subject — one line, text body, html body).
    :raises jinja2.TemplateNotFound: an unknown template name.
    :raises KeyError: a template without a declaration in ``TEMPLATE_VARIABLES``.
    :raises TypeError: ``context`` holds a name the template does not declare.

    An admin's edit that fails on real data (the editor checked it against the sample only;
    an edit stored before the checks existed) is logged and the file version is sent instead:
    a broken edit must not stop the mail, nor fail the request that caused it.
    """
    context.setdefault(variables.BASE_URL, current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/"))
    context = variables.build_context(template, context)
    edited = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == template))
    if edited is not None:
        try:
            return render_template_strings(
                edited.subject, edited.body_text, edited.body_html, context
            )
        except RENDER_ERRORS:
            log.exception(
                "email template %r: the admin's edit does not render; sending the built-in version",
                template,
            )
    subject = render_template(f"email/{template}.subject.txt", **context)
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    return _subject_line(subject), text, html


def _subject_line(rendered: str) -> str:
    """The first non-empty line of a rendered subject (a subject is one header line)."""
    return (rendered.strip().splitlines() or [""])[0].strip()


#: Only the shared partials of ``crm/templates/email`` (``_layout.html``) may be extended or
#: included by an admin's edit.
_PARTIAL = re.compile(r"^email/_[a-z0-9_]+\.html$")


def _partial_loader() -> BaseLoader:
    files = FileSystemLoader(str(Path(__file__).resolve().parents[1] / "templates"))

    def load(name: str):
        if not _PARTIAL.match(name):
            return None
        return files.get_source(_env_for_loading, name)

    return FunctionLoader(load)


_env_for_loading = Environment()
_environments: dict[tuple[bool, bool], ImmutableSandboxedEnvironment] = {}


def sandbox(html: bool, strict: bool = False) -> ImmutableSandboxedEnvironment:
    """The Jinja sandbox admin-edited templates render in: no access to internals or to
    mutating methods, HTML autoescaped in the HTML part only, and a loader that serves only
    the shared partials (so ``{% extends "email/_layout.html" %}`` works).

    :param strict: undefined names and attributes raise (used to validate an edit against
        the template's sample) instead of rendering empty (used for real mail).
    """
    key = (html, strict)
    if key not in _environments:
        _environments[key] = ImmutableSandboxedEnvironment(
            autoescape=html,
            loader=_partial_loader(),
            undefined=StrictUndefined if strict else Undefined,
        )
    return _environments[key]


def render_template_strings(
    subject: str, body_text: str, body_html: str, context: dict, *, strict: bool = False
) -> tuple[str, str, str]:
    """Render admin-edited template text in the sandbox (:func:`sandbox`) with ``context``
    (a dict: a template may declare a variable called ``subject``, as ``direct`` does).

    :returns: (subject — first line, text body, html body).
    :raises jinja2.TemplateError: a syntax error, a sandbox violation, or (``strict``) an
        undefined name or attribute.
    """
    return (
        _subject_line(sandbox(False, strict).from_string(subject).render(**context)),
        sandbox(False, strict).from_string(body_text).render(**context),
        sandbox(True, strict).from_string(body_html).render(**context),
    )


#: what a template an admin typed may raise while rendering against the sample: Jinja's own
#: errors (syntax, sandbox, undefined) and whatever its expressions do (``x[::0]``, ``1/0``,
#: ``"a" + 1``, ``"%d" % "x"``, a huge ``range``).
RENDER_ERRORS = (
    TemplateError,
    TypeError,
    ValueError,
    LookupError,
    ArithmeticError,
    AttributeError,
    OverflowError,
    RecursionError,
    MemoryError,
)

PARTS = ("subject", "body_text", "body_html")


@dataclass
class Validation:
    """The outcome of :func:`validate_template`: ``errors`` per part (``subject``,
    ``body_text``, ``body_html``; empty when valid) and the sample rendering ``preview``
    (subject, text, html) when every part rendered."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    preview: tuple[str, str, str] | None = None

    @property
    def ok(self) -> bool:
        """True when no part has an error."""
        return not any(self.errors.values())


def validate_template(name: str, subject: str, body_text: str, body_html: str) -> Validation:
    """Check an admin's edit of template ``name`` before it is saved or previewed.

    Each part must parse, use only the template's declared variables (plus ``base_url`` and
    Jinja's own globals such as ``range``), and render in the strict sandbox against the
    template's sample context (:func:`crm.notifications.variables.sample_context`) — so an
    unknown attribute (``ticket.assignee.password_hash``), a sandbox violation or an
    expression that raises is refused with a message naming the problem.

    :raises KeyError: ``name`` has no declaration.
    """
    allowed = set(variables.declared(name)) | {variables.BASE_URL}
    sample = variables.sample_context(name, current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/"))
    result = Validation(errors={part: [] for part in PARTS})
    rendered = []
    for part, source in zip(PARTS, (subject, body_text, body_html), strict=True):
        env = sandbox(part == "body_html", strict=True)
        try:
            unknown = meta.find_undeclared_variables(env.parse(source)) - allowed - set(env.globals)
        except TemplateSyntaxError as exc:
            result.errors[part].append(
                f"The template does not render: {exc.message} (line {exc.lineno})."
            )
            continue
        if unknown:
            result.errors[part].append(
                f"The template does not render: unknown variable{'s' if len(unknown) > 1 else ''} "
                f"{variables.names(unknown)}. This template receives {variables.names(allowed)}."
            )
            continue
        try:
            rendered.append(env.from_string(source).render(**sample))
        except RENDER_ERRORS as exc:
            result.errors[part].append(f"The template does not render: {_describe(exc)}")
    if result.ok:
        result.preview = (_subject_line(rendered[0]), rendered[1], rendered[2])
        if not result.preview[0]:
            result.errors["subject"].append("The subject renders empty.")
            result.preview = None
    return result


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed in an email template ({exc})."
    if isinstance(exc, UndefinedError):
        return f"{exc}. Only the listed variables and their fields exist."
    if isinstance(exc, TemplateError):
        return f"{exc}."
    return f"{type(exc).__name__}: {exc}."


def is_built_in(name: str, subject: str, body_text: str, body_html: str) -> bool:
    """True when an edit of ``name`` is exactly the shipped file version (subject compared
    without surrounding whitespace, bodies with LF line ends)."""
    file_subject, file_text, file_html = template_source(name)
    return (subject.strip(), body_text.replace("\r\n", "\n"), body_html.replace("\r\n", "\n")) == (
        file_subject.strip(),
        file_text,
        file_html,
    )


def template_source(name: str) -> tuple[str, str, str]:
    """The file version of email template ``name`` as (subject, text, html) source text,
    for the admin editor's starting point.

    :raises jinja2.TemplateNotFound: an unknown name.
    """
    loader = current_app.jinja_env.loader
    return tuple(
        loader.get_source(current_app.jinja_env, f"email/{name}.{part}")[0]
        for part in ("subject.txt", "txt", "html")
    )


def queue_sms(
    to: Iterable[str], body: str, *, event: str | None = None, created_by_id: int | None = None
) -> Notification | None:
    """Add one SMS outbox row per number (channel ``sms``) to the current transaction;
    each is enqueued after commit and sent through :func:`crm.notifications.sms.get_transport`.

    :param to: E.164 numbers (see :func:`crm.notifications.sms.normalise_phone`).
    :param body: the text (kept whole; providers split long texts).
    :returns: the last row created, or None when ``to`` is empty.
    """
    note = None
    for number in dict.fromkeys(n.strip() for n in to if n and n.strip()):
        note = Notification(
            channel="sms",
            to=[number],
            subject=body.splitlines()[0][:255] if body else "",
            body_text=body,
            event=event,
            created_by_id=created_by_id,
            status=PENDING,
            attempts=0,
            message_id=make_message_id(),
            created_at=utcnow(),
            next_attempt_at=utcnow(),
        )
        db.session.add(note)
        db.session.flush()
        events.publish(db.session, "notification.queued", notification_id=note.id)
    return note


def make_message_id(domain: str = "crtracker.local") -> str:
    """A new RFC 5322 Message-ID (``<uuid@domain>``), fixed per notification."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def queue_email(
    to: Iterable[str],
    subject: str,
    body_text: str,
    body_html: str | None = None,
    *,
    template: str | None = None,
    event: str | None = None,
    ticket_id: int | None = None,
    created_by_id: int | None = None,
    attachments: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> Notification:
    """Add an outbox row (status pending) to the current transaction; enqueue it after commit.

    :param to: recipient addresses (deduplicated, order kept).
    :param attachments: ``[{filename, content_type, health_report_id}]``, loaded at send time.
    :param headers: extra message headers (e.g. RFC 8058 ``List-Unsubscribe``).
    :returns: the new, flushed :class:`Notification` (it has an id).
    """
    recipients = list(dict.fromkeys(a.strip() for a in to if a and a.strip()))
    note = Notification(
        to=recipients,
        subject=subject[:255],
        body_text=body_text,
        body_html=body_html,
        template=template,
        event=event,
        ticket_id=ticket_id,
        attachments=attachments or None,
        headers=headers or None,
        created_by_id=created_by_id,
        status=PENDING,
        attempts=0,
        message_id=make_message_id(),
        created_at=utcnow(),
        next_attempt_at=utcnow(),
    )
    db.session.add(note)
    db.session.flush()
    events.publish(db.session, "notification.queued", notification_id=note.id)
    return note


def queue_templated(
    template: str,
    to: Iterable[str],
    *,
    event: str | None = None,
    ticket_id: int | None = None,
    created_by_id: int | None = None,
    **context,
) -> Notification | None:
    """Render ``template`` (:func:`render_email`; ``context`` are its declared variables, as
    plain values) and :func:`queue_email` it; None when there is no recipient."""
    recipients = [a for a in to if a]
    if not recipients:
        return None
    subject, text, html = render_email(template, **context)
    return queue_email(
        recipients,
        subject,
        text,
        html,
        template=template,
        event=event,
        ticket_id=ticket_id,
        created_by_id=created_by_id,
    )


def send_template_test(name: str, preview: tuple[str, str, str], admin) -> Notification:
    """Queue a test of template ``name`` — ``preview`` as rendered by
    :func:`validate_template` — to ``admin``'s own address, through the outbox like any mail
    (event ``template.test``). The caller commits; the send job is enqueued after the commit.

    :param admin: the admin asking (a user with ``id`` and ``email``).
    """
    subject, text, html = preview
    return queue_email(
        [admin.email],
        f"[Test] {subject}",
        text,
        html,
        template=name,
        event="template.test",
        created_by_id=admin.id,
    )


def retry(notification: Notification) -> Notification:
    """Admin retry: put a failed (or stuck) notification back to pending and enqueue it.

    A sent notification is left alone (it must never be sent twice).
    """
    if notification.status != SENT:
        notification.status = PENDING
        notification.next_attempt_at = utcnow()
        events.publish(
            db.session,
            "notification.queued",
            notification_id=notification.id,
            attempts=notification.attempts,
        )
    db.session.commit()
    return notification


def due_ids(stale_before, limit: int = 500) -> list[int]:
    """Ids the sweeper should (re-)enqueue: pending rows older than ``stale_before`` and
    failed rows whose backoff has expired. Oldest first."""
    now = utcnow()
    pending = select(Notification.id).where(
        Notification.status == PENDING, Notification.created_at <= stale_before
    )
    failed = select(Notification.id).where(
        Notification.status == FAILED,
        Notification.next_attempt_at.is_not(None),
        Notification.next_attempt_at <= now,
    )
    ids = list(db.session.scalars(pending.order_by(Notification.id).limit(limit)))
    ids += list(db.session.scalars(failed.order_by(Notification.id).limit(limit)))
    return ids


@events.after_commit("notification.queued")
def _enqueue_after_commit(ev: events.DomainEvent) -> None:
    from crm.notifications.jobs import enqueue_send

    enqueue_send(ev.payload["notification_id"], ev.payload.get("attempts", 0))
