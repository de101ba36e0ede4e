"""Two processes under torchrun (gloo, CPU): one run directory, metrics written once, a model that loads."""

import os
import subprocess
import sys

import pytest
from transformers import AutoModelForSequenceClassification

import sentiment_core.modeling  # noqa: F401  (registers the families)
from sentiment_core.core import runs
from tests.conftest import REPO_ROOT, write_parquet_dir

pytestmark = pytest.mark.distributed


def test_two_process_ddp_run(tmp_path):
    data = write_parquet_dir(tmp_path / "data", n_train=96, n_test=24)
    environment = {**os.environ, "SENTIMENT_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sentiment_core", "train", "--model", "bow", "--data", str(data), "--epochs", "2",
        "--batch-size", "8", "--max-length", "64", "--vocab-size", "200", "--min-frequency", "1", "--run-id", "ddp",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [p.name for p in runs.models_dir().iterdir()] == ["ddp"]
    run_dir = runs.run_path("ddp")
    status = runs.read_status(run_dir)
    assert status["state"] == "finished" and status["world_size"] == 2
    raw = (run_dir / runs.METRICS_FILE).read_text().splitlines()
    rows = raw[1:]
    assert len(rows) == len(set(rows)), "metrics written by more than one process"
    assert sum(",validation," in row for row in rows) == 2  # one evaluation per epoch, once
    # 86 reviews / (8 per step x 2 processes) = 6 steps per epoch
    assert status["step"] == status["total_steps"] == 12
    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "best")
    assert type(model).__name__ == "BowForSequenceClassification"
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    assert report["test"]["n"] == 24  # every test review predicted once, none duplicated
