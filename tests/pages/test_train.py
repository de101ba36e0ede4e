import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from sentiment_core.core import runs
from sentiment_core.training.options import FAMILY_DEFAULTS, TrainConfig
from sentiment_core.training.run import train
from tests.conftest import TINY, TINY_OPTIONS, write_parquet_dir
from tests.pages.helpers import APP, page_path, page_text, run_page

PAGE = page_path("train")
SUBMIT = "FormSubmitter:train_form-▶️ Start training"


def _page(query: dict | None = None, timeout: float = 120) -> AppTest:
    return run_page(PAGE, query=query, timeout=timeout)


@pytest.fixture
def finished_run(tmp_path, use_source):
    data = str(write_parquet_dir(tmp_path / "data", n_train=80, n_test=40))
    use_source(data)
    train(TrainConfig(model="bow", data=data, epochs=2, lr=1e-2, run_id="tiny-done",
                      model_options=TINY_OPTIONS["bow"], **TINY))
    return "tiny-done"


def test_train_page_renders_through_the_router(parquet_dir, use_source):
    use_source(parquet_dir)
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/train.py")
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "🏋️ Train"


def test_with_no_runs_the_quick_baseline_is_offered():
    app = _page()
    assert app.button(key="quick_baseline").label == "🚀 Train the quick bow baseline"
    assert "CPU (no GPU found)" in page_text(app)  # the tests force no GPU: settings see cpu
    assert "No run selected" in page_text(app) and "No runs in" in page_text(app)
    assert [n.label for n in app.number_input] == ["Epochs", "Learning rate", "Max train samples", "Augmented share",
                                                    "Batch size", "Max length (tokens)", "Seed"]
    assert all(n.help for n in app.number_input) and app.selectbox(key="train_family").help
    assert app.selectbox(key="train_family").value == "bow"
    assert app.selectbox(key="train_augment").value == "none" and app.checkbox(key="train_augment_eval").help
    assert (app.number_input(key="train_epochs").value, app.number_input(key="train_lr").value) == (3.0, 5e-3)


def test_choosing_a_family_fills_in_its_defaults():
    app = _page()
    app.selectbox(key="train_family").set_value("lstm").run()
    values = {key: app.number_input(key=f"train_{key}").value for key in ("epochs", "batch_size", "lr", "max_length")}
    assert values == {"epochs": 5.0, "batch_size": 64, "lr": 2e-3, "max_length": 512}
    assert app.number_input(key="train_augment_share").value == 0.5  # bow's is 0.2
    assert not app.text_input  # the backbone is for the pretrained family only
    app.selectbox(key="train_family").set_value("pretrained").run()
    assert app.number_input(key="train_lr").value == FAMILY_DEFAULTS["pretrained"]["lr"]
    backbone = app.text_input(key="train_backbone").value
    assert backbone.endswith("model") or backbone == "distilbert-base-uncased"


@pytest.mark.parametrize("key,value,message", [
    ("train_epochs", 0.0, "epochs must be a positive number"),
    ("train_lr", -0.001, "lr must be a positive number"),
    ("train_batch_size", 0, "batch_size must be a positive whole number"),
    ("train_max_train_samples", -3, "max_train_samples must be a positive whole number"),
])
def test_bad_form_values_are_refused_and_nothing_starts(key, value, message):
    app = _page()
    app.number_input(key=key).set_value(value)
    app.button(key=SUBMIT).click().run()
    assert not app.exception, app.exception
    assert any(message in e.value and e.value.startswith("Not started") for e in app.error)
    assert not runs.models_dir().exists() or not any(runs.models_dir().iterdir())
    assert "run" not in app.query_params


