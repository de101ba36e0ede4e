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


# Pair 3 holds one text twice with opposite labels: whatever a model says, that pair is not both right.
PAIRS_TSV = ("pair\ttext\tlabel\tkind\n"
             "1\ta great and wonderful film\tpositive\tantonym\n"
             "1\tan awful and boring film\tnegative\tantonym\n"
             "2\tthe story was not bad\tpositive\tnegation\n"
             "2\tthe story was bad\tnegative\tnegation\n"
             "3\ta dull plot\tnegative\tnegation\n"
             "3\ta dull plot\tpositive\tnegation\n")


def test_paired_edits_are_scored_from_an_upload_and_shown_beside_the_suite(one_run):
    from sentiment_core.evaluation import pairs as paired
    from sentiment_core.inference.sources import load_run

    app = run_page(PAGE)
    assert [t.label for t in app.tabs] == ["Behaviour tests", "Paired edits", "Error slices and curves"]
    assert "No paired edits scored on `tiny-bow` yet" in page_text(app)
    app.file_uploader(key="eval_pairs_upload").set_value(("bad.csv", b"pair,text,label\n1,great,1\n", "text/csv"))
    app.run()
    assert "every pair needs exactly 2 rows (the original, then its edit): pair 1 (1 row)" in page_text(app)
    app.file_uploader(key="eval_pairs_upload").set_value(("contrast.tsv", PAIRS_TSV.encode(), "text/tsv")).run()
    assert "**contrast**: 3 pairs; kinds: antonym, negation" in page_text(app)
    app.button(key="eval_pairs_score").click().run()
    assert not app.exception, app.exception

    answers = [p.label for p in load_run("tiny-bow").predict(
        ["a great and wonderful film", "an awful and boring film", "the story was not bad", "the story was bad"],
        batch=True)]
    consistent = [answers[0:2] == ["positive", "negative"], answers[2:4] == ["positive", "negative"], False]
    (result,) = paired.run_pairs("tiny-bow")  # kept in the run's folder
    assert result.name == "contrast" and result.all["consistent"] == sum(consistent)
    table = table_with(app, "consistency (tiny-bow)")
    assert table["kind"].tolist() == ["all pairs", "antonym", "negation"] and table["pairs"].tolist() == [3, 1, 2]
    assert table["consistency (tiny-bow)"].tolist() == [sum(consistent) / 3, consistent[0], sum(consistent[1:]) / 2]
    wrong = table_with(app, "edit predicted")
    assert "3" in wrong["pair"].tolist() and len(wrong) == 3 - sum(consistent)

    # A reload shows it from pairs.json; a text of a wrong pair opens on the Predict page.
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/evaluate.py").run()
    assert table_with(app, "consistency (tiny-bow)")["consistency (tiny-bow)"].tolist()[0] == sum(consistent) / 3
    picker = app.selectbox(key="eval_pairs_pick")
    picker.set_value(next(i for i, shown in enumerate(picker.options) if "pair 3, edit" in shown)).run()
    app.button(key="eval_pairs_open").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "🔮 Predict" and app.session_state["predict_run"] == "tiny-bow"
    assert app.text_area(key="predict_text").value == "a dull plot"
