import json
import os
import re
import signal
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from sentiment_core.core import runs
from tests.browser.conftest import screenshot
from tests.conftest import write_parquet_dir

pytestmark = pytest.mark.browser
STEP = re.compile(r"step ([\d,]+) / ([\d,]+)")


def _step(page) -> int:
    """The step the live view shows; -1 while it shows none (queued, or between two refreshes)."""
    try:
        text = page.get_by_test_id("stProgress").first.inner_text(timeout=5_000)
    except PlaywrightTimeout:
        return -1
    match = STEP.search(text)
    return int(match.group(1).replace(",", "")) if match else -1


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _open_train_page(page, url: str) -> None:
    # through the sidebar, as a person would
    page.goto(url)
    link = page.get_by_test_id("stSidebarNav").get_by_text("Train", exact=True)
    link.wait_for(timeout=120_000)
    link.click()


@pytest.fixture
def models(tmp_path):
    """The app's models folder; any training process still alive at the end is terminated."""
    folder = tmp_path / "models"
    yield folder
    for status_file in folder.glob("*/status.json"):
        pid = json.loads(status_file.read_text()).get("pid")
        if pid and runs.pid_alive(pid):
            os.kill(pid, signal.SIGTERM)  # stops cleanly, like the STOP file


def test_start_watch_and_stop_a_run_in_chromium(streamlit_app, browser_page, tmp_path, models, monkeypatch):
    data = write_parquet_dir(tmp_path / "imdb", n_train=400, n_test=40)
    url = streamlit_app({"IMDB_DATA": str(data), "SENTIMENT_MODELS_DIR": str(models)})
    page = browser_page
    _open_train_page(page, url)
    page.get_by_role("heading", name="🏋️ Train").wait_for(timeout=60_000)
    page.get_by_role("button", name="🚀 Train the quick bow baseline").wait_for(timeout=60_000)
    assert page.get_by_text("CPU (no GPU found)").first.is_visible() or page.get_by_text("GPU:").first.is_visible()

    for label, value in (("Epochs", "200"), ("Batch size", "8"), ("Max length (tokens)", "64")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Tab")
    page.get_by_role("button", name="▶️ Start training").click()
    page.get_by_text("Started run").wait_for(timeout=60_000)
    # the URL keeps the run: a reload or a second tab finds it
    _wait_for(lambda: "run=bow-bce-" in page.url, 15, f"the run id in the URL ({page.url})")

    _wait_for(lambda: _step(page) >= 5, 180, "the first training steps")
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)  # loss and accuracy charts
    first = _step(page)
    _wait_for(lambda: _step(page) > first, 60, "the step count to move on its own (auto-refresh)")
    page.get_by_text("samples/s").first.wait_for(timeout=10_000)

    # a reload without ?run= finds the running run again
    _open_train_page(page, url)
    page.get_by_role("button", name="⏹️ Stop").wait_for(timeout=60_000)
    _wait_for(lambda: _step(page) > first, 60, "the live view after the reload")
    screenshot(page, "train-running.png", settle_ms=2_500)  # one more refresh: validation points on the charts

    page.get_by_role("button", name="⏹️ Stop").click()
    page.get_by_text("Stopped at step").wait_for(timeout=60_000)
    page.get_by_role("button", name="⏯️ Resume").wait_for(timeout=10_000)
    run_id = next(p.name for p in models.iterdir())
    monkeypatch.setenv("SENTIMENT_MODELS_DIR", str(models))
    from sentiment_core.core.settings import get_settings

    get_settings.cache_clear()
    assert runs.read_status(runs.run_path(run_id))["state"] == "stopped"
    assert runs.last_checkpoint(runs.run_path(run_id)) is not None
    stopped_step = _step(page)
    screenshot(page, "train-stopped.png")

    # resume: a new process continues from the checkpoint, the live view refreshes again
    page.get_by_role("button", name="⏯️ Resume").click()
    page.get_by_role("button", name="⏹️ Stop").wait_for(timeout=60_000)
    _wait_for(lambda: _step(page) > stopped_step, 180, "the resumed run to make progress")
    page.get_by_role("button", name="⏹️ Stop").click()
    page.get_by_role("button", name="⏯️ Resume").wait_for(timeout=60_000)
    assert runs.read_status(runs.run_path(run_id))["state"] == "stopped"
