"""Admin pages: the outbox (filters, retry), the caught-mail mailbox, the SMS list and the
email template editor."""
import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment
from crm.notifications import bp, catcher, services, variables
from crm.notifications.models import (
    NOTIFICATION_STATUSES,
    CaughtMail,
    EmailTemplate,
    Notification,
    SmsMessage,
)
from crm.pagination import id_keyset_page
from crm.tickets.forms import ActionForm


@bp.route("/outbox")
@requires("notification.manage")
def outbox():
    """Notifications, newest first, filtered by status and event."""
    status = request.args.get("status", "")
    if status and status not in NOTIFICATION_STATUSES:
        raise ServiceError(f"Unknown status: choose one of {', '.join(NOTIFICATION_STATUSES)}.",
                           field="status", status=422)
    event = request.args.get("event", "").strip()[:64]
    stmt = select(Notification)
    if status in NOTIFICATION_STATUSES:
        stmt = stmt.where(Notification.status == status)
    if event:
        stmt = stmt.where(Notification.event == event)
    rows, next_before = id_keyset_page(stmt, Notification)
    return render_page_or_fragment("notifications/outbox.html", "notifications/_outbox_table.html",
                                   notifications=rows, next_before=next_before, status=status,
                                   event=event, statuses=NOTIFICATION_STATUSES,
                                   form=ActionForm(formdata=None))


@bp.route("/outbox/<int:notification_id>")
@requires("notification.manage")
def notification(notification_id: int):
    """One notification with its bodies and delivery state."""
    n = db.get_or_404(Notification, notification_id)
    return render_template("notifications/notification.html", n=n, form=ActionForm(formdata=None))


@bp.route("/outbox/<int:notification_id>/retry", methods=["POST"])
@requires("notification.manage")
def retry(notification_id: int):
    """Put a failed or stuck notification back in the queue (a sent one is never re-sent)."""
    n = db.get_or_404(Notification, notification_id)
    if not ActionForm().validate_on_submit():
        flash("The form expired; please try again.", "danger")
    elif n.status == "sent":
        flash("That notification was already sent; it is never sent twice.", "warning")
    else:
        services.retry(n)
        flash(f"Notification #{n.id} queued again.", "success")
    from crm.security.redirects import back_to_referrer  # only this host's outbox pages
    return redirect(back_to_referrer(url_for("notifications.outbox"), prefix="/admin/outbox"))


@bp.route("/mailbox")
@requires("mailbox.view")
def mailbox():
    """Mail caught by the development SMTP catcher."""
    rows, next_before = id_keyset_page(select(CaughtMail), CaughtMail)
    return render_template("notifications/mailbox.html", mails=rows, next_before=next_before)


@bp.route("/mailbox/<int:mail_id>")
@requires("mailbox.view")
def caught_mail(mail_id: int):
    """One caught message: decoded headers, text body and HTML part in a sandboxed iframe
    (token links masked)."""
    m = db.get_or_404(CaughtMail, mail_id)
    subject, headers, text, html = catcher.read_message(m)
    return render_template(
        "notifications/mail.html", m=m, subject=subject, headers=headers, text=text, html=html
    )


@bp.route("/sms")
@requires("sms.view")
def sms():
    """Text messages stored by the built-in ``outbox`` SMS transport, newest first."""
    rows, next_before = id_keyset_page(select(SmsMessage), SmsMessage)
    return render_template("notifications/sms.html", messages=rows, next_before=next_before)


def _template_names() -> list[str]:
    """Names of the email template sets shipped as files (``email/<name>.subject.txt``)."""
    from flask import current_app

    names = {
        t[len("email/") : -len(".subject.txt")]
        for t in current_app.jinja_env.list_templates()
        if t.startswith("email/") and t.endswith(".subject.txt")
    }
    return sorted(names)


@bp.route("/email-templates")
@requires("template.manage")
def email_templates():
    """Every email template, with whether an admin has edited it."""
    edited = {t.name: t for t in db.session.scalars(select(EmailTemplate))}
    return render_template(
        "notifications/email_templates.html", names=_template_names(), edited=edited
    )


