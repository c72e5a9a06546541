"""The OpenAPI document matches the routes; the /docs page; API-wide error behaviour."""
import re

import pytest

from crm.auth.policy import POLICY, PUBLIC
from tests.api.conftest import assert_problem

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def _api_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            yield rule, _CONVERTER.sub(r"{\1}", rule.rule)


@pytest.fixture
def document(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return resp.json


def test_document_is_openapi_3_1_with_bearer_auth(document):
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert document["security"] == [{"bearerAuth": []}]


def test_every_api_rule_is_documented(app, document):
    rules = list(_api_rules(app))
    assert len(rules) >= 15
    for rule, path in rules:
        assert path in document["paths"], rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {rule.rule}"


def test_every_documented_operation_is_routed(app, document):
    routed = {(path, m.lower()) for rule, path in _api_rules(app) for m in rule.methods}
    for path, item in document["paths"].items():
        for method in item:
            assert (path, method) in routed, f"{method} {path}"


def test_every_api_view_declares_a_known_permission(app):
    for rule, _path in _api_rules(app):
        permission = getattr(app.view_functions[rule.endpoint], "crm_permission", None)
        assert permission == PUBLIC or permission in POLICY, rule.rule


def test_public_operations_need_no_token_and_others_do(document):
    public = {
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/token"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/heartbeat/{token}"),
        ("get", "/api/v1/heartbeat/{token}"),
        ("post", "/api/v1/auth/password-reset"),
        ("post", "/api/v1/auth/password-reset/confirm"),
        ("post", "/api/v1/auth/password-reset/sms"),
        ("post", "/api/v1/auth/password-reset/sms/confirm"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/webhooks/shopify/{connection_id}"),
    }  # signed by the shop
    for path, item in document["paths"].items():
        for method, op in item.items():
            if (method, path) in public:
                assert op["security"] == []
            else:
                assert "security" not in op  # inherits bearerAuth
                assert {"401", "403"} <= set(op["responses"])


def test_token_documents_its_own_refusals(document):
    responses = document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert responses["401"]["description"] == "Wrong email or password."
    assert "pending" in responses["403"]["description"]
    assert "401" not in document["paths"]["/api/v1/auth/register"]["post"]["responses"]


def test_errors_are_documented_as_problem_json(document):
    for item in document["paths"].values():
        for op in item.values():
            for code, response in op["responses"].items():
                if int(code) >= 400:
                    assert response["content"] == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }


def test_schemas_come_from_the_request_models(document):
    schemas = document["components"]["schemas"]
    ticket_in = schemas["TicketIn"]
    assert ticket_in["properties"]["subject"]["maxLength"] == 200
    assert ticket_in["properties"]["priority"]["enum"] == ["low", "normal", "high", "urgent"]
    assert ticket_in["additionalProperties"] is False
    create = document["paths"]["/api/v1/tickets"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TicketIn"
    }
    assert "201" in create["responses"]
    params = {p["name"]: p for p in document["paths"]["/api/v1/tickets"]["get"]["parameters"]}
    assert {
        "status",
        "priority",
        "assignee",
        "requester",
        "created_after",
        "created_before",
        "q",
        "active",
        "limit",
        "cursor",
    } <= set(params)
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 25,
    }
    item = document["paths"]["/api/v1/tickets/{ticket_id}"]["get"]
    assert item["parameters"][0]["in"] == "path" and item["parameters"][0]["required"] is True


def test_every_reference_resolves(document):
    text = str(document)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in document["components"]["schemas"], name


def test_docs_page_loads_swagger_ui_without_inline_scripts(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "vendor/swagger-ui/swagger-ui.css" in html
    assert "vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "js/docs.js" in html
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    assert "Authorization: Bearer" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script> found"
    for asset in ("/static/js/docs.js", "/static/vendor/swagger-ui/swagger-ui-bundle.js"):
        assert client.get(asset).status_code == 200


def test_unknown_api_path_is_404_problem(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_405_problem(client):
    assert_problem(client.delete("/api/v1/tickets"), 405)


def test_api_posts_need_no_csrf_token(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        resp = app.test_client().post(
            "/api/v1/auth/register",
            json={
                "email": "csrf@example.com",
                "password": "long-enough-1",
                "name": "C",
                "role": "customer",
            },
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert resp.status_code == 201
