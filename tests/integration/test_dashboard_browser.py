"""The dashboard in headless Chromium (Debian's package, driven by Playwright) against a
real broker and worker with live simulated traffic."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from stream_apps.tools.simulate import TrafficSimulator
from tests.integration.web_stack import WebStack, broker, small_catalogue

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Traffic(threading.Thread):
    """Simulated users at ``rate`` events/s, answering some recommendations with clicks."""

    def __init__(self, stack: WebStack, items: list[dict[str, Any]], rate: float = 15.0) -> None:
        super().__init__(daemon=True, name="traffic")
        self.stack, self.rate = stack, rate
        self.sim = TrafficSimulator(items, n_users=30, seed=3)
        self.stop_flag = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            for event in self.sim.next_events(time.time(), max(1, int(self.rate / 5))):
                fields = {k: v for k, v in event.items() if k not in ("type", "user_id")}
                self.stack.send_event(event["type"], event["user_id"], **fields)
                self.sent += 1
            self.stop_flag.wait(0.2)

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(timeout=5)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebStack, Traffic]]:
    log_dir = tmp_path_factory.mktemp("dashboard")
    items = small_catalogue(per_category=10, categories=3)
    with broker(log_dir) as bootstrap:
        stack = WebStack(bootstrap, log_dir)
        traffic = Traffic(stack, items)
        try:
            stack.load_items(items)
            stack.wait_ready()
            stack.wait_for("/api/stats", lambda b: b["index"]["items"] >= len(items), timeout=60)
            traffic.start()
            stack.send_raw(stack.names.click, b"bad", b"{not json")  # a row in the error table
            stack.wait_for("/api/stats", lambda b: b["totals"]["recommendations"] > 0 and b["recent_users"])
            yield stack, traffic
        finally:
            traffic.stop()
            stack.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is required: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_the_dashboard_is_live_and_shows_a_users_recommendations(
        live: tuple[WebStack, Traffic], browser: Any) -> None:
    stack, traffic = live
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

    page.goto(stack.base_url + "/dashboard")
    page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=10_000)

    # Numbers change while events flow: the events total in the recommendations card.
    first = page.inner_text("#recs-total")
    page.wait_for_function(f"document.getElementById('recs-total').textContent !== {first!r}",
                           timeout=10_000)
    assert float(page.inner_text('[data-stat="events_per_s"]').replace(",", "")) > 0
    # Charts are drawn (paths in the SVG) and redrawn as points arrive.
    page.wait_for_function("document.querySelectorAll('#chart-throughput path').length >= 3")
    page.wait_for_function("document.querySelectorAll('#chart-latency path').length >= 2")
    before = page.get_attribute("#chart-throughput path:last-of-type", "d")
    page.wait_for_function(f"document.querySelector('#chart-throughput path:last-of-type')"
                           f".getAttribute('d') !== {before!r}", timeout=5_000)
    page.wait_for_selector("#tbl-errors td.reason", timeout=10_000)
    assert "JSON" in page.inner_text("#tbl-errors")
    page.wait_for_selector("#trending .trend-row", timeout=10_000)

    # The user box: pick a recently active user and see recommendations with reasons.
    page.wait_for_selector("#recent-users button")
    page.click("#recent-users button")
    page.wait_for_selector("#user-recs li.rec", timeout=10_000)
    first_rec = page.inner_text("#user-recs li.rec")
    assert first_rec.strip() and page.locator("#user-recs .why").first.inner_text().strip()
    assert page.locator("#user-result .history .chip").count() >= 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert traffic.sent > 0
    assert not problems, problems
    page.close()


def test_an_unknown_user_is_explained_in_the_user_box(live: tuple[WebStack, Traffic], browser: Any) -> None:
    stack, _ = live
    page = browser.new_page()
    page.goto(stack.base_url + "/dashboard")
    page.fill("#user-id", "x" * 256)
    page.fill("#user-scene", "s" * 64)
    page.select_option("#user-k", "5")
    page.click("button[type=submit]")
    page.wait_for_function("document.getElementById('user-result').textContent.includes('no state')",
                           timeout=5_000)
    # The cold-start answer: only trending items, each saying so.
    reasons = page.locator("#user-recs li .why").all_inner_texts()
    assert all(r.startswith("trending") for r in reasons), reasons
    page.close()
