"""The issue's "done when", in a real browser on the full dataset (slow: `make bench`, not CI).

A person reads the EDA charts of the full data, starts the quick bow baseline, watches its
curves grow, stops and resumes it, finds it in the runs table with its test accuracy after a
reload, and predicts with it. Prints the Dataset page's first-render and revisit seconds.
"""

import time

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_train_browser import _step, _wait_for, models  # noqa: F401 (fixture)
from tests.conftest import SHARED_IMDB

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.skipif(not SHARED_IMDB.exists(), reason="needs the full dataset in ../shared/data/imdb")
def test_a_person_explores_trains_and_predicts_on_the_full_data(streamlit_app, browser_page, models):  # noqa: F811
    url = streamlit_app({"IMDB_DATA": str(SHARED_IMDB), "SENTIMENT_MODELS_DIR": str(models)})
    page = browser_page
    page.set_default_timeout(60_000)

    started = time.monotonic()
    page.goto(f"{url}/dataset")
    page.get_by_text("reviews match").wait_for(timeout=120_000)
    first_render = time.monotonic() - started
    page.locator(".js-plotly-plot").nth(2).wait_for()  # balance, lengths, telling words (drawn after the text)
    page.get_by_text("25,000").first.wait_for()
    screenshot(page, "full-dataset.png")
    page.get_by_test_id("stSidebarNav").get_by_text("Home", exact=True).click()
    page.get_by_text("Training and prediction run on").wait_for()
    started = time.monotonic()
    page.get_by_test_id("stSidebarNav").get_by_text("Dataset", exact=True).click()
    page.get_by_text("reviews match").wait_for()
    revisit = time.monotonic() - started
    print(f"\nDataset page on the full data: first render {first_render:.1f} s, revisit {revisit:.2f} s")

    page.get_by_test_id("stSidebarNav").get_by_text("Train", exact=True).click()
    page.get_by_role("button", name="🚀 Train the quick bow baseline").click()
    page.get_by_text("Started run").wait_for()
    _wait_for(lambda: _step(page) >= 20, 600, "the baseline's first steps")
    first = _step(page)
    _wait_for(lambda: _step(page) > first + 10, 300, "the curves to grow on their own")
    screenshot(page, "full-train-running.png")
    page.get_by_role("button", name="⏹️ Stop").click()
    page.get_by_text("Stopped at step").wait_for(timeout=120_000)
    screenshot(page, "full-train-stopped.png")
    page.get_by_role("button", name="⏯️ Resume").click()
    page.get_by_role("button", name="⏹️ Stop").wait_for()
    page.get_by_text("Finished: test accuracy").wait_for(timeout=1_200_000)

    page.reload()
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_text("Test accuracy").first.wait_for()
    accuracy = float(page.get_by_test_id("stMetricValue").first.inner_text())
    print(f"bow baseline on the full data, trained, stopped and resumed in the browser: test accuracy {accuracy:.4f}")
    assert accuracy >= 0.9
    screenshot(page, "full-train-finished.png")

    page.get_by_role("button", name="🔮 Use for prediction").click()
    page.get_by_role("heading", name="🔮 Predict").wait_for()
    box = page.locator("textarea").first
    box.fill("The cinematography is beautiful, but the ending is a lazy mess and the villain is laughable.")
    box.press("Control+Enter")
    page.locator("span.word").first.wait_for()
    screenshot(page, "full-predict.png")
