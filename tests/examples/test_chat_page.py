"""The FastAPI example's chat page in a real headless Chromium: type, ask, watch it stream.

Chromium is Debian's package (``/usr/bin/chromium``), driven by Playwright's Python
package with ``executable_path`` (no browser download).  ``.ci/run`` installs it;
where it is missing the test says so and skips.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncsagemaker.emulator import Emulator, run_in_thread
from asyncsagemaker.emulator._demo import demo_answer
from tests.examples._support import AKID, SECRET, load_example
from tests.examples.test_fastapi_sse import serve

example = load_example("fastapi_sse")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Started as this machine needs: no sandbox (root), and nothing that reaches the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)"
)


@pytest.fixture
def chat_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with run_in_thread(Emulator(token_delay=0.02)) as emu:
        settings = example.Settings(endpoint="demo", endpoint_url=emu.url)
        with serve(example.create_app(settings)) as url:
            yield url


def test_the_page_shows_tokens_as_they_arrive_then_why_it_ended(chat_url: str) -> None:
    from playwright.sync_api import sync_playwright

    prompt = "Tell me about Zürich"
    expected = demo_answer(prompt)
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(Path(profile)),  # a fresh profile (--user-data-dir) for this run
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=60_000,
        )
        try:
            page = browser.new_page()
            page.goto(chat_url, timeout=30_000)
            page.fill("#prompt", prompt)
            page.click("#send")
            # part of the answer is on the page while the rest is still streaming
            page.wait_for_function(
                "document.getElementById('answer').textContent.length > 0", timeout=30_000
            )
            first_seen = page.text_content("#answer") or ""
            assert page.text_content("#status") == "streaming"
            assert expected.startswith(first_seen) and first_seen != expected
            page.wait_for_function(
                "document.getElementById('status').textContent.startsWith('finish')",
                timeout=30_000,
            )
            assert page.text_content("#answer") == expected
            status = page.text_content("#status") or ""
            tokens = len(expected.split())
            assert status.startswith("finish: stop")
            assert f"+ {tokens + 1} completion tokens" in status  # the end token counts too
        finally:
            browser.close()
