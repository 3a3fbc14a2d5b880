"""The OpenAPI schema documents the error shape on every operation; Swagger UI is served locally."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from labeling.api.schema import ALWAYS, WITH_BODY
from tests.factories import UserFactory

METHODS = {"get", "post", "put", "patch", "delete"}


def test_every_operation_documents_the_error_statuses_in_the_one_shape():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = [(path, m, op) for path, item in schema["paths"].items() for m, op in item.items() if m in METHODS]
    assert len(ops) >= 25
    for path, method, op in ops:
        codes = set(op["responses"])
        assert set(ALWAYS) <= codes, (method, path, codes)
        if method != "get":
            assert set(WITH_BODY) <= codes, (method, path)
        for code in ALWAYS:
            assert op["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
        ok = [c for c in codes if c.startswith("2")]
        assert ok, (method, path)
        # Every success that has a body says what is in it (no untyped objects).
        for c in ok:
            content = op["responses"][c].get("content", {})
            body = content.get("application/json", {}).get("schema")
            if c != "204" and "application/json" not in content:
                # A file or a stream (the export): its media type and a schema are named.
                assert content and all(v.get("schema") for v in content.values()), (method, path, c)
            elif c != "204":
                assert body and body != {"type": "object", "additionalProperties": {}}, (method, path, c)
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "detail"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_under_our_csp_from_local_files_only(browser, live_server):
    user = UserFactory()
    ctx = browser.new_context()  # CSP enforced: the page must run with script-src 'self'
    page = ctx.new_page()
    problems, hosts = [], set()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/api/docs/")
    page.get_by_text("/api/assignments/{id}/submit/").wait_for(timeout=15000)
    assert page.get_by_text("/api/manage/campaigns/{slug}/history/").count() == 1
    ctx.close()
    assert problems == []
    assert hosts == {live_server.url.split("/")[2]}
