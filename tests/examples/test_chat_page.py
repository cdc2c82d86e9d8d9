"""The FastAPI example's chat page in a real headless Chromium: type, ask, watch it stream.

Chromium is Debian's package (``/usr/bin/chromium``), driven by Playwright's Python
package with ``executable_path`` (no browser download).  ``.ci/run`` installs it;
where it is missing the test says so and skips.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from asyncsagemaker.emulator import Emulator, Faults, run_in_thread
from asyncsagemaker.emulator._demo import demo_answer
from tests.examples._support import AKID, SECRET, Child, load_example, wait_until
from tests.examples.test_fastapi_sse import serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
def emulator() -> Iterator[Emulator]:
    with run_in_thread(Emulator(token_delay=0.02)) as emu:
        yield emu


@pytest.fixture
def chat_url(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    settings = example.Settings(endpoint="demo", endpoint_url=emulator.url)
    with serve(example.create_app(settings)) as url:
        yield url


@contextlib.contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of a headless Chromium with a fresh profile, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(Path(profile)),  # a fresh profile (--user-data-dir) for this run
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=60_000,
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def ask(page: Page, prompt: str) -> None:
    page.fill("#prompt", prompt)
    page.click("#send")


def wait_for_status(page: Page, start: str) -> str:
    page.wait_for_function(
        f"document.getElementById('status').textContent.startsWith({start!r})", timeout=30_000
    )
    return page.text_content("#status") or ""


def test_the_page_shows_tokens_as_they_arrive_then_why_it_ended(chat_url: str) -> None:
    prompt = "Tell me about Zürich"
    expected = demo_answer(prompt)
    with chromium_page() as page:
        page.goto(chat_url, timeout=30_000)
        ask(page, prompt)
        # part of the answer is on the page while the rest is still streaming
        page.wait_for_function(
            "document.getElementById('answer').textContent.length > 0", timeout=30_000
        )
        first_seen = page.text_content("#answer") or ""
        assert page.text_content("#status") == "streaming"
        assert expected.startswith(first_seen) and first_seen != expected
        status = wait_for_status(page, "finish")
        assert page.text_content("#answer") == expected
        tokens = len(expected.split())
        assert status.startswith("finish: stop")
        assert f"+ {tokens + 1} completion tokens" in status  # the end token counts too


def test_asking_again_while_an_answer_streams_stops_the_first(
    chat_url: str, emulator: Emulator
) -> None:
    first, second = "Tell me about Zürich", "What about Lyon?"
    with chromium_page() as page:
        page.goto(chat_url, timeout=30_000)
        ask(page, first)
        page.wait_for_function(
            "document.getElementById('answer').textContent.length > 0", timeout=30_000
        )
        assert page.text_content("#status") == "streaming"
        ask(page, second)
        wait_for_status(page, "finish")
        # Only the second answer, whole: not the two interleaved word by word.
        assert page.text_content("#answer") == demo_answer(second)
        assert (page.text_content("#status") or "").startswith("finish: stop")
    # The first answer's stream was closed early on the server: nobody reads it any more.
    outcomes = [record.outcome for record in emulator.records]
    assert len(outcomes) == 2 and outcomes[1] == "ok" and outcomes[0] != "ok"


def test_a_server_that_dies_ends_streaming_with_an_error(emulator: Emulator) -> None:
    relay = Child(
        "fastapi_sse.py",
        ["--endpoint", "demo", "--endpoint-url", emulator.url, "--port", "0"],
    )
    try:
        wait_until(lambda: "Uvicorn running on" in relay.stderr, 60, "uvicorn start-up")
        match = re.search(r"Uvicorn running on (http://\S+)", relay.stderr)
        assert match is not None, relay.describe("no URL")
        with chromium_page() as page:
            page.goto(match.group(1), timeout=30_000)
            ask(page, "Tell me about Zürich")
            page.wait_for_function(
                "document.getElementById('answer').textContent.length > 0", timeout=30_000
            )
            relay.process.kill()  # the server dies in the middle of the answer
            relay.wait(30)
            status = wait_for_status(page, "error")
            assert "[error]" in (page.text_content("#answer") or "")
            assert "ended before it was complete" in status or "cannot be reached" in status
            ask(page, "Anyone there?")  # and a question to a server that is gone
            status = wait_for_status(page, "error")
            assert "cannot be reached" in status
            assert (page.text_content("#answer") or "").startswith("[error] ")
    finally:
        relay.kill()


def test_an_error_in_the_middle_of_the_answer_is_shown_as_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    broken = Emulator(token_delay=0.02, faults={"demo": Faults(stream_error_after=3)})
    with run_in_thread(broken) as emu:
        settings = example.Settings(endpoint="demo", endpoint_url=emu.url)
        with serve(example.create_app(settings)) as url, chromium_page() as page:
            page.goto(url, timeout=30_000)
            ask(page, "Tell me about Zürich")
            status = wait_for_status(page, "error")
            answer = page.text_content("#answer") or ""
    assert demo_answer("Tell me about Zürich").startswith(answer.split("\n[error] ")[0])
    assert "\n[error] " in answer and status.startswith("error: ")