def test_a_finished_run_is_listed_and_detailed(finished_run):
    app = _page()
    assert not [b for b in app.button if b.key == "quick_baseline"]
    table = app.dataframe[0].value
    assert table["run_id"].tolist() == [finished_run]
    row = table.iloc[0]
    assert (row["family"], row["loss"], row["state"]) == ("bow", "bce", "finished")
    assert 0 <= row["best_val_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1 and row["duration_s"] >= 0
    assert app.selectbox(key="detail_run").value == finished_run
    metrics = {m.label: m.value for m in app.metric}
    assert float(metrics["Test accuracy"]) == pytest.approx(row["test_accuracy"], abs=1e-3)
    charts = [c.proto.spec for c in app.get("plotly_chart")]
    assert any("Accuracy per review length" in spec for spec in charts)
    assert any("Confusion matrix" in spec for spec in charts)
    assert app.json[0].value  # the config


def test_use_for_prediction_opens_the_predict_page_with_that_run(finished_run):
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/train.py")
    app.run()
    app.selectbox(key="detail_run").set_value(finished_run).run()
    app.button(key="use_for_prediction").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "🔮 Predict"
    assert app.selectbox(key="predict_run_choice").value == finished_run


def test_a_selected_run_shows_its_curves_and_log(finished_run):
    (runs.run_path(finished_run) / "train.log").write_text("loading\r 50%|#####\r100%|##########| 20/20\ndone\n")
    app = _page({"run": finished_run})
    assert f"#### Run `{finished_run}`" in [m.value for m in app.markdown]
    assert any(p.proto.text.startswith("step ") and "(100%)" in p.proto.text for p in app.get("progress"))
    assert any("Finished: test accuracy" in s.value for s in app.success)
    specs = [c.proto.spec for c in app.get("plotly_chart")]
    assert any('"best validation"' in spec for spec in specs)  # the star on the accuracy chart
    assert app.code[-1].value == "100%|##########| 20/20\ndone"
    app.toggle(key="train_by_epoch").set_value(True).run()
    app.slider(key="train_smoothing").set_value(0.0).run()
    assert not app.exception, app.exception
    assert not [b for b in app.button if b.key in ("stop_run", "resume_run")]


def test_compare_runs_overlays_validation_curves(finished_run, tmp_path):
    train(TrainConfig(model="bow", data=str(tmp_path / "data"), epochs=1, lr=1e-2, run_id="tiny-two",
                      model_options=TINY_OPTIONS["bow"], **TINY))
    app = _page()
    app.multiselect(key="compare_runs").set_value([finished_run, "tiny-two"]).run()
    assert not app.exception, app.exception
    specs = [c.proto.spec for c in app.get("plotly_chart")]
    assert sum("Validation accuracy" in s or "Validation loss" in s for s in specs) == 2


def test_delete_needs_a_confirmation(finished_run):
    app = _page()
    assert app.button(key="delete_run").disabled
    app.checkbox(key=f"confirm_delete_{finished_run}").check().run()
    app.button(key="delete_run").click().run()
    assert not app.exception, app.exception
    assert not runs.run_path(finished_run).exists()
    assert any("Deleted run" in s.value for s in app.success)
    assert app.button(key="quick_baseline")


def test_a_reload_finds_the_running_run_and_stop_asks_it_to_stop():
    path = runs.create_run("live-one", {"model": "bow", "loss": "bce", "epochs": 3, "batch_size": 8, "lr": 0.01,
                                        "max_length": 64})
    runs.update_status(path, state="running", pid=os.getpid(), step=5, total_steps=20, samples_per_second=80.0,
                       eta_seconds=12, started=runs.now_iso())
    runs.append_metrics(path, [{"step": s, "epoch": s / 10, "split": "train", "loss": 1 / s, "accuracy": 0.5}
                               for s in range(1, 6)])
    app = _page()  # no ?run=: the newest running run is picked
    assert app.query_params["run"] == "live-one"
    assert any(p.proto.text == "step 5 / 20 (25%)" for p in app.get("progress"))
    assert "**Throughput** 80 samples/s" in page_text(app) and "**Time left** about 12 s left" in page_text(app)
    app.button(key="stop_run").click().run()
    assert runs.stop_requested(path)
    assert "stopping…" in str(app.get("badge")) or app.button(key="stop_run").disabled


def test_a_failed_run_shows_its_error():
    path = runs.create_run("broken", {"model": "bow", "loss": "bce", "epochs": 1, "batch_size": 8, "lr": 0.01,
                                      "max_length": 64})
    runs.update_status(path, state="failed", error="RuntimeError: out of memory", ended=runs.now_iso())
    app = _page({"run": "broken"})
    assert any("The run failed: RuntimeError: out of memory" in e.value for e in app.error)


def test_a_missing_run_in_the_url_is_reported():
    app = _page({"run": "gone"})
    assert any("`gone` no longer exists" in w.value for w in app.warning)
    assert "run" not in app.query_params


def test_the_quick_baseline_launches_a_process_and_its_failure_is_shown(tmp_path, use_source):
    use_source(tmp_path / "no-such-data")  # the launched run fails fast, with the CLI's own message
    app = _page()
    app.button(key="quick_baseline").click().run()
    assert not app.exception, app.exception
    run_id = app.query_params["run"]
    assert run_id.startswith("bow-bce-") and app.session_state["train_run"] == run_id
    assert any(f"Started run `{run_id}`" in s.value for s in app.success)
    status = runs.read_status(runs.run_path(run_id))
    assert status["command"][3:] == ["train", "--model", "bow", "--loss", "bce", "--run-id", run_id]
    assert status["pid"]  # recorded at launch: a process that dies early shows as failed
    deadline = time.monotonic() + 120
    while runs.pid_alive(status["pid"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    app.run()
    assert any("The run failed:" in e.value and "does not exist" in e.value for e in app.error)
    assert app.dataframe[0].value.loc[0, "state"] == "failed"


def test_close_stops_showing_a_finished_run(finished_run):
    app = _page({"run": finished_run})
    app.button(key="close_run").click().run()
    assert not app.exception, app.exception
    assert "run" not in app.query_params
    assert any("No run selected" in i.value for i in app.info)
