import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sentiment_core.evaluation import behaviour
from tests.pages.helpers import APP, page_path, page_text, run_page

PAGE = page_path("evaluate")


def table_with(app: AppTest, column: str):
    """The first table on the page with this column (AppTest does not keep a plain dataframe's key)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def test_with_no_runs_the_page_says_to_train_one():
    app = run_page(PAGE)
    assert app.title[0].value == "🧪 Evaluate"
    assert "No finished run yet" in page_text(app)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny bow run for the whole module (training it once per test costs seconds each)."""
    from sentiment_core.core.settings import get_settings
    from tests.conftest import tiny_bow_run

    folder = tmp_path_factory.mktemp("evaluate")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SENTIMENT_MODELS_DIR", str(folder / "models"))
        get_settings.cache_clear()
        run_dir, data = tiny_bow_run.__wrapped__(folder)
    get_settings.cache_clear()
    return run_dir, data


@pytest.fixture
def one_run(trained, use_source):
    """The trained run copied into this test's models folder as tiny-bow; -> its directory."""
    from sentiment_core.core import runs

    run_dir, data = trained
    use_source(data)
    return Path(shutil.copytree(run_dir, runs.models_dir() / run_dir.name))


@pytest.fixture
def two_runs(one_run):
    """tiny-bow and a copy of it, tiny-bow-copy: two finished runs to put side by side."""
    shutil.copytree(one_run, one_run.parent / "tiny-bow-copy")
    return one_run


def test_the_suite_runs_on_two_runs_side_by_side(two_runs):
    app = run_page(PAGE)
    picker = app.multiselect(key="eval_runs")
    assert len(picker.value) == 1 and len(picker.options) == 2
    picker.set_value(["tiny-bow", "tiny-bow-copy"]).run()
    cases = len(behaviour.TEST_NAMES) * behaviour.CASES_PER_TEST
    assert f"has not run on `tiny-bow` and `tiny-bow-copy` yet: {cases:,} short cases" in page_text(app)
    app.button(key="eval_run_suite").click().run()
    assert not app.exception, app.exception
    assert not [b for b in app.button if b.key == "eval_run_suite"]  # gone once it has run
    for run_id in ("tiny-bow", "tiny-bow-copy"):
        assert (two_runs.parent / run_id / behaviour.CACHE_FILE).exists()
    table = table_with(app, "capability")
    assert len(table) == len(behaviour.TEST_NAMES)
    assert {"capability", "test", "type", "tiny-bow", "tiny-bow-copy"} <= set(table.columns)
    assert (table["tiny-bow"] == table["tiny-bow-copy"]).all()  # the same model: the same failures
    # The failures of a chosen test, for both runs; a run reloads from the cache without a button.
    app.selectbox(key="eval_test").set_value("typos").run()
    assert "One typo" in page_text(app) and "cases fail" in page_text(app)
    app.multiselect(key="eval_runs").set_value(["tiny-bow-copy"]).run()
    assert not [b for b in app.button if b.key == "eval_run_suite"]


def test_slices_curves_and_threshold(two_runs):
    app = run_page(PAGE, session={"eval_runs": ["tiny-bow", "tiny-bow-copy"]})
    assert [m.label for m in app.metric] == ["Accuracy", "F1"] * 2
    slices = table_with(app, "slice")
    assert {"all reviews", "with a negator", "with a contrast marker", "no unknown words"} <= set(slices["slice"])
    assert slices.set_index("slice").loc["all reviews", "n (tiny-bow)"] == 40
    app.slider(key="eval_threshold").set_value(0.9).run()
    assert not app.exception, app.exception
    assert "vs 0.5" in str(app.metric[0].delta)


def test_a_failure_opens_on_the_predict_page(one_run):
    result = behaviour.suite_for_run("tiny-bow")  # cached: the page shows it at once
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/evaluate.py").run()
    assert not app.exception, app.exception
    first_failing = next(t for t in result.tests if t.failures)
    app.selectbox(key="eval_test").set_value(first_failing.name).run()
    app.button(key="eval_open").click().run()
    assert not app.exception, app.exception
    assert app.session_state["predict_text"] == first_failing.failures[0].text
    assert app.title[0].value == "🔮 Predict"
    assert app.selectbox(key="predict_run_choice").value == "tiny-bow"
    assert app.text_area(key="predict_text").value == first_failing.failures[0].text
