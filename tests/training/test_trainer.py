import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from transformers import AutoTokenizer

from sentiment_core.cli import main
from sentiment_core.core import runs
from sentiment_core.data.imdb import load_imdb
from sentiment_core.inference.sources import load_run
from sentiment_core.training import jobs
from sentiment_core.training.options import TrainConfig
from sentiment_core.training.run import train
from tests.conftest import TINY, TINY_OPTIONS, write_parquet_dir


@pytest.fixture
def tiny_data(tmp_path):
    return str(write_parquet_dir(tmp_path / "data", n_train=80, n_test=40))


def _tiny(data, **overrides) -> TrainConfig:
    family = overrides.get("model", "bow")
    values = dict(model=family, data=data, epochs=2, lr=1e-2, model_options=TINY_OPTIONS.get(family, {}), **TINY)
    values.update(overrides)
    return TrainConfig(**values)


def test_bow_run_writes_the_whole_contract(tiny_data):
    run_dir = train(_tiny(tiny_data, run_id="contract", epochs=3))
    assert run_dir == runs.run_path("contract")
    for name in ("run.json", "status.json", "metrics.csv", "eval.json", "predictions.csv", "train.log"):
        if name != "train.log":
            assert (run_dir / name).exists(), name
    assert (run_dir / "best" / "model.safetensors").exists() and (run_dir / "best" / "tokenizer.json").exists()
    assert runs.last_checkpoint(run_dir) is not None
    status = runs.read_status(run_dir)
    assert status["state"] == "finished" and status["step"] == status["total_steps"] > 0
    config = runs.read_config(run_dir)
    assert config["model"] == "bow" and config["epochs"] == 3 and config["device"] == "cpu"
    metrics = runs.read_metrics(run_dir)
    assert set(metrics["split"]) == {"train", "validation"}
    assert (metrics["split"] == "validation").sum() == 3  # one evaluation per epoch
    report = json.loads((run_dir / "eval.json").read_text())
    test = report["test"]
    assert test["n"] == 40 and 0 <= test["accuracy"] <= 1
    assert {"precision", "recall", "f1", "roc_auc", "bce", "calibration", "length_buckets"} <= set(test)
    assert len(test["length_buckets"]) == 4
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert list(predictions.columns[:5]) == ["id", "probability", "label", "predicted", "length"]
    assert len(predictions) == 40
    assert test["accuracy"] == pytest.approx((predictions.predicted == predictions.label).mean())
    # Rows follow the test split's order: id i is review i, with its own label and length.
    test_split = load_imdb(tiny_data)["test"]
    assert predictions.label.tolist() == list(test_split["label"])
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "best")
    assert predictions.length.tolist() == [len(tokenizer(t)["input_ids"]) for t in test_split["text"]]
    assert report["best_validation"]["accuracy"] == metrics[metrics.split == "validation"]["accuracy"].max()


@pytest.mark.parametrize("loss", ["length_weighted_bce", "cross_entropy"])
def test_other_losses_train(tiny_data, loss):
    run_dir = train(_tiny(tiny_data, loss=loss, epochs=1))
    assert runs.read_status(run_dir)["state"] == "finished"


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_sequence_families_train(tiny_data, family):
    run_dir = train(_tiny(tiny_data, model=family, epochs=1, lr=5e-3))
    assert json.loads((run_dir / "eval.json").read_text())["model"] == family


@pytest.mark.parametrize("family", ["bow", "transformer"])
def test_bow_and_transformer_read_negation_scopes_with_their_own_vocabulary(tmp_path, family):
    from transformers import AutoConfig

    from sentiment_core.data.opposites import NEGATION_CUES, NEGATION_SCOPE_ENDS

    folder = write_parquet_dir(tmp_path / "data", n_train=60, n_test=20)
    train_split = pd.read_parquet(folder / "train.parquet")
    train_split["text"] = [text + (" It was not bad." if label else " It wasn't good, but short.")
                           for text, label in zip(train_split.text, train_split.label)]
    train_split.to_parquet(folder / "train.parquet")
    run_dir = train(_tiny(str(folder), model=family, epochs=1))
    config = AutoConfig.from_pretrained(run_dir / "best")
    vocabulary = AutoTokenizer.from_pretrained(run_dir / "best").get_vocab()
    assert config.negation_cue_ids == sorted(vocabulary[w] for w in NEGATION_CUES if w in vocabulary)
    assert {vocabulary["not"], vocabulary["wasn't"]} <= set(config.negation_cue_ids)
    assert {vocabulary["."], vocabulary["but"]} <= set(config.scope_end_ids) <= {
        vocabulary[w] for w in NEGATION_SCOPE_ENDS + (",",) if w in vocabulary}
    assert (vocabulary[","] in config.scope_end_ids) == (family == "bow")  # only bow's scope ends at a comma
    predictor = load_run(run_dir.name)
    assert any("negation" in name or "scope" in name for name, _ in predictor.model.named_parameters())


