import re
import shutil

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_two_runs_side_by_side_and_a_failure_opened_on_predict(streamlit_app, browser_page, tiny_bow_run):
    run_dir, data = tiny_bow_run
    shutil.copytree(run_dir, run_dir.parent / "tiny-bow-copy")
    url = streamlit_app({"IMDB_DATA": data, "SENTIMENT_MODELS_DIR": str(run_dir.parent)})
    page = browser_page
    page.goto(url)
    link = page.get_by_test_id("stSidebarNav").get_by_text("Evaluate", exact=True)
    link.wait_for(timeout=120_000)
    link.click()
    page.get_by_text("Accuracy on the test split hides").wait_for(timeout=60_000)

    page.get_by_test_id("stMultiSelect").click()
    page.get_by_role("option", name=re.compile("tiny-bow-copy")).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name=re.compile("Run the behaviour suite on tiny-bow and tiny-bow-copy")).click()
    page.get_by_text("Failure rate per test (lower is better)").wait_for(timeout=180_000)
    page.get_by_text("Failure rate per capability").first.wait_for(timeout=30_000)
    assert page.get_by_text(re.compile(r"cases fail")).count() == 2  # the chosen test, for each run
    screenshot(page, "evaluate.png")

    page.get_by_role("tab", name="Error slices and curves").click()
    page.get_by_text("Error slices of the test split").wait_for(timeout=60_000)
    page.get_by_text("ROC curve").first.wait_for(timeout=30_000)
    screenshot(page, "evaluate-slices.png")

    page.get_by_role("tab", name="Behaviour tests").click()
    page.get_by_role("button", name="Open in Predict").click()
    page.get_by_text("Paste a review and see").wait_for(timeout=60_000)
    page.locator("span.word").first.wait_for(timeout=60_000)
    assert page.locator("textarea").first.input_value().strip()
