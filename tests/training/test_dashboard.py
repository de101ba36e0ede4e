import math

import pandas as pd
import pytest

from sentiment_core.core import runs
from sentiment_core.training import dashboard as monitor
from sentiment_core.training.augment import DEFAULT_SHARE
from sentiment_core.training.options import FAMILY_DEFAULTS

FORM = dict(family="bow", loss="bce", epochs=2.0, batch_size=8.0, lr=0.01, max_length=64, max_train_samples=None,
            seed=42, backbone="ignored-for-bow")


# --- train_arguments -------------------------------------------------------------------

def test_train_arguments_from_form_values():
    assert monitor.train_arguments(FORM) == [
        "train", "--model", "bow", "--loss", "bce", "--epochs", "2", "--batch-size", "8", "--lr", "0.01",
        "--max-length", "64", "--seed", "42",
    ]


def test_train_arguments_keep_fractions_subsets_and_backbones():
    arguments = monitor.train_arguments({**FORM, "family": "pretrained", "epochs": 0.5, "lr": 3e-5,
                                         "max_train_samples": 2000.0, "backbone": " /models/minilm "})
    assert arguments[arguments.index("--epochs") + 1] == "0.5"
    assert arguments[arguments.index("--lr") + 1] == "3e-05"
    assert arguments[arguments.index("--max-train-samples") + 1] == "2000"
    assert arguments[arguments.index("--backbone") + 1] == "/models/minilm"
    assert monitor.train_arguments({"model": "lstm"}) == ["train", "--model", "lstm"]  # the rest: defaults


def test_train_arguments_parse_back_with_the_cli():
    from sentiment_core.cli import build_parser

    args = build_parser().parse_args(monitor.train_arguments({**FORM, "lr": 1.234567e-4}))
    assert (args.model, args.epochs, args.batch_size, args.lr, args.max_length) == ("bow", 2.0, 8, 1.234567e-4, 64)


@pytest.mark.parametrize("overrides,message", [
    (dict(epochs=0.0), "epochs must be a positive number"),
    (dict(lr=-0.001), "lr must be a positive number"),
    (dict(lr=float("nan")), "lr must be a positive number"),
    (dict(batch_size=8.5), "batch_size must be a positive whole number"),
    (dict(batch_size=0), "batch_size must be a positive whole number"),
    (dict(max_length=-5), "max_length must be a positive whole number"),
    (dict(max_train_samples=0), "max_train_samples must be a positive whole number"),
    (dict(seed=-1), "seed must be a whole number >= 0"),
    (dict(family="svm"), "Unknown model family 'svm'"),
    (dict(loss="hinge"), "Unknown loss 'hinge'"),
    (dict(colour="red"), "Unknown training option"),
])
def test_train_arguments_refuse_bad_values_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        monitor.train_arguments({**FORM, **overrides})


def test_form_defaults_follow_the_family_table():
    for family, defaults in FAMILY_DEFAULTS.items():
        values = monitor.form_defaults(family)
        assert values == {"epochs": defaults["epochs"], "batch_size": defaults["batch_size"],
                          "lr": defaults["lr"], "max_length": defaults["max_length"],
                          "augment_share": defaults.get("augment_share", DEFAULT_SHARE)}
    with pytest.raises(ValueError, match="Unknown model family"):
        monitor.form_defaults("svm")


# --- ema, curves, best_point -----------------------------------------------------------

def test_ema_known_values():
    assert monitor.ema([1.0, 2.0, 3.0], 0).tolist() == [1.0, 2.0, 3.0]
    # debiased: the first value is itself; then (0.5*0.5*1 + 0.5*2) / (1 - 0.25) = 1.25 / 0.75
    smoothed = monitor.ema([1.0, 2.0, 3.0], 0.5)
    assert smoothed.tolist() == pytest.approx([1.0, 1.25 / 0.75, (0.625 + 1.5) / 0.875])
    assert monitor.ema([4.0, 4.0, 4.0], 0.99).tolist() == pytest.approx([4.0, 4.0, 4.0])  # no bias to zero