@pytest.mark.parametrize("family", ["bow", "transformer"])
def test_a_run_made_before_negation_scopes_resumes_as_it_was_built(tmp_path, monkeypatch, family):
    """Resuming rebuilds the model its checkpoint describes, not what `train` would build today."""
    from sentiment_core.training import run as training_run

    folder = write_parquet_dir(tmp_path / "data", n_train=60, n_test=20)
    train_split = pd.read_parquet(folder / "train.parquet")
    train_split["text"] = train_split.text + " It was not bad."
    train_split.to_parquet(folder / "train.parquet")
    with monkeypatch.context() as before_scopes:
        before_scopes.setattr(training_run, "NEGATION_SCOPE_ENDS", {})
        run_dir = train(_tiny(str(folder), model=family, epochs=1, run_id=f"old-{family}"))
    resumed = train(TrainConfig(run_id=run_dir.name, resume=True, epochs=2))
    assert runs.read_status(resumed)["state"] == "finished"
    model = load_run(resumed.name).model
    assert model.config.negation_cue_ids == [] and not any(
        "negation" in name or "scope" in name for name, _ in model.named_parameters())


def test_duplicate_run_id_is_refused_and_nothing_is_lost(tiny_data):
    run_dir = train(_tiny(tiny_data, run_id="twice", epochs=1))
    before = (run_dir / "eval.json").read_text()
    with pytest.raises(runs.RunError, match="already exists"):
        train(_tiny(tiny_data, run_id="twice", epochs=1))
    assert (run_dir / "eval.json").read_text() == before
    assert runs.read_status(run_dir)["state"] == "finished"


@pytest.mark.parametrize("overrides,message", [
    (dict(model="svm"), "Unknown model family 'svm'"),
    (dict(loss="hinge"), "Unknown loss 'hinge'"),
    (dict(epochs=-1), "epochs must be a positive number"),
    (dict(batch_size=0), "batch_size must be a positive whole number"),
    (dict(lr=float("nan")), "lr must be a positive number"),
    (dict(run_id="../escape"), "Invalid run id"),
    (dict(backbone="bert-base-uncased"), "--backbone only applies"),
    (dict(resume=True), "--resume needs the --run-id"),
])
def test_bad_arguments_fail_before_any_work(tiny_data, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        train(_tiny(tiny_data, **overrides))
    assert not runs.models_dir().exists() or not any(runs.models_dir().iterdir())


def test_missing_data_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        train(_tiny(str(tmp_path / "nowhere")))
    assert not runs.models_dir().exists() or not any(runs.models_dir().iterdir())


def test_cli_train_prints_run_and_metrics(tiny_data, capsys):
    code = main(["train", "--model", "bow", "--data", tiny_data, "--epochs", "1", "--batch-size", "8",
                 "--max-length", "64", "--vocab-size", "200", "--min-frequency", "1", "--run-id", "cli-run"])
    assert code == 0
    out = capsys.readouterr().out
    assert "run directory:" in out and "cli-run" in out and '"accuracy"' in out


def test_cli_bad_argument_is_a_clear_error(tiny_data, capsys):
    assert main(["train", "--data", tiny_data, "--epochs", "-2"]) == 2
    assert "epochs must be a positive number" in capsys.readouterr().err


def _wait(predicate, timeout=120.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_stop_then_resume_a_launched_run(tmp_path):
    data = str(write_parquet_dir(tmp_path / "data", n_train=400, n_test=40))
    run_id = "stoppable"
    arguments = ["train", "--model", "bow", "--data", data, "--epochs", "200", "--batch-size", "8",
                 "--max-length", "64", "--vocab-size", "200", "--min-frequency", "1"]
    process = jobs.launch(arguments, run_id)
    run_dir = runs.run_path(run_id)
    _wait(lambda: (runs.read_status(run_dir).get("step") or 0) >= 5, what="the run to make progress")
    runs.request_stop(run_id)
    stopped_at = time.monotonic()
    process.wait(timeout=60)
    assert time.monotonic() - stopped_at < 30
    status = runs.read_status(run_dir)
    assert status["state"] == "stopped", status
    checkpoint = runs.last_checkpoint(run_dir)
    assert checkpoint is not None
    saved_step = int(checkpoint.name.split("-")[1])
    assert saved_step == status["step"]
    assert not (run_dir / "eval.json").exists()

    # resume with fewer epochs (one more than it reached before the stop landed: a fast machine gets
    # past epoch 1 first): the saved config is reused, training continues from the checkpoint
    resumed = train(TrainConfig(run_id=run_id, resume=True, epochs=int(status.get("epoch") or 0) + 1))
    final = runs.read_status(resumed)
    assert final["state"] == "finished" and final["step"] > saved_step
    metrics = runs.read_metrics(resumed)
    assert metrics["step"].max() == final["step"]
    assert (resumed / "eval.json").exists()
    with pytest.raises(runs.RunError, match="no such run"):
        train(TrainConfig(run_id="never-made", resume=True))


def test_pretrained_family_trains_from_a_local_backbone(tiny_data, tiny_backbone):
    run_dir = train(TrainConfig(model="pretrained", backbone=tiny_backbone, data=tiny_data, epochs=1,
                                batch_size=8, lr=1e-3, max_length=64))
    assert runs.read_status(run_dir)["state"] == "finished"
    assert runs.read_config(run_dir)["backbone"] == tiny_backbone
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "best")
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "best")
    assert model(**tokenizer(["great movie"], return_tensors="pt")).logits.shape == (1, 1)


