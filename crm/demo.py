"""Demo data for ``make run``: one user per role and a realistic spread of tickets.

Rows are inserted directly (not through the services) so seeding does not email anyone.
"""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from crm.auth.models import ACTIVE, PENDING, User
from crm.clock import utcnow
from crm.extensions import db
from crm.tickets.models import Comment, Ticket, TicketChange

DEMO_PASSWORD = "demo-pass-123"

USERS = [
    ("admin", "Ada Admin", "admin@demo.example.com", ACTIVE),
    ("manager", "Maya Manager", "manager@demo.example.com", ACTIVE),
    ("agent", "Aiden Agent", "agent@demo.example.com", ACTIVE),
    ("engineer", "Erin Engineer", "engineer@demo.example.com", ACTIVE),
    ("engineer", "Ezra Engineer", "engineer2@demo.example.com", ACTIVE),
    ("engineer", "Penny Pending", "pending.engineer@demo.example.com", PENDING),
    ("customer", "Carla Customer", "customer@demo.example.com", ACTIVE),
    ("customer", "Colin Customer", "customer2@demo.example.com", ACTIVE),
    ("customer", "Chen Customer", "customer3@demo.example.com", ACTIVE),
]

SUBJECTS = [
    ("Order #1042 arrived damaged", "The box was crushed and the mug inside is broken. Photos attached to my email."),
    ("Refund not received", "I returned my order two weeks ago and still have no refund."),
    ("Cannot log in to my account", "The reset email never arrives; I checked the spam folder."),
    ("Wrong size delivered", "I ordered a medium jacket and received a small one."),
    ("Invoice shows the wrong VAT number", "Please correct the VAT number on invoice INV-2291."),
    ("Tracking link does not work", "The carrier page says the tracking number is unknown."),
    ("Charged twice for one order", "My card statement shows two charges of 59.90 for order #1107."),
    ("Gift card code rejected", "The code from my birthday gift card says 'invalid' at checkout."),
    ("Change delivery address", "I moved last week; can you send order #1188 to my new address?"),
    ("Product page shows wrong price", "The blue kettle is 39.00 on the list but 45.00 in the basket."),
]
REPLIES = ["Thanks for letting us know, we are looking into it.",
           "Could you send us the order number and a photo?",
           "Here are the photos you asked for.",
           "We have issued a replacement; it ships tomorrow.",
           "Thank you, that solved it!"]


def seed_demo(force: bool = False, seed: int = 7) -> dict[str, str] | None:
    """Insert demo users and tickets when the database has no users (or ``force``).

    :returns: {role label: email} of the demo log-ins, or None when skipped.
    """
    if not force and db.session.scalar(select(func.count(User.id))):
        return None
    rng = random.Random(seed)
    now = utcnow()
    users: dict[str, list[User]] = {}
    logins: dict[str, str] = {}
    for role, name, email, status in USERS:
        if db.session.scalar(select(User).where(User.email == email)):
            continue
        u = User(email=email, name=name, role=role, status=status, created_at=now - timedelta(days=40),
                 email_verified_at=now - timedelta(days=40))
        u.set_password(DEMO_PASSWORD)
        db.session.add(u)
        users.setdefault(role, []).append(u)
        label = role if status == ACTIVE else f"{role} (pending)"
        logins.setdefault(label, email)
    db.session.flush()
    engineers = [u for u in users.get("engineer", []) if u.status == ACTIVE]
    customers = users.get("customer", [])
    statuses = ["open", "open", "in_progress", "in_progress", "pending", "resolved", "closed"]
    for i in range(36):
        subject, description = SUBJECTS[i % len(SUBJECTS)]
        created = now - timedelta(days=rng.uniform(0, 30), minutes=rng.randint(0, 600))
        status = statuses[i % len(statuses)]
        requester = customers[i % len(customers)] if customers else None
        if requester is None:
            break
        assignee = engineers[i % len(engineers)] if engineers and (status != "open" or i % 3) else None
        t = Ticket(subject=subject, description=description, priority=rng.choice(["low", "normal", "normal", "high", "urgent"]),
                   status=status, requester_id=requester.id, assignee_id=assignee.id if assignee else None,
                   created_at=created, updated_at=created + timedelta(hours=rng.randint(1, 48)),
                   assigned_at=created if assignee else None)
        if status in ("resolved", "closed"):
            t.resolved_at = t.updated_at
        db.session.add(t)
        db.session.flush()
        db.session.add(TicketChange(ticket_id=t.id, actor_id=requester.id, field="status", before=None,
                                    after="open", created_at=created))
        if assignee:
            db.session.add(TicketChange(ticket_id=t.id, actor_id=None, field="assignee", before=None,
                                        after=assignee.name, created_at=created))
        if status != "open":
            db.session.add(TicketChange(ticket_id=t.id, actor_id=assignee.id if assignee else None,
                                        field="status", before="open", after=status,
                                        created_at=t.updated_at))
        for k in range(rng.randint(0, 3) if status not in ("open",) else 0):
            author = assignee if k % 2 == 0 and assignee else requester
            db.session.add(Comment(ticket_id=t.id, author_id=author.id, body=REPLIES[(i + k) % len(REPLIES)],
                                   public=not (author is assignee and k == 2),
                                   created_at=created + timedelta(hours=k + 1)))
    db.session.commit()
    return logins
