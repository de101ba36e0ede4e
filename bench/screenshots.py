"""The README's screenshots, taken from the real app in headless Chromium (never drawn by hand).

    IMDB_DATA=../shared/data/imdb python bench/screenshots.py [--models-dir DIR] [--out docs/images]

1. Predict: with a finished run in the models folder (a quick `bow` run is trained with the CLI when there
   is none), types a review on the Predict page, waits for the highlighted words and the top-words chart,
   and saves `predict.png`; then asks what would flip it and saves `flip.png`.
2. Train: starts a longer `lstm` run with the CLI in its own process, logging every few steps and
   validating often, waits until its metrics hold enough points, opens the Train page on it (`?run=`)
   while it runs, waits for the live loss and accuracy charts, and saves `train.png`; then stops the run.

The models folder is a temporary one unless `--models-dir` (or SENTIMENT_MODELS_DIR) names one. Every
process the script starts (training runs, streamlit) is stopped before it exits. `make screenshots`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
QUICK_RUN = "screenshot-bow"
LIVE_RUN = "screenshot-lstm-live"
REVIEW = ("A wonderful film with a great cast and a moving story. The photography is beautiful, "
          "but the plot drags in the middle and the ending is dull and predictable.")
# The live run: enough steps that the page opens while it is still running, a train row every 4 steps so
# that the loss curve has points, and a validation point every 40 steps on a small subset.
LIVE_TRAIN = ["--model", "lstm", "--max-train-samples", "12000", "--max-eval-samples", "500",
              "--max-test-samples", "500", "--epochs", "3", "--logging-steps", "4", "--eval-steps", "40"]
LIVE_TRAIN_ROWS, LIVE_VALIDATION_ROWS = 30, 3  # points on the curves before the page is opened


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def finished_run(models: Path) -> str | None:
    for status in sorted(models.glob("*/status.json")):
        try:
            if json.loads(status.read_text()).get("state") == "finished" and (status.parent / "best").is_dir():
                return status.parent.name
        except (OSError, ValueError):
            continue
    return None


def metric_rows(run_dir: Path) -> tuple[int, int]:
    """(train rows, validation rows) of the run's metrics.csv so far."""
    try:
        with (run_dir / "metrics.csv").open(newline="") as handle:
            splits = [row.get("split") for row in csv.DictReader(handle)]
    except OSError:
        return 0, 0
    return splits.count("train"), splits.count("validation")


def enough_points(run_dir: Path) -> bool:
    train_rows, validation_rows = metric_rows(run_dir)
    return train_rows >= LIVE_TRAIN_ROWS and validation_rows >= LIVE_VALIDATION_ROWS


def run_state(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "status.json").read_text()).get("state")
    except (OSError, ValueError):
        return None


class Processes:
    """Every process the script starts, stopped (process group and all) when it ends."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict, log: Path) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # a training run saves a checkpoint and ends `stopped`
        for process in reversed(self.started):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def train(env: dict, arguments: list[str], log: Path) -> None:
    command = [sys.executable, "-m", "sentiment_core", "train", *arguments]
    print("$", " ".join(command), flush=True)
    with log.open("w") as output:
        finished = subprocess.run(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, check=False)
    if finished.returncode:
        raise SystemExit(f"the quick bow run failed; its log: {log}")


def start_app(processes: Processes, env: dict, log: Path) -> str:
    port = free_port()
    processes.start([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                     "--server.port", str(port), "--server.address", "127.0.0.1",
                     "--browser.gatherUsageStats", "false"], env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return url
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"streamlit did not start; its log: {log}")


def settle(page, milliseconds: int = 1500) -> None:
    """Let Streamlit finish its script run (its 'Running...' indicator gone) and plotly draw."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text("Running...").wait_for(state="hidden", timeout=60_000)
    except PlaywrightTimeout:
        pass  # a live view reruns every 2 s: draw what is there
    page.wait_for_timeout(milliseconds)


def collapse_sidebar(page) -> None:
    """Fold the page list away, as a person would, so the page gets the whole width."""
    page.get_by_test_id("stSidebar").hover()
    button = page.get_by_test_id("stSidebarCollapseButton").locator("button")
    if button.count():
        button.first.click()
        page.wait_for_timeout(800)


