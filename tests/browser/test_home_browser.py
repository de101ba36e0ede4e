import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_home_renders_in_chromium(streamlit_app, browser_page, parquet_dir, tmp_path):
    url = streamlit_app({"IMDB_DATA": str(parquet_dir), "SENTIMENT_MODELS_DIR": str(tmp_path / "models")})
    browser_page.goto(url)
    browser_page.get_by_text("Loaded 30 labelled reviews").wait_for(timeout=60_000)
    browser_page.get_by_text("Training and prediction run on").wait_for(timeout=60_000)
    assert browser_page.get_by_text("IMDB Sentiment Studio").first.is_visible()
    assert browser_page.get_by_text("validation").first.is_visible()
    assert browser_page.get_by_text("Deploy", exact=True).count() == 0  # Streamlit's own button, not for users
    screenshot(browser_page, "home.png")


def test_home_shows_a_bad_source_in_chromium(streamlit_app, browser_page, tmp_path):
    url = streamlit_app({"IMDB_DATA": str(tmp_path / "missing"), "SENTIMENT_MODELS_DIR": str(tmp_path / "models")})
    browser_page.goto(url)
    browser_page.get_by_text("this path does not exist").wait_for(timeout=60_000)
    browser_page.get_by_text("Training and prediction run on").wait_for(timeout=60_000)
    screenshot(browser_page, "home-bad-source.png")
