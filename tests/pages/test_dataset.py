from streamlit.testing.v1 import AppTest

from tests.pages.helpers import APP, page_path, run_page

PAGE = page_path("dataset")


def _run_page(timeout: float = 60) -> AppTest:
    return run_page(PAGE, timeout=timeout)


def _charts(app: AppTest) -> list:
    return app.get("plotly_chart")


def test_dataset_page_renders_through_the_router(parquet_dir, use_source):
    use_source(parquet_dir)
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/dataset.py")
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "📊 Dataset"
    assert "parquet folder" in app.caption[0].value and "train only" in app.caption[0].value
    assert len(_charts(app)) == 3  # label balance, lengths, polarised words and bigrams
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["train"] == "18" and metrics["validation"] == "2" and metrics["test"] == "10"
    assert metrics["reviews with HTML tags"] == "12"  # every third fixture review has <br />
    assert any("no star ratings" in i.value and "aclImdb" in i.value for i in app.info)
    assert not app.error


def test_dataset_page_widgets_update_the_numbers(parquet_dir, use_source):
    use_source(parquet_dir)
    app = _run_page()
    app.slider(key="max_length").set_value(32).run()
    truncated = {m.label: m.value for m in app.metric if m.label.endswith("truncated")}
    assert set(truncated) == {"train truncated", "validation truncated", "test truncated"}
    assert int(truncated["train truncated"]) > 0  # fixture reviews run to ~50 words
    app.toggle(key="stopwords").set_value(False).run()
    assert not app.exception and len(_charts(app)) == 3
    app.selectbox(key="browse_label").set_value("pos").run()
    app.text_input(key="browse_search").input("wonderful").run()
    assert not app.exception
    caption = next(c.value for c in app.caption if "reviews match" in c.value)
    count = int(caption.split()[0])
    assert 0 < count < 18
    assert "wonderful" in app.text[-1].value.lower()
    app.text_input(key="browse_search").input("nosuchword").run()
    assert any("No review matches" in i.value for i in app.info)


def test_dataset_page_shows_ratings_of_an_acl_folder(acl_dir, use_source):
    use_source(acl_dir)
    app = _run_page()
    assert len(_charts(app)) == 4
    assert "rating" in _charts(app)[-1].proto.spec
    assert not any("no star ratings" in i.value for i in app.info)


def test_dataset_page_shows_the_error_and_the_fix(tmp_path, use_source):
    use_source(tmp_path / "nowhere")
    app = _run_page()
    assert len(app.error) == 1
    assert "does not exist" in app.error[0].value and "IMDB_DATA" in app.error[0].value
    assert not _charts(app) and not app.metric