def test_unreachable_backbone_is_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="Cannot load the tokenizer of backbone"):
        train(TrainConfig(model="pretrained", backbone=str(tmp_path / "no-such-model"), data=tiny_data, epochs=1))
    assert not runs.models_dir().exists() or not any(runs.models_dir().iterdir())


def test_a_hub_backbone_fails_at_once_when_the_hub_is_unreachable(tiny_data, monkeypatch):
    from sentiment_core.data import imdb as data

    monkeypatch.setattr(data, "hub_reachable", lambda timeout=3.0: False)
    started = time.monotonic()
    with pytest.raises(ValueError, match="hub is unreachable .* HF_HUB_OFFLINE=1"):
        train(TrainConfig(model="pretrained", backbone="distilbert-base-uncased", data=tiny_data, epochs=1))
    assert time.monotonic() - started < 5
    assert not runs.models_dir().exists() or not any(runs.models_dir().iterdir())


def test_a_run_records_its_data_source_with_fingerprints(tiny_data):
    run_dir = train(_tiny(tiny_data, epochs=1))
    recorded = runs.read_config(run_dir)["data_source"]
    assert recorded["kind"] == "parquet folder" and recorded["source"] == str(Path(tiny_data).resolve())
    assert set(recorded["splits"]) == {"train", "validation", "test"}
    assert all(len(split["fingerprint"]) == 16 and split["rows"] > 0 for split in recorded["splits"].values())


def test_pretrained_encoding_does_not_warn_about_indexing_errors(tiny_backbone, caplog):
    from sentiment_core.training.encoding import _encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    tokenizer.model_max_length = 64
    long_review = "good " * 100
    with caplog.at_level("WARNING"):
        ids, _, lengths = _encode(tokenizer, [long_review], TrainConfig(model="pretrained", max_length=32), "truncate")
    assert len(ids[0]) == 32 and lengths[0] > 32
    assert "indexing errors" not in caplog.text


# --- holding up under real use (issue 17) ---------------------------------------------------

def test_resume_after_sigkill_never_repeats_a_metric(tmp_path):
    import os
    import signal

    from sentiment_core.training import dashboard as monitor

    data = str(write_parquet_dir(tmp_path / "data", n_train=400, n_test=40))
    run_id = "killed"
    arguments = ["train", "--model", "bow", "--data", data, "--epochs", "30", "--batch-size", "8", "--max-length", "64",
                 "--vocab-size", "200", "--min-frequency", "1", "--eval-steps", "20", "--logging-steps", "1"]
    process = jobs.launch(arguments, run_id)
    run_dir = runs.run_path(run_id)
    # between two checkpoints: one saved at step 20, and steps logged after it
    _wait(lambda: runs.last_checkpoint(run_dir) is not None and (runs.read_status(run_dir).get("step") or 0) >= 27,
          what="a checkpoint and steps after it")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    saved = runs.checkpoint_step(runs.last_checkpoint(run_dir))
    logged = pd.read_csv(run_dir / "metrics.csv")
    assert logged["step"].max() > saved  # rows after the checkpoint, which the resume logs again
    assert monitor.run_status(run_id)["state"] == "failed"  # the dead process is not "running" forever

    resumed = train(TrainConfig(run_id=run_id, resume=True, epochs=1.5))
    assert runs.read_status(resumed)["state"] == "finished"
    raw = pd.read_csv(resumed / "metrics.csv")
    assert not raw.duplicated(subset=["step", "split"]).any(), raw[raw.duplicated(subset=["step", "split"], keep=False)]
    curves = monitor.curves(runs.read_metrics(resumed))
    assert not curves.duplicated(subset=["x", "split", "metric"]).any()


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tiny_data, monkeypatch):
    import errno

    from transformers import Trainer

    real = Trainer._save_optimizer_and_scheduler
    calls = {"n": 0}

    def fail_on_the_second(self, output_dir):
        calls["n"] += 1
        if calls["n"] == 2:  # the model file is written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_optimizer_and_scheduler", fail_on_the_second)
    with pytest.raises(OSError):
        train(_tiny(tiny_data, run_id="full-disk", epochs=3))
    run_dir = runs.run_path("full-disk")
    status = runs.read_status(run_dir)
    assert status["state"] == "failed" and "disk is full" in status["error"] and "resume" in status["error"]
    kept = runs.last_checkpoint(run_dir)
    assert kept is not None and (kept / "trainer_state.json").exists()
    monkeypatch.setattr(Trainer, "_save_optimizer_and_scheduler", real)
    resumed = train(TrainConfig(run_id="full-disk", resume=True))
    assert runs.read_status(resumed)["state"] == "finished" and (resumed / "eval.json").exists()


