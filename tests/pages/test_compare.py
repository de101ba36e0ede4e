import os
import signal
import time

import pytest
from streamlit.testing.v1 import AppTest

from sentiment_core.core import runs
from sentiment_core.evaluation import compare
from tests.conftest import write_parquet_dir
from tests.evaluation.test_compare import long_review_comparison
from tests.pages.helpers import APP, page_path, page_text, run_page

PAGE = page_path("compare")
SUBMIT = "FormSubmitter:compare_form-▶️ Start comparison"


def _page(query: dict | None = None, timeout: float = 120) -> AppTest:
    return run_page(PAGE, query=query, timeout=timeout)


def _specs(app: AppTest) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


@pytest.fixture
def handmade(tmp_path):
    """A finished comparison of hand-made runs over a 40-review fixture: bce misses 6-8 long reviews."""
    data = str(write_parquet_dir(tmp_path / "data", n_train=20, n_test=40))
    long_review_comparison("handmade", data=data)
    return "handmade"


def test_compare_page_renders_through_the_router():
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/compare.py")
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "⚖️ Compare losses"


def test_with_no_comparisons_the_form_and_the_loss_scale_note_are_shown():
    app = _page()
    assert "not on one scale" in page_text(app) and "smaller by construction" in page_text(app)
    assert "No comparisons yet" in page_text(app)
    assert app.selectbox(key="cmp_family").value == "transformer"
    assert app.multiselect(key="cmp_losses").value == ["bce", "length_weighted_bce"]
    assert app.number_input(key="cmp_seeds").value == 3 and app.number_input(key="cmp_epochs").value == 3.0
    assert "6 runs, trained one after another" in page_text(app)


def test_bad_settings_are_refused_and_nothing_starts():
    app = _page()
    app.multiselect(key="cmp_losses").set_value(["bce"])
    app.button(key=SUBMIT).click().run()
    assert not app.exception, app.exception
    assert any(e.value.startswith("Not started") and "two or more losses" in e.value for e in app.error)
    assert not compare.comparisons_dir().exists()


def test_a_finished_comparison_is_shown_side_by_side(handmade):
    app = _page({"comparison": handmade})
    assert f"#### Comparison `{handmade}`" in [m.value for m in app.markdown]
    assert any(p.proto.text.startswith("6 of 6 runs finished") for p in app.get("progress"))
    assert any(s.value.startswith("length_weighted_bce is better on long reviews (Q4: 30-40 tokens) by 70.0 points")
               for s in app.success)
    tables = [frame.value for frame in app.dataframe]
    metrics = next(t for t in tables if "roc_auc" in t.columns).set_index("arm")
    assert metrics.loc["bce", "accuracy"] == "0.825 ± 0.025"
    assert metrics.loc["length_weighted_bce", "accuracy"] == "1.000 ± 0.000"
    tests = next(t for t in tables if "difference_points" in t.columns).set_index("reviews")
    assert (tests.loc["all reviews", "significant"]
            and tests.loc["Q4: 30-40 tokens", "difference_points"] == pytest.approx(-70))
    specs = _specs(app)
    for title in ("Accuracy per review length", "Reliability curves", "Loss: train", "Accuracy: train"):
        assert any(title in spec for spec in specs), title
    assert app.get("plotly_chart")  # the live curves read the runs' metrics.csv
    disagreements = next(t for t in tables if "probability_a" in t.columns)
    assert len(disagreements) == 6 and set(disagreements["right"]) == {"length_weighted_bce"}
    assert disagreements["review"].str.len().min() > 0  # the review texts, from the fixture's test split
    assert disagreements["length"].min() > 30

    app.slider(key="cmp_length").set_value((1, 20)).run()
    assert not app.exception, app.exception
    disagreements = next(f.value for f in app.dataframe if "probability_a" in f.value.columns)
    assert disagreements.empty
    app.toggle(key="cmp_by_epoch").set_value(True).run()
    app.slider(key="cmp_smoothing").set_value(0.0).run()
    assert not app.exception, app.exception
    assert not [b for b in app.button if b.key in ("cmp_stop", "cmp_resume")]


