"""User management by managers and admins: create, edit, deactivate, delete (anonymise).

Rules: managers manage every account but admins'; only an admin creates an admin or changes
anyone's role to or from admin; destructive actions need a confirmation step; a deleted
user's tickets keep their history.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.admin import services as user_admin
from crm.api.tokens import TokenFamily
from crm.auth.models import User
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.sessions.models import UserSession
from crm.tickets import services as tickets
from crm.tickets.models import Comment, Ticket, TicketChange
from tests.conftest import PASSWORD
from tests.sessions.conftest import is_login_redirect

NEW = {"name": "Nina New", "email": "Nina.New@Example.com", "role": "agent", "status": "active",
       "password": "initial-pass-123", "confirm": "initial-pass-123"}


def _user(user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def _text(resp) -> str:
    return resp.get_data(as_text=True)


# ------------------------------------------------------------------ create

@pytest.mark.parametrize("actor_role", ["manager", "admin"])
def test_manager_and_admin_create_a_user_who_can_log_in(browser, make_user, actor_role):
    me = browser().log_in(make_user(actor_role))
    assert "Create user" in _text(me.get("/admin/users/new"))
    resp = me.post("/admin/users/new", data=NEW)
    assert resp.status_code == 302, _text(resp)[:500]
    user = db.session.scalar(select(User).where(User.email == "nina.new@example.com"))
    assert (user.name, user.role, user.status, user.is_verified) == (
        "Nina New",
        "agent",
        "active",
        True,
    )
    assert resp.headers["Location"].endswith(f"/admin/users/{user.id}")
    assert (
        browser()
        .post("/auth/login", data={"email": "nina.new@example.com", "password": "initial-pass-123"})
        .status_code
        == 302
    )


@pytest.mark.parametrize(
    "overrides, field, status",
    [
        ({"email": "not-an-email"}, "email", 422),
        ({"name": ""}, "name", 422),
        ({"password": "short", "confirm": "short"}, "password", 422),
        ({"confirm": "something-else"}, "confirm", 422),
        ({"role": "wizard"}, "role", 422),
    ],
)
def test_create_user_validation_re_renders_with_field_messages(
    browser, make_user, overrides, field, status
):
    me = browser().log_in(make_user("admin"))
    resp = me.post("/admin/users/new", data={**NEW, **overrides})
    assert resp.status_code == status
    assert f'id="{field}-errors"' in _text(resp)
    assert db.session.scalar(select(User).where(User.email == "nina.new@example.com")) is None


def test_create_user_with_a_taken_email_is_refused(browser, make_user):
    make_user("customer", email="nina.new@example.com")
    me = browser().log_in(make_user("manager"))
    resp = me.post("/admin/users/new", data=NEW)
    assert resp.status_code == 422 and "already exists" in _text(resp)


def test_manager_cannot_create_an_admin(browser, make_user):
    manager = make_user("manager")
    me = browser().log_in(manager)
    page = _text(me.get("/admin/users/new"))
    assert 'value="admin"' not in page  # not offered
    resp = me.post("/admin/users/new", data={**NEW, "role": "admin"})
    assert resp.status_code == 422
    assert db.session.scalar(select(User).where(User.role == "admin")) is None
    with pytest.raises(NotAllowed):  # and the service refuses it whatever the form offers
        user_admin.create_user(
            manager, email="x@example.com", name="X", role="admin", password=PASSWORD
        )
    assert db.session.scalar(select(User).where(User.email == "x@example.com")) is None


def test_admin_creates_an_admin(browser, make_user):
    me = browser().log_in(make_user("admin"))
    assert me.post("/admin/users/new", data={**NEW, "role": "admin"}).status_code == 302
    assert (
        db.session.scalar(select(User).where(User.email == "nina.new@example.com")).role == "admin"
    )


# ------------------------------------------------------------------ edit


def test_manager_edits_name_email_role_and_status(browser, make_user):
    me = browser().log_in(make_user("manager"))
    user = make_user("customer")
    resp = me.post(
        f"/admin/users/{user.id}",
        data={
            "name": "Renamed Person",
            "email": "Renamed@Example.com",
            "role": "engineer",
            "status": "active",
        },
    )
    assert resp.status_code == 302, _text(resp)[:500]
    u = _user(user.id)
    assert (u.name, u.email, u.role, u.status) == (
        "Renamed Person",
        "renamed@example.com",
        "engineer",
        "active",
    )


def test_edit_with_a_taken_email_is_refused(browser, make_user):
    other = make_user("customer")
    user = make_user("customer")
    me = browser().log_in(make_user("admin"))
    resp = me.post(
        f"/admin/users/{user.id}",
        data={"name": user.name, "email": other.email, "role": "customer", "status": "active"},
    )
    assert resp.status_code == 422 and "already exists" in _text(resp)
    assert _user(user.id).email != other.email


@pytest.mark.parametrize("target_role, new_role", [("customer", "admin"), ("agent", "admin")])
def test_manager_cannot_make_anyone_admin(browser, make_user, target_role, new_role):
    manager = make_user("manager")
    target = make_user(target_role)
    me = browser().log_in(manager)
    resp = me.post(
        f"/admin/users/{target.id}",
        data={"name": target.name, "email": target.email, "role": new_role, "status": "active"},
    )
    assert resp.status_code in (403, 422)
    assert _user(target.id).role == target_role
    with pytest.raises(NotAllowed):
        user_admin.update_user(manager, _user(target.id), role="admin")
    db.session.rollback()
    assert _user(target.id).role == target_role


def test_manager_cannot_change_or_remove_an_admin(browser, make_user):
    manager, admin = make_user("manager"), make_user("admin")
    me = browser().log_in(manager)
    page = me.get(f"/admin/users/{admin.id}")
    assert page.status_code == 200 and "Only an admin can change an admin" in _text(page)
    resp = me.post(
        f"/admin/users/{admin.id}",
        data={"name": "Hijacked", "email": admin.email, "role": "customer", "status": "active"},
    )
    assert resp.status_code == 403
    for action in ("deactivate", "delete"):
        assert me.get(f"/admin/users/{admin.id}/{action}").status_code == 403
        assert (
            me.post(f"/admin/users/{admin.id}/{action}", data={"confirm": "yes"}).status_code == 403
        )
    u = _user(admin.id)
    assert (u.name, u.role, u.status) == (admin.name, "admin", "active")
    with pytest.raises(NotAllowed):
        user_admin.delete_user(manager, u)


def test_admin_demotes_an_admin_and_promotes_a_manager(browser, make_user):
    me = browser().log_in(make_user("admin"))
    other_admin, manager = make_user("admin"), make_user("manager")
    assert (
        me.post(
            f"/admin/users/{other_admin.id}", data={"role": "agent", "status": "active"}
        ).status_code
        == 302
    )
    assert (
        me.post(
            f"/admin/users/{manager.id}", data={"role": "admin", "status": "active"}
        ).status_code
        == 302
    )
    assert (_user(other_admin.id).role, _user(manager.id).role) == ("agent", "admin")


def test_nobody_deactivates_or_deletes_themselves(browser, make_user):
    manager = make_user("manager")
    me = browser().log_in(manager)
    resp = me.post(f"/admin/users/{manager.id}", data={"role": "manager", "status": "disabled"})
    assert resp.status_code == 422 and "cannot demote or deactivate" in _text(resp)
    resp = me.post(f"/admin/users/{manager.id}/delete", data={"confirm": "yes"})
    assert resp.status_code == 409 and "cannot delete your own" in _text(resp)
    assert _user(manager.id).status == "active"


@pytest.mark.parametrize("role", ["customer", "engineer", "agent"])
def test_other_roles_cannot_manage_users(browser, make_user, role):
    target, actor = make_user("customer"), make_user(role)
    me = browser().log_in(actor)
    assert me.get("/admin/users").status_code == 403
    assert me.post(f"/admin/users/{target.id}/delete", data={"confirm": "yes"}).status_code == 403
    assert me.post("/admin/users/new", data=NEW).status_code == 403
    with pytest.raises(NotAllowed):
        user_admin.deactivate_user(_user(actor.id), _user(target.id))
    assert _user(target.id).status == "active"


# ------------------------------------------------------------------ deactivate


def test_deactivation_needs_confirmation_ends_sessions_and_tokens(browser, make_user, client):
    me = browser().log_in(make_user("manager"))
    victim = make_user("engineer")
    theirs = browser().log_in(victim)
    token = client.post(
        "/api/v1/auth/token", json={"email": victim.email, "password": PASSWORD}
    ).json
    page = me.get(f"/admin/users/{victim.id}/deactivate")
    assert (
        page.status_code == 200 and "Deactivate" in _text(page) and 'name="confirm"' in _text(page)
    )
    unconfirmed = me.post(f"/admin/users/{victim.id}/deactivate", data={})
    assert unconfirmed.status_code == 422 and "confirm" in _text(unconfirmed)
    assert _user(victim.id).status == "active"
    resp = me.post(f"/admin/users/{victim.id}/deactivate", data={"confirm": "yes"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        f"/admin/users/{victim.id}"
    )
    assert _user(victim.id).status == "disabled"
    assert is_login_redirect(theirs.get("/tickets/"))
    sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == victim.id)).all()
    assert [s.end_reason for s in sessions] == ["account_disabled"]
    assert db.session.scalars(
        select(TokenFamily.revoke_reason).where(TokenFamily.user_id == victim.id)
    ).all() == ["account_disabled"]
    api = client.get(
        "/api/v1/tickets", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert api.status_code == 401
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": token["refresh_token"]}
        ).status_code
        == 401
    )
    again = me.post(f"/admin/users/{victim.id}/deactivate", data={"confirm": "yes"})
    assert again.status_code == 409 and "already deactivated" in _text(again)


def test_status_disabled_in_the_edit_form_publishes_deactivation(browser, make_user):
    me = browser().log_in(make_user("admin"))
    victim = make_user("agent")
    theirs = browser().log_in(victim)
    assert (
        me.post(
            f"/admin/users/{victim.id}", data={"role": "agent", "status": "disabled"}
        ).status_code
        == 302
    )
    assert is_login_redirect(theirs.get("/tickets/"))


# ------------------------------------------------------------------ delete


def test_deleting_a_customer_anonymises_them_and_keeps_ticket_history(browser, make_user):
    admin = make_user("admin")
    engineer = make_user("engineer")
    customer = make_user("customer", name="Carla Private", email="carla@example.com")
    ticket = tickets.create_ticket(customer, "Printer on fire", "Smoke everywhere", "normal")
    tickets.add_comment(ticket, customer, "Still smoking", public=True)
    tickets.edit_content(ticket, customer, "Printer on fire!", None)
    theirs = browser().log_in(customer)
    me = browser().log_in(admin)
    page = me.get(f"/admin/users/{customer.id}/delete")
    assert page.status_code == 200 and "anonymised" in _text(page) and "1 ticket" in _text(page)
    assert me.post(f"/admin/users/{customer.id}/delete", data={}).status_code == 422
    assert _user(customer.id).email == "carla@example.com"
    resp = me.post(f"/admin/users/{customer.id}/delete", data={"confirm": "yes"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/users")

    u = _user(customer.id)
    assert u is not None  # the row stays: every reference keeps pointing at it
    assert (u.name, u.email, u.status) == (
        f"Deleted user #{u.id}",
        f"deleted-{u.id}@deleted.invalid",
        "disabled",
    )
    assert u.phone is None and u.totp_secret is None and not u.check_password(PASSWORD)
    assert db.session.scalar(select(UserSession).where(UserSession.user_id == u.id)) is None
    assert is_login_redirect(theirs.get("/portal/"))
    t = db.session.get(Ticket, ticket.id)
    assert t.requester_id == u.id and t.subject == "Printer on fire!"
    comment = db.session.scalar(select(Comment).where(Comment.ticket_id == ticket.id))
    assert (comment.author_id, comment.body) == (u.id, "Still smoking")
    change = db.session.scalar(
        select(TicketChange).where(
            TicketChange.ticket_id == ticket.id, TicketChange.field == "subject"
        )
    )
    assert (change.actor_id, change.before, change.after) == (
        u.id,
        "Printer on fire",
        "Printer on fire!",
    )
    # staff still see the ticket and who raised it
    staff = browser().log_in(engineer)
    detail = staff.get(f"/tickets/{ticket.id}")
    assert detail.status_code == 200 and f"Deleted user #{u.id}" in _text(detail)
    assert "Carla Private" not in _text(detail)
    # the address is free again and the deleted account cannot be edited or deleted twice
    assert (
        browser()
        .post("/auth/login", data={"email": "carla@example.com", "password": PASSWORD})
        .status_code
        == 401
    )
    assert me.post(f"/admin/users/{u.id}/delete", data={"confirm": "yes"}).status_code == 409
    with pytest.raises(ServiceError):
        user_admin.update_user(admin, u, name="Back again")


def test_manager_deletes_an_engineer_with_assigned_tickets(browser, make_user):
    manager, customer = make_user("manager"), make_user("customer")
    engineer = make_user("engineer")
    ticket = tickets.create_ticket(customer, "Broken", "It is broken", "normal")
    assert db.session.get(Ticket, ticket.id).assignee_id == engineer.id
    me = browser().log_in(manager)
    assert me.post(f"/admin/users/{engineer.id}/delete", data={"confirm": "yes"}).status_code == 302
    assert db.session.get(Ticket, ticket.id).assignee_id == engineer.id
    assert _user(engineer.id).status == "disabled"


def test_user_list_links_to_new_user_and_managers_see_the_users_nav(browser, make_user):
    me = browser().log_in(make_user("manager"))
    page = _text(me.get("/admin/users"))
    assert 'href="/admin/users/new"' in page
    nav = page.split('aria-label="Main navigation"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/admin/users"' in nav