def test_ema_skips_missing_values_and_checks_smoothing():
    smoothed = monitor.ema(pd.Series([1.0, float("nan"), 3.0], index=[10, 20, 30]), 0.5)
    assert list(smoothed.index) == [10, 20, 30] and math.isnan(smoothed[20])
    assert smoothed[30] == pytest.approx((0.25 + 1.5) / 0.75)
    for bad in (1.0, -0.1, 2):
        with pytest.raises(ValueError, match="smoothing"):
            monitor.ema([1.0], bad)


def _metrics() -> pd.DataFrame:
    return pd.DataFrame([
        dict(step=1, epoch=0.25, split="train", loss=0.9, accuracy=0.5),
        dict(step=2, epoch=0.5, split="train", loss=0.7, accuracy=0.6),
        dict(step=4, epoch=1.0, split="train", loss=0.5, accuracy=0.7),
        dict(step=4, epoch=1.0, split="validation", loss=0.6, accuracy=0.8),
        dict(step=8, epoch=2.0, split="train", loss=0.3, accuracy=0.9),
        dict(step=8, epoch=2.0, split="validation", loss=0.55, accuracy=0.8),
        dict(step=12, epoch=3.0, split="validation", loss=0.7, accuracy=0.75),
    ])


def test_curves_are_tidy_and_smooth_train_only():
    frame = monitor.curves(_metrics(), x="epoch", smoothing=0.5)
    assert list(frame.columns) == monitor.CURVE_COLUMNS
    assert set(zip(frame.split, frame.metric)) == {("train", "loss"), ("train", "accuracy"),
                                                    ("validation", "loss"), ("validation", "accuracy")}
    train_loss = frame[(frame.split == "train") & (frame.metric == "loss")]
    assert train_loss.x.tolist() == [0.25, 0.5, 1.0, 2.0]
    assert train_loss.raw.tolist() == [0.9, 0.7, 0.5, 0.3]
    assert train_loss.value.tolist() == pytest.approx(monitor.ema([0.9, 0.7, 0.5, 0.3], 0.5).tolist())
    validation = frame[frame.split == "validation"]
    assert (validation.value == validation.raw).all()
    assert monitor.curves(_metrics(), x="step").query("split == 'validation'").x.unique().tolist() == [4, 8, 12]
    assert monitor.curves(pd.DataFrame(columns=runs.METRIC_COLUMNS)).empty
    with pytest.raises(ValueError, match="x must be"):
        monitor.curves(_metrics(), x="time")


def test_best_point_is_the_first_best_validation_accuracy():
    best = monitor.best_point(_metrics())
    assert (best["step"], best["accuracy"], best["loss"]) == (4, 0.8, 0.6)
    assert monitor.best_point(_metrics().query("split == 'train'")) is None
    assert monitor.best_point(pd.DataFrame(columns=runs.METRIC_COLUMNS)) is None


# --- progress, log_tail ----------------------------------------------------------------

def test_progress_of_a_running_run():
    p = monitor.progress({"state": "running", "step": 120, "total_steps": 400, "samples_per_second": 1234.4,
                          "eta_seconds": 65})
    assert p.fraction == pytest.approx(0.3)
    assert p.step_text == "step 120 / 400 (30%)"
    assert p.speed_text == "1,234 samples/s"
    assert p.eta_text == "about 1 min 05 s left"


