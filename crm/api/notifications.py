"""API resources for the notification outbox: direct emails from admins, delivery state."""
from __future__ import annotations

from crm.api.common import answer
from crm.api.openapi import api_operation, request_body
from crm.api.schemas import NotificationIn, NotificationOut, NotificationQueuedOut
from crm.auth.policy import acting_user, requires
from crm.extensions import db
from crm.notifications.models import Notification
from crm.notifications.services import queue_email, render_email


@api_operation("POST", "/notifications", body=NotificationIn, response=NotificationQueuedOut,
               status=202, tag="Notifications", summary="Send a direct email")
@requires("notification.manage", api=True)
def send_notification():
    """Render the ``direct`` email template and write it to the outbox; a worker sends it
    after the commit. Answers 202 with the outbox row's id: poll it for the outcome."""
    data: NotificationIn = request_body()
    subject, text, html = render_email("direct", subject=data.subject, body=data.body)
    note = queue_email([str(a) for a in data.to], subject, text, html, template="direct",
                       created_by_id=acting_user().id)
    db.session.commit()  # the outbox enqueues the send job after this commit
    return answer(NotificationQueuedOut, {"id": note.id, "status": note.status}, 202,
                  Location=f"/api/v1/notifications/{note.id}")


@api_operation("GET", "/notifications/{notification_id}", response=NotificationOut,
               tag="Notifications", summary="Get a notification's delivery state")
@requires("notification.manage", api=True)
def get_notification(notification_id: int):
    """Status (``pending``, ``sending``, ``sent``, ``failed``), attempts so far, when it was
    sent (ISO 8601 UTC) and the last error."""
    note = db.get_or_404(Notification, notification_id)
    return answer(NotificationOut, {"id": note.id, "status": note.status, "attempts": note.attempts,
                                    "sent_at": note.sent_at, "error": note.last_error})
