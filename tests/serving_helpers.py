"""A tiny finished bow run, trained once per test session and copied into each test's models folder.

The serving tests (API, SageMaker handler, export) all need a finished run; training one per test
would cost seconds each, so the first call trains "tiny-bow" on a fixture dataset in a temporary
folder and later calls copy it (without its checkpoints) into SENTIMENT_MODELS_DIR.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pytest

from sentiment_core.core import runs
from sentiment_core.core.settings import get_settings
from tests.conftest import TINY, TINY_OPTIONS, write_parquet_dir

RUN_ID = "tiny-bow"


@functools.lru_cache(maxsize=1)
def _trained_run() -> Path:
    from sentiment_core.training.options import TrainConfig
    from sentiment_core.training.run import train

    root = Path(tempfile.mkdtemp(prefix="serving-tests-"))
    atexit.register(shutil.rmtree, root, True)
    data = str(write_parquet_dir(root / "data", n_train=80, n_test=40))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SENTIMENT_MODELS_DIR", str(root / "models"))
        patch.setenv("SENTIMENT_DEVICE", "cpu")
        get_settings.cache_clear()
        try:
            run_dir = train(TrainConfig(model="bow", data=data, epochs=2, lr=1e-2, run_id=RUN_ID,
                                        model_options=TINY_OPTIONS["bow"], **TINY))
        finally:
            get_settings.cache_clear()
    return run_dir


def install_tiny_run(run_id: str = RUN_ID) -> Path:
    """Copy the trained tiny run into the current SENTIMENT_MODELS_DIR as `run_id`; -> its folder."""
    source = _trained_run()
    target = runs.models_dir() / run_id
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("checkpoints"))
    if run_id != RUN_ID:
        config = runs.read_config(target)
        runs.write_json(target / runs.RUN_FILE, {**config, "run_id": run_id})
    return target
