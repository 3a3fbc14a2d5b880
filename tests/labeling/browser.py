"""Helpers for the labeling page's browser tests: the page's stable data-* hooks."""

from __future__ import annotations

ROWS = "#task [data-step-index]"
VISIBLE_ROWS = "#task [data-step-index]:not([hidden])"


def rows(page):
    return page.locator(ROWS)


def visible_rows(page):
    return page.locator(VISIBLE_ROWS)


def row(page, i):
    return page.locator(f'#task [data-step-index="{i}"]')


def current_index(page) -> int:
    return int(page.locator("#task [data-step-index][aria-current=step]").get_attribute("data-step-index"))


def shown_id(page) -> int:
    return int(page.get_attribute("#app", "data-shown-task"))


def wait_task(page, previous: int | None = None) -> int:
    """Wait until a task is on screen (another one than `previous`) and return its assignment id."""
    if previous is None:
        page.wait_for_selector(VISIBLE_ROWS)
    else:
        page.wait_for_function(
            f"document.getElementById('app').dataset.shownTask && "
            f"document.getElementById('app').dataset.shownTask !== '{previous}' && "
            f"!document.getElementById('task').hidden"
        )
    return shown_id(page)


def wait_saved(page):
    page.wait_for_selector("#save-state[data-state=saved]")


def wait_done(page, count: int):
    page.wait_for_function(f"document.getElementById('done-count').textContent === '{count}'")


def pressed(page) -> dict[int, int]:
    """Step index -> the rating whose button is pressed."""
    out = {}
    for b in page.locator("#task [data-step-index] [data-rating][aria-pressed=true]").all():
        li = b.locator("xpath=ancestor::li[1]")
        out[int(li.get_attribute("data-step-index"))] = int(b.get_attribute("data-rating"))
    return out


def flagged(page) -> list[int]:
    return sorted(
        int(f.locator("xpath=ancestor::li[1]").get_attribute("data-step-index"))
        for f in page.locator("#task [data-step-index] [data-action=flag][aria-pressed=true]").all()
    )


def press(page, keys: str):
    """Press each key of a space-separated list: '3 3 1 Enter'."""
    for key in keys.split():
        page.keyboard.press(key)


class HeldRequests:
    """Request interception that holds matching requests until released: a slow network on demand."""

    def __init__(self, page, pattern: str, match):
        self.page, self.pattern, self.match = page, pattern, match
        self.held = []
        self.holding = True
        page.route(pattern, self._handle)

    def _handle(self, route):
        if self.holding and self.match(route.request):
            self.held.append(route)
        else:
            route.fallback()  # to the next handler on the same pattern, else the network

    def wait_held(self, count: int = 1):
        for _ in range(200):  # route handlers run while Playwright waits
            if len(self.held) >= count:
                return
            self.page.wait_for_timeout(25)
        raise AssertionError(f"expected {count} held request(s), got {len(self.held)}")

    def release(self, index: int = 0):
        self.held.pop(index).continue_()

    def stop(self):
        self.holding = False
        while self.held:
            self.held.pop(0).continue_()


def is_prefetch(request) -> bool:
    return request.method == "POST" and '"prefetch":true' in (request.post_data or "")


def is_plain_next(request) -> bool:
    return request.method == "POST" and request.url.endswith("/next/") and not is_prefetch(request)


# Every task id the page puts on screen, in order (a MutationObserver, so the page itself is untouched).
SHOWN_LOG = """
window.__shown = [];
new MutationObserver(function () {
  var id = document.getElementById('app') && document.getElementById('app').dataset.shownTask;
  if (id && window.__shown[window.__shown.length - 1] !== Number(id)) window.__shown.push(Number(id));
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-shown-task']});
"""


def log_shown(page):
    page.add_init_script(SHOWN_LOG)


def shown_log(page) -> list[int]:
    return page.evaluate("window.__shown")
