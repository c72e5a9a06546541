"""Writing notifications to the outbox and queueing them.

Every email is a named template set under ``crm/templates/email/<name>.{subject,txt,html}``
rendered by :func:`render_email`. :func:`queue_email` writes the outbox row in the caller's
transaction and arranges for it to be enqueued after commit.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable

from flask import current_app, render_template
from sqlalchemy import select

from crm import events
from crm.clock import utcnow
from crm.extensions import db
from crm.notifications.models import FAILED, PENDING, SENT, EmailTemplate, Notification

SEND_JOB = "crm.notifications.jobs.send_notification"


def render_email(template: str, **context) -> tuple[str, str, str]:
    """Render the named email template set: the admin's edit (:class:`EmailTemplate`) when
    there is one, else the files ``crm/templates/email/<template>.{subject.txt,txt,html}``.

    :returns: (subject — one line, text body, html body).
    :raises jinja2.TemplateNotFound: an unknown template name.
    :raises jinja2.TemplateError: an admin's edit that does not render (caught when saved).
    """
    context.setdefault("base_url", current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/"))
    edited = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == template))
    if edited is not None:
        return render_template_strings(edited.subject, edited.body_text, edited.body_html, **context)
    subject = render_template(f"email/{template}.subject.txt", **context).strip().splitlines()[0]
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    return subject, text, html


_sandbox = None


def render_template_strings(subject: str, body_text: str, body_html: str, **context) -> tuple[str, str, str]:
    """Render admin-edited template text in Jinja's sandbox (no attribute access to internals;
    HTML autoescaped in the HTML part only).

    :returns: (subject — first line, text body, html body).
    :raises jinja2.TemplateError: a syntax error or a sandbox violation.
    """
    global _sandbox
    from jinja2.sandbox import SandboxedEnvironment
    if _sandbox is None:
        _sandbox = (SandboxedEnvironment(autoescape=False), SandboxedEnvironment(autoescape=True))
    plain, html_env = _sandbox
    rendered_subject = (plain.from_string(subject).render(**context).strip().splitlines() or [""])[0]
    return (rendered_subject, plain.from_string(body_text).render(**context),
            html_env.from_string(body_html).render(**context))


def template_source(name: str) -> tuple[str, str, str]:
    """The file version of email template ``name`` as (subject, text, html) source text,
    for the admin editor's starting point.

    :raises jinja2.TemplateNotFound: an unknown name.
    """
    loader = current_app.jinja_env.loader
    return tuple(loader.get_source(current_app.jinja_env, f"email/{name}.{part}")[0]
                 for part in ("subject.txt", "txt", "html"))


def queue_sms(to: Iterable[str], body: str, *, event: str | None = None,
              created_by_id: int | None = None) -> Notification | None:
    """Add one SMS outbox row per number (channel ``sms``) to the current transaction;
    each is enqueued after commit and sent through :func:`crm.notifications.sms.get_transport`.

    :param to: E.164 numbers (see :func:`crm.notifications.sms.normalise_phone`).
    :param body: the text (kept whole; providers split long texts).
    :returns: the last row created, or None when ``to`` is empty.
    """
    note = None
    for number in dict.fromkeys(n.strip() for n in to if n and n.strip()):
        note = Notification(channel="sms", to=[number], subject=body.splitlines()[0][:255] if body else "",
                            body_text=body, event=event, created_by_id=created_by_id, status=PENDING,
                            attempts=0, message_id=make_message_id(), created_at=utcnow(),
                            next_attempt_at=utcnow())
        db.session.add(note)
        db.session.flush()
        events.publish(db.session, "notification.queued", notification_id=note.id)
    return note


def make_message_id(domain: str = "crtracker.local") -> str:
    """A new RFC 5322 Message-ID (``<uuid@domain>``), fixed per notification."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def queue_email(to: Iterable[str], subject: str, body_text: str, body_html: str | None = None, *,
                template: str | None = None, event: str | None = None, ticket_id: int | None = None,
                created_by_id: int | None = None, attachments: list[dict] | None = None,
                headers: dict[str, str] | None = None) -> Notification:
    """Add an outbox row (status pending) to the current transaction; enqueue it after commit.

    :param to: recipient addresses (deduplicated, order kept).
    :param attachments: ``[{filename, content_type, health_report_id}]``, loaded at send time.
    :param headers: extra message headers (e.g. RFC 8058 ``List-Unsubscribe``).
    :returns: the new, flushed :class:`Notification` (it has an id).
    """
    recipients = list(dict.fromkeys(a.strip() for a in to if a and a.strip()))
    note = Notification(to=recipients, subject=subject[:255], body_text=body_text, body_html=body_html,
                        template=template, event=event, ticket_id=ticket_id,
                        attachments=attachments or None, headers=headers or None,
                        created_by_id=created_by_id, status=PENDING, attempts=0,
                        message_id=make_message_id(), created_at=utcnow(), next_attempt_at=utcnow())
    db.session.add(note)
    db.session.flush()
    events.publish(db.session, "notification.queued", notification_id=note.id)
    return note


def queue_templated(template: str, to: Iterable[str], *, event: str | None = None,
                    ticket_id: int | None = None, **context) -> Notification | None:
    """Render ``template`` and :func:`queue_email` it; None when there is no recipient."""
    recipients = [a for a in to if a]
    if not recipients:
        return None
    subject, text, html = render_email(template, **context)
    return queue_email(recipients, subject, text, html, template=template, event=event,
                       ticket_id=ticket_id)


def retry(notification: Notification) -> Notification:
    """Admin retry: put a failed (or stuck) notification back to pending and enqueue it.

    A sent notification is left alone (it must never be sent twice).
    """
    if notification.status != SENT:
        notification.status = PENDING
        notification.next_attempt_at = utcnow()
        events.publish(db.session, "notification.queued", notification_id=notification.id,
                       attempts=notification.attempts)
    db.session.commit()
    return notification


def due_ids(stale_before, limit: int = 500) -> list[int]:
    """Ids the sweeper should (re-)enqueue: pending rows older than ``stale_before`` and
    failed rows whose backoff has expired. Oldest first."""
    now = utcnow()
    pending = select(Notification.id).where(Notification.status == PENDING,
                                            Notification.created_at <= stale_before)
    failed = select(Notification.id).where(Notification.status == FAILED,
                                           Notification.next_attempt_at.is_not(None),
                                           Notification.next_attempt_at <= now)
    ids = list(db.session.scalars(pending.order_by(Notification.id).limit(limit)))
    ids += list(db.session.scalars(failed.order_by(Notification.id).limit(limit)))
    return ids


@events.after_commit("notification.queued")
def _enqueue_after_commit(ev: events.DomainEvent) -> None:
    from crm.notifications.jobs import enqueue_send
    enqueue_send(ev.payload["notification_id"], ev.payload.get("attempts", 0))