def _template_or_404(name: str) -> str:
    """``name`` if it is a shipped email template set, else 404."""
    if name not in _template_names():
        abort(404)
    return name


def _edit_of(form) -> tuple[str, str, str]:
    """The three parts of the posted edit, with browser line endings (CRLF) made LF."""
    return tuple((getattr(form, part).data or "").replace("\r\n", "\n") for part in services.PARTS)


@bp.route("/email-templates/<name>", methods=["GET", "POST"])
@requires("template.manage")
def email_template(name: str):
    """Edit one email template (subject, text and HTML parts; Jinja, sandboxed).

    Saving validates the edit against the template's declared variables and their sample
    (:func:`services.validate_template`); errors show under the part they concern. "Send a
    test to me" renders the edit (saved or not) with the sample and sends it to the current
    admin through the outbox. "Reset" deletes the edit and the file version is used again.
    """
    from crm.notifications.forms import EmailTemplateForm

    _template_or_404(name)
    row = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    form = EmailTemplateForm()
    if request.method == "GET":
        subject, text, html = (
            (row.subject, row.body_text, row.body_html) if row else services.template_source(name)
        )
        form.subject.data, form.body_text.data, form.body_html.data = subject.strip(), text, html
    check = None
    if form.validate_on_submit():
        if form.reset.data:
            if row is not None:
                db.session.delete(row)
                db.session.commit()
            flash(f"Template “{name}” reset to the built-in version.", "success")
            return redirect(url_for("notifications.email_template", name=name))
        subject, text, html = _edit_of(form)
        check = services.validate_template(name, subject, text, html)
        if check.ok and form.send_test.data:
            note = services.send_template_test(name, check.preview, current_user)
            db.session.commit()  # the outbox enqueues the send job after this commit
            flash(
                f"Test of “{name}” queued to {current_user.email} (outbox #{note.id}).", "success"
            )
            return _editor(name, form, row, check), 200
        if check.ok and services.is_built_in(name, subject, text, html):
            # Identical to the shipped files: store no copy, so later changes to the shipped
            # version keep reaching this template.
            if row is not None:
                db.session.delete(row)
                db.session.commit()
            flash(f"Template “{name}” is the built-in version; no edit stored.", "success")
            return redirect(url_for("notifications.email_template", name=name))
        if check.ok:
            if row is None:
                row = EmailTemplate(name=name)
                db.session.add(row)
            row.subject, row.body_text, row.body_html = subject, text, html
            row.updated_by_id = current_user.id
            db.session.commit()
            flash(f"Template “{name}” saved.", "success")
            return redirect(url_for("notifications.email_template", name=name))
        for part, messages in check.errors.items():
            getattr(form, part).errors = [*getattr(form, part).errors, *messages]
    elif request.method == "GET":
        check = services.validate_template(name, *_edit_of(form))
    status = 422 if form.is_submitted() else 200
    return _editor(name, form, row, check), status


def _editor(name: str, form, row, check):
    return render_template(
        "notifications/email_template.html",
        name=name,
        form=form,
        row=row,
        check=check,
        declared=variables.declared(name),
        samples={
            k: json.dumps(v.sample, ensure_ascii=False, indent=1)
            for k, v in variables.declared(name).items()
        },
    )


@bp.route("/email-templates/<name>/preview", methods=["POST"])
@requires("template.manage")
def email_template_preview(name: str):
    """The live preview fragment (htmx, as the admin types): the edit rendered with the sample
    — subject, HTML in a sandboxed iframe, text part — or what stops it rendering. Always 200
    (the fragment carries the errors)."""
    from crm.notifications.forms import EmailTemplateForm

    _template_or_404(name)
    form = EmailTemplateForm()
    check = services.validate_template(name, *_edit_of(form))
    return render_template("notifications/_email_preview.html", check=check)
