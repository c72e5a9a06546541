"""Fast sanity checks of the foundation: health, log-in, a ticket end to end in-process."""
from crm.notifications.models import Notification
from crm.tickets.models import Ticket


def test_healthz_reports_database_and_redis(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_customer_ticket_is_auto_assigned_and_notifies(
    client, make_user, login, run_jobs, smtp_server
):
    engineer = make_user("engineer")
    customer = make_user("customer")
    login(customer)
    resp = client.post(
        "/portal/tickets/new",
        data={"subject": "Broken mug", "description": "Arrived broken", "priority": "high"},
    )
    assert resp.status_code == 302
    ticket = Ticket.query.one()
    assert ticket.assignee_id == engineer.id
    assert {n.template for n in Notification.query.all()} == {"ticket_created", "ticket_assigned"}
    assert run_jobs() == 2
    smtp_server.wait_for(lambda msgs: len(msgs) == 2)
    assert smtp_server.by_rcpt(customer.email)[0]["Subject"].startswith(
        f"Ticket #{ticket.id} received"
    )
    assert {n.status for n in Notification.query.all()} == {"sent"}
