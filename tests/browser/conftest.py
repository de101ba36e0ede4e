"""A real `streamlit run app.py` on 127.0.0.1 and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
KEEP_SCREENSHOTS = os.environ.get("TEST_SCREENSHOTS") == "1"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def screenshot(page, name: str, settle_ms: int = 0) -> None:
    """With TEST_SCREENSHOTS=1, keep a picture of the whole page in artifacts/screenshots for a person to look
    at (the checks never read it); otherwise nothing, at no cost."""
    if not KEEP_SCREENSHOTS:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Streamlit scrolls inside its main block: grow the window to the page so the shot holds it all
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(1000, int(height) + 50)})
    page.wait_for_timeout(1_500 + settle_ms)  # let plotly and the tables redraw at the new size
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def streamlit_app(tmp_path):
    """Start the app with the environment the test sets; yield a function that starts it."""
    processes = []

    def start(env: dict[str, str]) -> str:
        port = _free_port()
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        log = open(tmp_path / f"streamlit-{port}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"),
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=tmp_path, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return url
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not start: {(tmp_path / f'streamlit-{port}.log').read_text()}")

    yield start
    for process in processes:
        process.kill()  # a test's server keeps nothing worth a graceful shutdown
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (not per session: Playwright's event loop would stay on for the
    tests after, where asyncio.run refuses to start); each test gets its own context and page."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()
