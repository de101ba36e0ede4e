"""A comparison's plan: its id and folder, the losses and seeds, and the options its runs share.

`make_plan` fixes every (loss, seed) run at creation; within a seed the runs share the data split,
the training subset, the data order and the initial weights (training seeds torch with the run's
seed whatever the loss), so the only difference is the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sentiment_core.core import runs
from sentiment_core.core.errors import ComparisonError, InputError
from sentiment_core.training.losses import LOSSES, check_loss_name
from sentiment_core.training.options import SHARED_OPTIONS, TrainConfig, check_option, command_arguments, normalise

COMPARISONS_DIR = runs.COMPARISONS_DIR  # under SENTIMENT_MODELS_DIR; runs.RESERVED_NAMES keeps it out of the runs
PLAN_FILE, COMPARISON_FILE, LOG_FILE = "plan.json", "comparison.json", "compare.log"
DEFAULT_LOSSES = ("bce", "length_weighted_bce")
DEFAULT_SEEDS = 3
COMPARISON_ID_MAX = 60  # leaves room for "-length_weighted_bce-s<seed>" within a 100-character run id


def comparisons_dir() -> Path:
    return runs.models_dir() / COMPARISONS_DIR


def validate_comparison_id(comparison_id: str) -> str:
    if not runs.is_plain_name(comparison_id) or len(comparison_id) > COMPARISON_ID_MAX:
        raise ComparisonError(
            f"Invalid comparison id {comparison_id!r}: use 1-{COMPARISON_ID_MAX} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return comparison_id


def comparison_path(comparison_id: str) -> Path:
    return comparisons_dir() / validate_comparison_id(comparison_id)


def new_comparison_id(model: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"cmp-{model}-{stamp}"


def comparison_run_id(comparison_id: str, loss: str, seed: int) -> str:
    return f"{comparison_id}-{loss}-s{seed}"


def parse_losses(losses: str | Sequence[str]) -> list[str]:
    """`"bce,length_weighted_bce"` or a list -> a list of two or more distinct known losses."""
    names = [n.strip() for n in (losses.split(",") if isinstance(losses, str) else losses) if str(n).strip()]
    for name in names:
        check_loss_name(name)
    if len(set(names)) != len(names):
        raise InputError(f"losses must be distinct, got {', '.join(names)}.")
    if len(names) < 2:
        raise InputError(f"A comparison needs two or more losses (of {', '.join(LOSSES)}), got {names or 'none'}.")
    return names


def parse_seeds(seeds: int | str | Sequence[int], first_seed: int | None = None) -> list[int]:
    """How many seeds (`3` -> first_seed, first_seed + 1, first_seed + 2; first_seed defaults to
    SENTIMENT_SEED) or which (`"1,7,9"`, a list)."""
    from sentiment_core.core.settings import get_settings

    first_seed = get_settings().seed if first_seed is None else first_seed
    if isinstance(seeds, str):
        text = seeds.strip()
        values = [part.strip() for part in text.split(",") if part.strip()]
        try:
            numbers = [int(v) for v in values]
        except ValueError:
            raise InputError("seeds must be a count (e.g. 3) or a comma-separated list of seeds, "
                             f"got {seeds!r}.") from None
        seeds = numbers[0] if len(numbers) == 1 and "," not in text else numbers
    if isinstance(seeds, bool):
        raise InputError(f"seeds must be a count or a list of seeds, got {seeds!r}.")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise InputError(f"seeds must be at least 1, got {seeds}.")
        if isinstance(first_seed, bool) or not isinstance(first_seed, (int, np.integer)) or first_seed < 0:
            raise InputError(f"the first seed must be a whole number >= 0, got {first_seed!r}.")
        return [int(first_seed) + i for i in range(int(seeds))]
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise InputError(f"seeds must be whole numbers >= 0, got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds must be distinct, got {seeds!r}.")
    return [int(s) for s in seeds]


def make_plan(model: str, losses: str | Sequence[str] = DEFAULT_LOSSES,
              seeds: int | str | Sequence[int] = DEFAULT_SEEDS,
              first_seed: int | None = None, comparison_id: str | None = None,
              model_options: dict | None = None, **options) -> dict:
    """The plan of a comparison: every (loss, seed) run with the same options. Bad values raise InputError.

    `options` are the `train` command's shared settings (`train_config.SHARED_OPTIONS`: epochs,
    batch_size, lr, max_length, max_train_samples, ..., data); None means the family default. Runs are
    ordered seed by seed, so each finished pair already gives a paired result.
    """
    check_option("model", model)
    unknown = sorted(set(options) - set(SHARED_OPTIONS))
    if unknown:
        raise InputError(f"Unknown comparison option(s): {', '.join(unknown)}; known: {', '.join(SHARED_OPTIONS)}.")
    loss_names = parse_losses(losses)
    seed_list = parse_seeds(seeds, first_seed)
    options = normalise(options)
    comparison_id = validate_comparison_id(comparison_id or new_comparison_id(model))
    planned = []
    for seed in seed_list:
        for loss in loss_names:
            run_id = comparison_run_id(comparison_id, loss, seed)
            TrainConfig(model=model, loss=loss, seed=seed, run_id=run_id, model_options=dict(model_options or {}),
                        **options).resolved()  # raises InputError naming the bad field
            planned.append({"run_id": run_id, "loss": loss, "seed": seed})
    return {"comparison_id": comparison_id, "model": model, "losses": loss_names, "seeds": seed_list,
            "options": options, "model_options": dict(model_options or {}), "runs": planned,
            "created": runs.now_iso()}


def same_plan(a: dict, b: dict) -> bool:
    keys = ("model", "losses", "seeds", "options", "model_options", "runs")
    return all(a.get(k) == b.get(k) for k in keys)


def read_plan(comparison_id: str) -> dict:
    path = comparison_path(comparison_id)
    plan = runs.read_json(path / PLAN_FILE)
    if plan is None:
        raise ComparisonError(f"No comparison {comparison_id!r} in {comparisons_dir()} (no {PLAN_FILE}).")
    return plan


def train_config(plan: dict, entry: dict) -> TrainConfig:
    return TrainConfig(model=plan["model"], loss=entry["loss"], seed=entry["seed"], run_id=entry["run_id"],
                       model_options=dict(plan.get("model_options") or {}), **plan["options"])


def train_arguments(plan: dict, entry: dict) -> list[str]:
    """`["train", "--model", ..., "--loss", ..., "--seed", ...]` for one planned run (no --run-id)."""
    if plan.get("model_options"):
        raise InputError("model_options cannot be passed to `python -m sentiment_core train`: "
                         "run this comparison in-process (compare-losses --in-process, or "
                         "run_comparison(..., in_process=True)).")
    return command_arguments({"model": plan["model"], "loss": entry["loss"], "seed": entry["seed"], **plan["options"]})


# --- the comparison folder is a job directory (runs owns the mechanism) --------------------

def read_status(comparison_id: str) -> dict:
    return runs.read_status(comparison_path(comparison_id))


def update_status(comparison_id: str, **fields) -> dict:
    return runs.update_status(comparison_path(comparison_id), **fields)


def effective_status(comparison_id: str) -> dict:
    """status.json, an active state turned into `failed` when its process is gone (error from compare.log)."""
    return runs.effective_status(comparison_path(comparison_id), log_name=LOG_FILE)


def stop_requested(comparison_id: str) -> bool:
    return runs.stop_requested(comparison_path(comparison_id))
