"""Admin pages: the outbox (filters, retry) and the caught-mail mailbox."""
from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment
from crm.notifications import bp, services
from crm.notifications.models import NOTIFICATION_STATUSES, CaughtMail, Notification
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
    return redirect(request.referrer if request.referrer and "/admin/outbox" in request.referrer
                    else url_for("notifications.outbox"))


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
