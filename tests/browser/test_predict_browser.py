import csv

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_paste_a_review_and_see_highlighted_words(streamlit_app, browser_page, tiny_bow_run, tmp_path):
    run_dir, data = tiny_bow_run
    url = streamlit_app({"IMDB_DATA": data, "SENTIMENT_MODELS_DIR": str(run_dir.parent)})
    page = browser_page
    page.goto(f"{url}/predict")
    page.get_by_text("Paste a review and see").wait_for(timeout=60_000)
    box = page.locator("textarea").first
    box.fill("A wonderful film with a great actor, but the plot was dull and the ending awful.")
    box.press("Control+Enter")
    page.locator("span.word").first.wait_for(timeout=60_000)
    words = page.locator("span.word")
    assert words.count() >= 10
    assert "toward positive" in words.nth(1).get_attribute("title")
    page.get_by_text("Top words").first.wait_for(timeout=30_000)
    screenshot(page, "predict.png")

    page.get_by_role("button", name="Find the smallest edit that makes it").click()  # What would flip it
    page.locator("del.edit-old").first.wait_for(timeout=60_000)
    assert page.locator("ins.edit-new, del.edit-old").count() >= 1
    page.get_by_text("Label now").wait_for(timeout=30_000)
    screenshot(page, "predict-flip.png", settle_ms=500)
    before = box.input_value()
    page.get_by_role("button", name="Load the edited review").click()
    page.wait_for_function("(before) => document.querySelector('textarea').value !== before", arg=before,
                           timeout=30_000)

    reviews = tmp_path / "reviews.csv"
    with reviews.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review"])
        writer.writerows([[i, text] for i, text in enumerate(["great film", "awful and boring", "", "loved it"])])
    page.get_by_role("tab", name="Batch file").click()
    page.locator("input[type=file]").set_input_files(str(reviews))
    page.get_by_role("button", name="Predict 4 reviews").click()
    page.get_by_role("button", name="Download predictions (CSV)").wait_for(timeout=60_000)
    screenshot(page, "predict-batch.png")


def test_bad_uploads_get_a_message_and_nothing_else_breaks(streamlit_app, browser_page, tiny_bow_run, tmp_path):
    run_dir, data = tiny_bow_run
    url = streamlit_app({"IMDB_DATA": data, "SENTIMENT_MODELS_DIR": str(run_dir.parent),
                         "SENTIMENT_MAX_UPLOAD_BYTES": "2000"})
    page = browser_page
    page.goto(f"{url}/predict")
    page.get_by_text("Paste a review and see").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Batch file").click()
    big, latin, no_column = tmp_path / "big.csv", tmp_path / "latin.csv", tmp_path / "comments.csv"
    big.write_text("text\n" + "a fine film\n" * 400)
    latin.write_bytes("text\nun film tr\xe8s beau\n".encode("latin-1"))
    no_column.write_text("comment\ngreat\n")
    upload = page.locator("input[type=file]")
    for path, message in ((big, "SENTIMENT_MAX_UPLOAD_BYTES"), (latin, "not UTF-8"),
                          (no_column, "no 'text' or 'review' column")):
        upload.set_input_files(str(path))
        page.get_by_text(message).first.wait_for(timeout=60_000)
    screenshot(page, "predict-bad-upload.png")
    page.get_by_role("tab", name="Single review").click()  # the rest of the page still works
    box = page.locator("textarea").first
    box.fill("A wonderful film with a great actor.")
    box.press("Control+Enter")
    page.locator("span.word").first.wait_for(timeout=60_000)


def test_a_checkpoint_folder_side_by_side_with_a_bow_run_and_every_method(streamlit_app, browser_page, tiny_bow_run,
                                                                          tmp_path):
    from tests.checkpoint_helpers import bert_checkpoint

    run_dir, data = tiny_bow_run
    folder = bert_checkpoint(tmp_path / "bert-sentiment")
    url = streamlit_app({"IMDB_DATA": data, "SENTIMENT_MODELS_DIR": str(run_dir.parent)})
    page = browser_page
    page.goto(f"{url}/predict")
    page.get_by_text("Paste a review and see").wait_for(timeout=60_000)
    page.get_by_text("Use a pretrained sentiment model").click()
    page.get_by_label("Model folder or hub id").fill(str(folder))
    page.get_by_role("button", name="Load the model").click()
    page.get_by_text("reads up to").wait_for(timeout=90_000)  # the loaded model's caption
    box = page.locator("textarea").first
    box.fill("A wonderful film with a great actor, but the plot was dull and the ending awful.")
    box.press("Control+Enter")
    page.locator("span.word").first.wait_for(timeout=90_000)
    assert page.locator("span.word").count() >= 10
    screenshot(page, "predict-checkpoint.png")
    page.get_by_role("tab", name="Compare two models").click()
    page.get_by_text("The same words in both models").wait_for(timeout=90_000)
    screenshot(page, "predict-side-by-side.png")
    page.get_by_role("tab", name="Single review").click()
    page.get_by_text("Compare every explanation method on this review").click()
    page.get_by_text("Download these highlights (HTML)").wait_for(timeout=180_000)
    assert page.locator("div.legend").count() >= 5
    screenshot(page, "predict-all-methods.png")