def test_two_hand_picked_runs_are_compared(handmade):
    app = _page()
    mode = next(w for w in app.get("button_group") if w.key == "cmp_mode")
    mode.set_value("Runs I pick").run()
    assert not app.exception, app.exception
    app.multiselect(key="pick_a").set_value([f"{handmade}-bce-s1"]).run()
    app.multiselect(key="pick_b").set_value([f"{handmade}-length_weighted_bce-s1"]).run()
    assert not app.exception, app.exception
    assert any("McNemar p = 0.031" in s.value for s in app.success)  # 6 discordant reviews, all one way
    assert any("One run per loss" in c.value or "one run per loss" in c.value for c in app.caption)
    assert any("Reliability curves" in spec for spec in _specs(app))


def test_a_running_comparison_can_be_stopped():
    plan = compare.make_plan("bow", seeds=1, comparison_id="live")
    compare.create_comparison(plan)
    first = plan["runs"][0]["run_id"]
    path = runs.create_run(first, {"model": "bow", "loss": "bce", "seed": 42, "epochs": 3})
    runs.update_status(path, state="running", pid=os.getpid(), step=5, total_steps=20, eta_seconds=12)
    runs.append_metrics(path, [{"step": s, "epoch": s / 10, "split": "train", "loss": 1 / s, "accuracy": 0.5}
                               for s in range(1, 6)])
    compare.update_status("live", state="running", pid=os.getpid(), current_run=first)
    app = _page()  # no ?comparison=: the running one is picked
    assert app.query_params["comparison"] == "live"
    assert any("0 of 2 runs finished" in p.proto.text and "step 5 / 20" in p.proto.text for p in app.get("progress"))
    assert "No results yet: waiting for a finished run of bce, length_weighted_bce." in page_text(app)
    app.button(key="cmp_stop").click().run()
    assert not app.exception, app.exception
    assert compare.stop_requested("live") and runs.stop_requested(path)


def test_a_comparison_its_runs_would_refuse_is_not_started(tmp_path, use_source):
    use_source(tmp_path / "no-such-data")
    app = _page()
    app.number_input(key="cmp_seeds").set_value(1)
    app.button(key=SUBMIT).click().run()
    assert not app.exception, app.exception
    assert any("Could not start the comparison" in e.value and "does not exist" in e.value for e in app.error)
    assert "comparison" not in app.query_params and not compare.comparisons_dir().exists()


def test_a_started_comparison_runs_in_its_own_process_and_its_failure_is_shown(tmp_path, use_source):
    use_source(write_parquet_dir(tmp_path / "data", n_train=40, n_test=20))
    app = _page()
    app.number_input(key="cmp_seeds").set_value(1)
    app.button(key=SUBMIT).click().run()
    assert not app.exception, app.exception
    comparison_id = app.query_params["comparison"]
    assert comparison_id.startswith("cmp-transformer-")
    assert any(f"Started comparison `{comparison_id}` (2 runs)" in s.value for s in app.success)
    status = compare.read_status(comparison_id)
    assert status["command"][3:] == ["compare-losses", "--resume", comparison_id] and status["pid"]
    os.kill(status["pid"], signal.SIGKILL)  # a crash: the page says so, and offers to resume
    deadline = time.monotonic() + 60
    while runs.pid_alive(status["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for entry in compare.read_plan(comparison_id)["runs"]:  # a run it had started lives on in its own session
        pid = runs.read_status(runs.run_path(entry["run_id"])).get("pid")
        if runs.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    app.run()
    assert any("The comparison failed:" in e.value and "killed or crashed" in e.value for e in app.error)
    assert app.button(key="cmp_resume")


def test_an_augmentation_comparison_is_planned_from_the_form(tmp_path, use_source, monkeypatch):
    use_source(write_parquet_dir(tmp_path / "data", n_train=40, n_test=20))
    launched = []
    monkeypatch.setattr(compare, "launch_comparison", lambda comparison_id, **kwargs: launched.append(comparison_id))
    app = _page()
    app.selectbox(key="cmp_setting").set_value("augment").run()
    assert app.multiselect(key="cmp_values_augment").value == ["none", "counterfactual"]
    app.number_input(key="cmp_seeds").set_value(1)
    app.number_input(key="cmp_augment_share").set_value(0.5)
    app.button(key=SUBMIT).click().run()
    assert not app.exception, app.exception
    (comparison_id,) = launched
    plan = compare.read_plan(comparison_id)
    assert (plan["vary"], plan["arms"], plan["options"]["augment_share"]) == ("augment", ["none", "counterfactual"],
                                                                              0.5)
    configs = [compare.train_config(plan, entry).resolved() for entry in plan["runs"]]
    assert [(c.augment, c.augment_share, c.loss) for c in configs] == [("none", None, "bce"),
                                                                       ("counterfactual", 0.5, "bce")]