# --- bfloat16 on CPUs that have it, long reviews (issue 13) ----------------------------------------

def test_bfloat16_is_chosen_only_where_the_cpu_has_it(monkeypatch):
    from sentiment_core.training import run as training

    pretrained, bow = TrainConfig(model="pretrained").resolved(), TrainConfig(model="bow").resolved()
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.resolve_precision(pretrained, "cpu") == "bfloat16"
    assert training.resolve_precision(bow, "cpu") == "float32"  # the small families gain little
    forced = TrainConfig(model="pretrained", precision="float32").resolved()
    assert training.resolve_precision(forced, "cpu") == "float32"
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert training.resolve_precision(pretrained, "cpu") == "float32"  # emulated bfloat16 would be slower


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_tiny_backbone_trains_in_both_precisions_and_records_it(tiny_data, tiny_backbone, precision):
    run_dir = train(TrainConfig(model="pretrained", backbone=tiny_backbone, data=tiny_data, epochs=1, batch_size=8,
                                lr=1e-3, max_length=32, precision=precision, max_train_samples=24))
    config = runs.read_config(run_dir)
    assert config["precision"] == precision and config["precision_used"] == precision
    assert runs.read_status(run_dir)["state"] == "finished"


def test_windows_runs_test_on_windows_and_their_predictor_reads_the_same(tmp_path):

    data = tmp_path / "data"
    write_parquet_dir(data, n_train=60, n_test=20)
    long = pd.read_parquet(data / "test.parquet")
    long["text"] = long["text"] + " " + " ".join(["and the story went on"] * 20)
    long.to_parquet(data / "test.parquet")
    run_dir = train(_tiny(str(data), epochs=1, max_length=24, long_text="windows", run_id="windowed"))
    config, report = runs.read_config(run_dir), json.loads((run_dir / "eval.json").read_text())
    assert config["long_text"] == "windows" and report["long_text"] == "windows"
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert len(predictions) == 20 and not predictions["truncated"].any()  # windows read every token
    predictor = load_run("windowed")
    assert predictor.long_text == "windows"
    texts = list(load_imdb(str(data))["test"]["text"])
    again = [p.probability for p in predictor.predict(texts)]
    assert np.allclose(again, predictions["probability"], atol=1e-5)


def test_the_pretrained_test_pass_uses_the_batch_precision(tiny_data, tiny_backbone, monkeypatch):
    from sentiment_core.core.settings import get_settings

    monkeypatch.setenv("SENTIMENT_BATCH_PRECISION", "int8")
    get_settings.cache_clear()
    run_dir = train(TrainConfig(model="pretrained", backbone=tiny_backbone, data=tiny_data, epochs=1, batch_size=8,
                                lr=1e-3, max_length=32, precision="float32", max_train_samples=24))
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["test_precision"] == "int8" and 0 <= report["test"]["accuracy"] <= 1

    predictor = load_run(run_dir.name)
    texts = list(load_imdb(tiny_data)["test"]["text"])
    exact = np.array([p.probability for p in predictor.predict(texts)])  # interactive: float32
    quick = np.array([p.probability for p in predictor.predict(texts, batch=True)])  # a file: int8
    assert np.abs(exact - quick).max() < 0.05
    saved = pd.read_csv(run_dir / "predictions.csv")["probability"].to_numpy()
    assert np.abs(saved - quick).max() < 0.05  # int8 activations are scaled per batch: close, not equal
