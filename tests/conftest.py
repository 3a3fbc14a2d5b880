"""Shared fixtures. The database is real PostgreSQL (embedded unless DATABASE_URL
is set) and Redis is real Redis (embedded unless REDIS_URL is set)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent


def pytest_unconfigure(config):
    # Stop the embedded servers only if this session started them.
    from annotate import embedded

    embedded.stop_started_here()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def prm800k_records_path() -> Path:
    return FIXTURES / "prm800k_real_records.jsonl"


@pytest.fixture
def demo_file() -> Path:
    return REPO / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl"


@pytest.fixture
def write_jsonl(tmp_path):
    """Write lines (dicts are JSON-encoded, strings written as-is) to a temp file."""
    import json

    def write(lines, name="data.jsonl") -> Path:
        path = tmp_path / name
        with open(path, "w") as fh:
            for line in lines:
                fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
        return path

    return write


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (`make test` installs it when missing)."""
    import os

    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    # Playwright's sync API keeps an asyncio loop in this thread, which makes
    # Django refuse ORM calls from the test body; they are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield b
            b.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def login_page(browser, live_server):
    """Open a fresh browser context logged in as `user` (password from UserFactory)."""
    contexts = []

    def open_as(user, path="/", viewport=None):
        viewport = viewport or {"width": 1280, "height": 900}
        # bypass_csp: Playwright's wait_for_function evaluates strings, which our
        # CSP forbids; it also means the XSS test checks the sanitiser alone.
        ctx = browser.new_context(viewport=viewport, bypass_csp=True)
        ctx.set_default_timeout(10000)
        contexts.append(ctx)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", "pw-for-tests-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        if path != "/":
            page.goto(f"{live_server.url}{path}")
        return page

    yield open_as
    for ctx in contexts:
        # Let in-flight requests (the page prefetches the next task) finish
        # before the database is flushed: a request still holding row locks
        # deadlocks with the flush's TRUNCATE. The labeling page would also
        # send a release beacon for its task fetched ahead as it closes, racing
        # the flush: give that task back here first, and wait for the answer.
        for page in ctx.pages:
            try:
                page.evaluate(RELEASE_AHEAD)
                page.wait_for_load_state("networkidle", timeout=5000)
            except Exception:  # noqa: S110 - best effort; closing follows regardless
                pass
        ctx.close()


RELEASE_AHEAD = """async () => {
  const labeler = window.PRMLabeler;
  if (!labeler) return;
  // Let a fetch ahead that is on the wire land, then stop the page from starting more.
  for (let i = 0; i < 60 && labeler.state.prefetching; i++) await new Promise(r => setTimeout(r, 50));
  labeler.state.task = null;
  if (!labeler.state.ahead) return;
  const id = labeler.state.ahead.id;
  labeler.state.ahead = null;
  const token = (document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/) || [])[1] || "";
  await fetch(`/api/assignments/${id}/release/`, {method: "POST", headers: {"X-CSRFToken": token}});
}"""
