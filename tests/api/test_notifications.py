"""Direct emails through the outbox, via the API."""
import pytest

from crm.extensions import db
from crm.notifications.models import Notification
from tests.api.conftest import assert_problem


def test_admin_email_is_queued_then_sent(api, make_user, run_jobs, smtp_server):
    admin = make_user("admin")
    resp = api.post("/notifications", admin, json={"to": ["ops@example.com", "Boss@Example.com"],
                                                   "subject": "Maintenance tonight",
                                                   "body": "The portal is down 22:00-23:00 UTC."})
    assert resp.status_code == 202
    note_id = resp.json["id"]
    assert resp.json == {"id": note_id, "status": "pending"}
    assert resp.headers["Location"] == f"/api/v1/notifications/{note_id}"
    note = db.session.get(Notification, note_id)
    assert (note.template, note.created_by_id) == ("direct", admin.id)

    assert run_jobs() == 1
    smtp_server.wait_for(lambda msgs: len(msgs) == 1)
    [msg] = smtp_server.by_rcpt("ops@example.com")
    assert msg["Subject"] == "Maintenance tonight"
    assert "22:00-23:00" in msg.get_body(("plain",)).get_content()
    assert msg["Message-ID"] == note.message_id

    # The batch records "sent" on its own connection; the test shares its session with the
    # requests it makes (one app context), so forget what it loaded before asking the API.
    db.session.expire_all()
    state = api.get(f"/notifications/{note_id}", admin).json
    assert state["status"] == "sent"
    assert state["attempts"] == 1
    assert state["sent_at"].endswith("Z")
    assert state["error"] is None


@pytest.mark.parametrize("role", ["customer", "engineer", "agent", "manager"])
def test_only_admins_send_or_read_notifications(api, make_user, role):
    user = make_user(role)
    assert_problem(api.post("/notifications", user, json={"to": ["a@example.com"], "subject": "S",
                                                          "body": "B"}), 403)
    assert_problem(api.get("/notifications/1", user), 403)
    assert db.session.scalar(db.select(Notification)) is None


@pytest.mark.parametrize("payload, field", [
    ({"to": [], "subject": "S", "body": "B"}, "to"),
    ({"to": "a@example.com", "subject": "S", "body": "B"}, "to"),
    ({"to": ["not-an-address"], "subject": "S", "body": "B"}, "to.0"),
    ({"to": ["a@example.com"], "subject": "s" * 201, "body": "B"}, "subject"),
    ({"to": ["a@example.com"], "subject": "S", "body": "b" * 10_001}, "body"),
    ({"to": ["a@example.com"], "subject": "S"}, "body"),
])
def test_notification_validation_errors(api, make_user, payload, field):
    body = assert_problem(api.post("/notifications", make_user("admin"), json=payload), 422)
    assert field in body["errors"]
    assert db.session.scalar(db.select(Notification)) is None


def test_unknown_notification_is_404(api, make_user):
    assert_problem(api.get("/notifications/424242", make_user("admin")), 404)
