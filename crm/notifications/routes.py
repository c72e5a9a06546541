"""Admin pages: the outbox (filters, retry) and the caught-mail mailbox."""
from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment
from crm.notifications import bp, services
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
    """One caught message: headers and text body."""
    m = db.get_or_404(CaughtMail, mail_id)
    import email
    from email import policy
    msg = email.message_from_string(m.raw, policy=policy.default)
    text_part = msg.get_body(preferencelist=("plain",))
    text = text_part.get_content() if text_part else m.raw
    return render_template("notifications/mail.html", m=m, msg=msg, text=text)


@bp.route("/sms")
@requires("sms.view")
def sms():
    """Text messages stored by the built-in ``outbox`` SMS transport, newest first."""
    rows, next_before = id_keyset_page(select(SmsMessage), SmsMessage)
    return render_template("notifications/sms.html", messages=rows, next_before=next_before)


def _template_names() -> list[str]:
    """Names of the email template sets shipped as files (``email/<name>.subject.txt``)."""
    from flask import current_app
    names = {t[len("email/"):-len(".subject.txt")] for t in current_app.jinja_env.list_templates()
             if t.startswith("email/") and t.endswith(".subject.txt")}
    return sorted(names)


@bp.route("/email-templates")
@requires("template.manage")
def email_templates():
    """Every email template, with whether an admin has edited it."""
    edited = {t.name: t for t in db.session.scalars(select(EmailTemplate))}
    return render_template("notifications/email_templates.html", names=_template_names(), edited=edited)


@bp.route("/email-templates/<name>", methods=["GET", "POST"])
@requires("template.manage")
def email_template(name: str):
    """Edit one email template (subject, text and HTML parts; Jinja, sandboxed). Saving checks
    that it renders with a sample context; "Reset" deletes the edit and the file version is
    used again."""
    from flask_login import current_user
    from jinja2 import TemplateError

    from crm.notifications.forms import EmailTemplateForm
    if name not in _template_names():
        from flask import abort
        abort(404)
    row = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    form = EmailTemplateForm()
    if request.method == "GET":
        subject, text, html = (row.subject, row.body_text, row.body_html) if row else services.template_source(name)
        form.subject.data, form.body_text.data, form.body_html.data = subject.strip(), text, html
    preview = None
    if form.validate_on_submit():
        if form.reset.data:
            if row is not None:
                db.session.delete(row)
                db.session.commit()
            flash(f"Template “{name}” reset to the built-in version.", "success")
            return redirect(url_for("notifications.email_template", name=name))
        try:
            preview = services.render_template_strings(form.subject.data, form.body_text.data,
                                                        form.body_html.data, **_sample_context())
        except TemplateError as exc:
            form.body_text.errors.append(f"The template does not render: {exc}")
            return render_template("notifications/email_template.html", name=name, form=form,
                                   row=row, preview=None), 422
        if row is None:
            row = EmailTemplate(name=name)
            db.session.add(row)
        row.subject, row.body_text, row.body_html = form.subject.data, form.body_text.data, form.body_html.data
        row.updated_by_id = current_user.id
        db.session.commit()
        flash(f"Template “{name}” saved.", "success")
        return redirect(url_for("notifications.email_template", name=name))
    status = 422 if form.is_submitted() else 200
    return render_template("notifications/email_template.html", name=name, form=form, row=row,
                           preview=preview), status


class _Sample(dict):
    """A forgiving sample context for previews: any name renders as a placeholder."""

    def __getattr__(self, item):
        if item.startswith("_"):  # markupsafe probes __html__; Jinja probes dunders
            raise AttributeError(item)
        return _Sample(label=item)

    def __str__(self):
        return f"[{self.get('label', 'value')}]"


def _sample_context() -> dict:
    from flask import current_app
    sample = _Sample(label="sample")
    return {"base_url": current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/"), "user": sample,
            "ticket": sample, "link": "https://example.com/link", "monitor": sample,
            "report": sample, "incident": sample, "broadcast": sample, "window": sample,
            "unsubscribe_url": "https://example.com/unsubscribe"}
