"""How fast the Dataset page renders in a real browser on the full dataset.

    IMDB_DATA=../shared/data/imdb python bench/page_bench.py [--repeats 1] [--fresh-data-cache] [--json]

Each repeat starts a fresh `streamlit run app.py` on a free 127.0.0.1 port (nothing cached in
memory), opens /dataset in Debian's headless Chromium (Playwright) and times until the page's
last section ("N reviews match") is drawn: the first render, everything included (the browser
loading the app, imports, reading the data, every EDA table and chart). Then, five times, Home
and back to Dataset: the revisit is the median from the click until the last section is drawn
again. Prints both and whether the targets (first < 10 s, revisit < 1 s) are met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TARGET_FIRST_S, TARGET_REVISIT_S = 10.0, 1.0
DONE_TEXT = "reviews match"  # the caption of the review browser, the page's last section
HOME_TEXT = "Training and prediction run on"
REVISITS = 5  # the revisit figure is their median


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(log_path: Path, data_cache: str | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **({"HF_DATASETS_CACHE": data_cache} if data_cache else {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"streamlit did not start; its log: {log_path}")


def measure(browser, url: str) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(180_000)
    started = time.monotonic()
    page.goto(f"{url}/dataset")
    page.get_by_text(DONE_TEXT).wait_for()
    first = time.monotonic() - started
    nav = page.get_by_test_id("stSidebarNav")
    revisits = []
    for _ in range(REVISITS):
        nav.get_by_text("Home", exact=True).click()
        page.get_by_text(DONE_TEXT).wait_for(state="detached")
        page.get_by_text(HOME_TEXT).wait_for()
        page.wait_for_timeout(500)  # let Home finish drawing: the revisit starts from a settled page
        started = time.monotonic()
        nav.get_by_text("Dataset", exact=True).click()
        page.get_by_text(DONE_TEXT).wait_for()
        revisits.append(time.monotonic() - started)
    page.close()
    return {"first_render_s": round(first, 2), "revisit_s": round(statistics.median(revisits), 2),
            "revisits_s": [round(r, 2) for r in revisits]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="fresh servers to measure (default 1)")
    parser.add_argument("--fresh-data-cache", action="store_true",
                        help="give each server an empty Hugging Face datasets cache: the first read of the source ever")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line too")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian's chromium is needed: apt-get install chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    print(f"data: {os.environ.get('IMDB_DATA', '(default source)')}")
    results = []
    with tempfile.TemporaryDirectory() as logs, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for repeat in range(args.repeats):
            cache = str(Path(logs) / f"hf-cache-{repeat}") if args.fresh_data_cache else None
            process, url = start_app(Path(logs) / f"streamlit-{repeat}.log", cache)
            try:
                result = measure(browser, url)
            finally:
                process.terminate()
                process.wait(timeout=30)
            results.append(result)
            print(f"fresh server {repeat + 1}: first render {result['first_render_s']:.1f} s, revisit "
                  f"{result['revisit_s']:.2f} s (median of {', '.join(f'{r:.2f}' for r in result['revisits_s'])})")
        browser.close()
    worst_first = max(r["first_render_s"] for r in results)
    worst_revisit = max(r["revisit_s"] for r in results)
    print(f"target first render < {TARGET_FIRST_S:g} s: {'met' if worst_first < TARGET_FIRST_S else 'MISSED'} "
          f"({worst_first:.1f} s); revisit < {TARGET_REVISIT_S:g} s: "
          f"{'met' if worst_revisit < TARGET_REVISIT_S else 'MISSED'} ({worst_revisit:.2f} s)")
    if args.json:
        print(json.dumps({"runs": results, "worst_first_render_s": worst_first, "worst_revisit_s": worst_revisit}))


if __name__ == "__main__":
    main()
