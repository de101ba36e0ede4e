from streamlit.testing.v1 import AppTest

from tests.pages.helpers import APP, run_page


def _run(timeout: float = 60) -> AppTest:
    return run_page(APP, timeout=timeout)


def test_home_shows_the_data_status(parquet_dir, use_source):
    use_source(parquet_dir)
    app = _run()
    assert app.title[0].value.startswith("🎬 IMDB Sentiment Studio")
    assert any("Loaded 30 labelled reviews" in s.value for s in app.success)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"train": "18", "validation": "2", "test": "10"}
    assert "parquet folder" in " ".join(m.value for m in app.markdown)


def test_home_shows_the_error_and_the_fix(tmp_path, use_source):
    use_source(tmp_path / "nowhere")
    app = _run()
    assert len(app.error) == 1
    assert "does not exist" in app.error[0].value and "IMDB_DATA" in app.error[0].value
    assert not app.metric