@pytest.mark.parametrize("status,fraction,step_text,eta_text", [
    ({"state": "queued"}, 0.0, "preparing the data…", "starting…"),
    ({"state": "running", "step": 0, "total_steps": 10}, 0.0, "step 0 / 10 (0%)", "estimating…"),
    ({"state": "running", "step": 10, "total_steps": 10, "phase": "testing"}, 1.0, "step 10 / 10 (100%)",
     "evaluating on test…"),
    ({"state": "finished", "step": 1500, "total_steps": 1500}, 1.0, "step 1,500 / 1,500 (100%)", "done"),
    ({"state": "stopped", "step": 30, "total_steps": 100, "eta_seconds": 9}, 0.3, "step 30 / 100 (30%)", "stopped"),
    ({"state": "failed"}, 0.0, "step 0", "failed"),
])
def test_progress_in_every_state(status, fraction, step_text, eta_text):
    p = monitor.progress(status)
    assert (p.fraction, p.step_text, p.eta_text) == (pytest.approx(fraction), step_text, eta_text)
    assert p.speed_text == "–"


def test_format_seconds():
    assert [monitor.format_seconds(s) for s in (0.4, 45, 65, 3720, None)] == ["0 s", "45 s", "1 min 05 s",
                                                                             "1 h 02 min", "–"]


def test_log_tail_splits_carriage_returns(tmp_path):
    (tmp_path / "train.log").write_bytes(
        b"loading data\n"
        b"\r  0%|          | 0/50 [00:00<?, ?it/s]\r 10%|#         | 5/50 [00:01<00:09]\r 20%|##        | 10/50\n"
        b"{'loss': 0.69, 'epoch': 1.0}\x1b[A\r\n"
        b"\r 40%|####      | 20/50"
    )
    assert monitor.log_tail(tmp_path, lines=20).splitlines() == [
        "loading data", " 20%|##        | 10/50", "{'loss': 0.69, 'epoch': 1.0}", " 40%|####      | 20/50",
    ]
    assert monitor.log_tail(tmp_path, lines=2).splitlines() == ["{'loss': 0.69, 'epoch': 1.0}",
                                                                " 40%|####      | 20/50"]
    assert monitor.log_tail(tmp_path / "nowhere") == ""


def test_log_tail_reads_only_the_end_of_a_big_log(tmp_path):
    (tmp_path / "train.log").write_text("x" * 10 + "\n" + "\r 1%|".join(["bar"] * 200_000) + "\nlast line\n")
    assert monitor.log_tail(tmp_path, lines=1) == "last line"


# --- run status, details, the runs table -----------------------------------------------


def test_a_launched_run_without_run_json_shows_as_queued():
    path = runs.run_path("just-launched")
    path.mkdir(parents=True)
    runs.update_status(path, state="queued", created=runs.now_iso(),
                       command=["python", "-m", "sentiment_core", "train", "--model", "lstm", "--loss",
                                "cross_entropy"])
    table = monitor.runs_table()
    assert table.loc[0, ["run_id", "state", "family", "loss"]].tolist() == ["just-launched", "queued", "lstm",
                                                                           "cross_entropy"]
    assert monitor.active_run(table) == "just-launched"


def test_run_details_of_a_missing_run():
    with pytest.raises(runs.RunError, match="No run 'ghost'"):
        monitor.run_details("ghost")


def test_run_details_and_compare_curves_of_a_finished_run(tmp_path):
    from sentiment_core.training.options import TrainConfig
    from sentiment_core.training.run import train
    from tests.conftest import TINY, TINY_OPTIONS, write_parquet_dir

    data = str(write_parquet_dir(tmp_path / "data", n_train=80, n_test=40))
    train(TrainConfig(model="bow", data=data, epochs=2, lr=1e-2, run_id="done", model_options=TINY_OPTIONS["bow"],
                      **TINY))
    details = monitor.run_details("done")
    assert details["config"]["model"] == "bow" and details["status"]["state"] == "finished"
    assert details["overall"]["n"] == 40 and 0 <= details["overall"]["accuracy"] <= 1
    assert details["buckets"]["bucket"].tolist() == ["Q1", "Q2", "Q3", "Q4"]
    assert details["confusion"].shape == (2, 2) and details["confusion"].to_numpy().sum() == 40
    assert details["has_model"] and not details["can_resume"]
    frame = monitor.compare_curves(["done", "done"], x="epoch")
    assert set(frame.metric) == {"loss", "accuracy"} and frame.x.max() == 2.0