def shoot(page, path: Path, top, bottoms, left=None, margin: int = 12) -> None:
    """Screenshot from `top` down to the lowest of `bottoms` (locators), from `left` (or the edge) to the right.

    Streamlit scrolls inside its main block, so the window first grows to the whole page."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height) + 50)})
    settle(page)
    first = top.bounding_box()
    last = max(box["y"] + box["height"] for box in (locator.bounding_box() for locator in bottoms))
    x = max(0, (left.bounding_box()["x"] if left is not None else 0) - margin)
    y = max(0, first["y"] - margin)
    page.screenshot(path=str(path), clip={"x": x, "y": y, "width": VIEWPORT["width"] - x, "height": last + margin - y})
    page.set_viewport_size(VIEWPORT)


def shoot_predict(browser, url: str, out: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(120_000)
    page.goto(f"{url}/predict")
    page.get_by_text("Paste a review and see").wait_for()
    collapse_sidebar(page)
    box = page.locator("textarea").first
    box.fill(REVIEW)
    box.press("Control+Enter")
    page.locator("span.word").first.wait_for()
    page.get_by_text("Top words").first.wait_for()
    box.blur()  # no focus ring on the review
    settle(page)
    shoot(page, out / "predict.png", top=page.get_by_role("heading", name="Predict").first,
          bottoms=[page.locator("span.word:visible").last,  # other tabs hold hidden highlights
                   page.locator(".st-key-single_top .js-plotly-plot").first])
    page.get_by_role("button", name="Find the smallest edit that makes it").click()  # What would flip it
    page.get_by_role("button", name="Load the edited review").first.wait_for()
    settle(page)
    shoot(page, out / "flip.png", top=page.get_by_role("heading", name="What would flip it").first,
          bottoms=[page.get_by_role("button", name="Load the edited review").first])
    page.close()


def shoot_train(browser, url: str, run_id: str, out: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(120_000)
    page.goto(f"{url}/train?run={run_id}")
    heading = page.get_by_role("heading", name=f"Run {run_id}")
    heading.wait_for()
    collapse_sidebar(page)
    charts = [page.locator(f".st-key-{key} .js-plotly-plot").first for key in ("live_loss", "live_accuracy")]
    for chart in charts:
        chart.wait_for()
    settle(page, 3000)  # one more live refresh (every 2 s)
    shoot(page, out / "train.png", top=heading, bottoms=charts, left=heading)
    page.close()


def live_run(processes: Processes, env: dict, models: Path, scratch: Path) -> str:
    """Start the longer training run and wait until its curves have points; return its id."""
    run_id = f"{LIVE_RUN}-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [sys.executable, "-m", "sentiment_core", "train", *LIVE_TRAIN, "--run-id", run_id]
    print("$", " ".join(command), "&", flush=True)
    trainer = processes.start(command, env, scratch / "train-live.log")
    deadline = time.monotonic() + 900
    while not enough_points(models / run_id):
        if trainer.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the live run ended or stalled ({run_state(models / run_id)}); its log: "
                             f"{scratch / 'train-live.log'}")
        time.sleep(2)
    return run_id


def take(args, env: dict, models: Path, scratch: Path, processes: Processes, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    pages = set(args.pages.split(","))
    if "predict" in pages and finished_run(models) is None:
        train(env, ["--model", "bow", "--max-train-samples", "4000", "--max-test-samples", "1000",
                    "--epochs", "2", "--run-id", QUICK_RUN], scratch / "train-quick.log")
    url = start_app(processes, env, scratch / "streamlit.log")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if "predict" in pages:
            shoot_predict(browser, url, out)
            print(f"wrote {out / 'predict.png'} and {out / 'flip.png'}", flush=True)
        if "train" in pages:
            run_id = live_run(processes, env, models, scratch)
            shoot_train(browser, url, run_id, out)
            print(f"wrote {out / 'train.png'} (run {run_id}: {run_state(models / run_id)})", flush=True)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("IMDB_DATA", "../shared/data/imdb"),
                        help="IMDB source (default: IMDB_DATA, else ../shared/data/imdb)")
    parser.add_argument("--models-dir", default=os.environ.get("SENTIMENT_MODELS_DIR"),
                        help="models folder (default: SENTIMENT_MODELS_DIR, else a temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="where the PNGs go")
    parser.add_argument("--pages", default="predict,train", help="which screenshots to take (default: both)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="screenshots-"))
    models = Path(args.models_dir).resolve() if args.models_dir else scratch / "models"
    models.mkdir(parents=True, exist_ok=True)
    data = next((str(path.resolve()) for path in (Path(args.data), ROOT / args.data) if path.exists()), args.data)
    env = {**os.environ, "IMDB_DATA": data, "SENTIMENT_MODELS_DIR": str(models), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    processes = Processes()
    taken = False
    try:
        take(args, env, models, scratch, processes, out)
        taken = True
    finally:
        processes.stop_all()
        if taken:
            shutil.rmtree(scratch, ignore_errors=True)  # logs, and the models when the folder was temporary
        else:
            print(f"kept {scratch} (logs{'' if args.models_dir else ', models'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
