import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_dataset_page_renders_in_chromium(streamlit_app, browser_page, parquet_dir, tmp_path):
    url = streamlit_app({"IMDB_DATA": str(parquet_dir), "SENTIMENT_MODELS_DIR": str(tmp_path / "models")})
    browser_page.goto(url)
    browser_page.get_by_test_id("stSidebarNav").get_by_text("Dataset", exact=True).click()
    browser_page.get_by_role("heading", name="📊 Dataset").wait_for(timeout=60_000)
    browser_page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    browser_page.get_by_text("reviews match").wait_for(timeout=60_000)
    browser_page.locator(".js-plotly-plot").nth(2).wait_for(timeout=60_000)  # charts draw after the text
    assert browser_page.locator(".js-plotly-plot").count() == 3
    assert browser_page.get_by_text("This source has no star ratings").is_visible()
    screenshot(browser_page, "dataset.png")
