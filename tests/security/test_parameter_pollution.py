"""HTTP parameter pollution: a repeated single-valued parameter is refused with 400."""
from __future__ import annotations

from crm.security.params import MULTI_VALUED, form_multi_valued_names, multi_valued


def test_a_repeated_api_query_parameter_is_a_problem(client, make_user, token_for):
    token = token_for(make_user("agent"))
    resp = client.get(
        "/api/v1/tickets?status=open&status=closed", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert "'status'" in resp.json["detail"] and "more than once" in resp.json["detail"]
    ok = client.get("/api/v1/tickets?status=open", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_a_repeated_console_query_parameter_is_an_error_page(client, make_user, login):
    login(make_user("agent"))
    resp = client.get("/tickets/?priority=high&priority=low")
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "more than once" in resp.get_data(as_text=True)
    assert client.get("/tickets/?priority=high").status_code == 200


def test_a_repeated_form_field_is_refused(client, make_user):
    user = make_user("customer")
    resp = client.post(
        "/auth/login", data={"email": [user.email, "other@example.com"], "password": "x-x-x-x-x"}
    )
    assert resp.status_code == 400
    assert "more than once" in resp.get_data(as_text=True)


def test_a_repeated_parameter_is_refused_even_before_authentication(client):
    resp = client.get("/api/v1/tickets?cursor=a&cursor=b")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"


def test_declared_multi_valued_fields_are_accepted(client, make_user, login):
    assert "roles" in MULTI_VALUED["auth.totp_policy"]
    login(make_user("admin"))
    resp = client.post("/auth/2fa/policy", data={"roles": ["engineer", "agent"]})
    assert resp.status_code == 302


def test_multiple_choice_fields_of_any_form_are_found_by_themselves():
    from flask_wtf import FlaskForm
    from wtforms import SelectMultipleField, StringField

    class _TagsForm(FlaskForm):
        tags = SelectMultipleField("Tags", choices=[("a", "A"), ("b", "B")])
        title = StringField("Title")

    names = form_multi_valued_names()
    assert "tags" in names and "title" not in names
    assert "roles" in names  # the two-factor policy's checkboxes


def test_the_decorator_declares_names():
    @multi_valued("tag")
    def view():
        return None

    assert view.crm_multi_valued == frozenset({"tag"})
