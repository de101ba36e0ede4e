"""A comparison's plan: its id and folder, the setting it varies and the values of its arms (by default the
loss), the seeds, and the options its runs share.

`make_plan` fixes every (arm, seed) run at creation; within a seed the runs share the data split, the training
subset, the data order and the initial weights (training seeds torch with the run's seed whatever else
changes), so the only difference is the setting varied (`--vary augment=none,counterfactual`, `--losses a,b`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sentiment_core.core import runs
from sentiment_core.core.errors import ComparisonError, InputError
from sentiment_core.training.losses import LOSSES, check_loss_name
from sentiment_core.training.options import (
    AUGMENT_ONLY,
    FIELDS,
    SHARED_OPTIONS,
    TrainConfig,
    check_option,
    command_arguments,
    flag,
    normalise,
)

COMPARISONS_DIR = runs.COMPARISONS_DIR  # under SENTIMENT_MODELS_DIR; runs.RESERVED_NAMES keeps it out of the runs
PLAN_FILE, COMPARISON_FILE, LOG_FILE = "plan.json", "comparison.json", "compare.log"
DEFAULT_LOSSES = ("bce", "length_weighted_bce")
DEFAULT_SEEDS = 3
COMPARISON_ID_MAX = 60  # leaves room for "-length_weighted_bce-s<seed>" within a 100-character run id
# Settings a comparison may vary: the loss and the options its runs share, but not what the test set or its
# pairing depends on (--data, --max-test-samples).
VARIABLE_SETTINGS = ("loss",) + tuple(name for name in SHARED_OPTIONS if name not in ("data", "max_test_samples"))
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


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


def comparison_run_id(comparison_id: str, arm: str, seed: int) -> str:
    return f"{comparison_id}-{arm}-s{seed}"


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


def _value(setting: str, text) -> object:
    """One value of a varied setting as the option takes it (a number, a flag, a name)."""
    kind = FIELDS[setting].metadata["kind"]
    if not isinstance(text, str):
        return text
    text = text.strip()
    try:
        if kind in ("positive_int", "optional_positive_int", "seed"):
            return int(text)
        if kind in ("positive_float", "non_negative_float", "fraction", "share"):
            return float(text)
    except ValueError:
        check_option(setting, text)  # raises, naming what the option takes
    if kind == "flag":
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise InputError(f"{flag(setting)} is on or off: give its values as true,false, got {text!r}.")
    return text


def parse_vary(vary: str | tuple | list) -> tuple[str, list]:
    """`"augment=none,counterfactual"` (or `("augment", ["none", "counterfactual"])`) -> the setting and two or more
    distinct values, each checked as the option checks it."""
    if isinstance(vary, str):
        setting, equals, values = vary.partition("=")
        if not equals:
            raise InputError(f"--vary takes SETTING=A,B (e.g. augment=none,counterfactual), got {vary!r}.")
        values = [v for v in values.split(",") if v.strip()]
    else:
        setting, values = vary
    setting = str(setting).strip().lstrip("-").replace("-", "_")
    if setting not in VARIABLE_SETTINGS:
        raise InputError(f"A comparison cannot vary {setting!r}: vary one of {', '.join(VARIABLE_SETTINGS)}.")
    if setting == "loss":
        return setting, parse_losses(values)
    parsed = [_value(setting, v) for v in values]
    for value in parsed:
        check_option(setting, value)
    if len(parsed) < 2:
        raise InputError(f"A comparison needs two or more values of {setting}, got {parsed or 'none'}.")
    if len({repr(v) for v in parsed}) != len(parsed):
        raise InputError(f"The values of {setting} must be distinct, got {parsed}.")
    return setting, parsed


def arm_name(value, index: int) -> str:
    """How an arm is named in its run ids and tables: its value ("counterfactual", "0.001", "true"), or "arm2"
    when the value cannot be part of a run id (a path)."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return text if runs.is_plain_name(text) and len(text) <= 30 else f"arm{index + 1}"


def run_options(plan: dict, entry: dict) -> dict:
    """The training options of one planned run: the shared ones and its arm's value (options that do not apply
    to the arm left out: --augment-share for the arm without augmentation)."""
    plan = upgraded(plan)
    options = {**plan["options"], plan["vary"]: entry.get("value", entry.get("loss"))}
    if options.get("augment", "none") == "none":
        options = {k: v for k, v in options.items() if k not in AUGMENT_ONLY}
    return options


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


def make_plan(model: str, losses: str | Sequence[str] | None = None,
              seeds: int | str | Sequence[int] = DEFAULT_SEEDS,
              first_seed: int | None = None, comparison_id: str | None = None,
              model_options: dict | None = None, vary: str | tuple | None = None, **options) -> dict:
    """The plan of a comparison: every (arm, seed) run with the same options. Bad values raise InputError.

    vary: the setting the arms differ in and their values (`"augment=none,counterfactual"`); without it the arms
    are `losses` (default bce, length_weighted_bce). `options` are the `train` command's shared settings
    (`SHARED_OPTIONS`: epochs, batch_size, lr, ..., data; and loss when another setting varies); None means the
    family default. Runs are ordered seed by seed, so each finished pair already gives a paired result.
    """
    check_option("model", model)
    if vary is not None and losses is not None:
        raise InputError("Give --losses or --vary, not both (--losses a,b is --vary loss=a,b).")
    setting, values = parse_vary(vary) if vary is not None else ("loss", parse_losses(losses or DEFAULT_LOSSES))
    allowed = SHARED_OPTIONS + (("loss",) if setting != "loss" else ())
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"Unknown comparison option(s): {', '.join(unknown)}; known: {', '.join(allowed)}.")
    seed_list = parse_seeds(seeds, first_seed)
    options = normalise(options)
    if setting in options:
        raise InputError(f"{flag(setting)} is what this comparison varies: give its values in --vary only.")
    comparison_id = validate_comparison_id(comparison_id or new_comparison_id(model))
    arms = [arm_name(value, i) for i, value in enumerate(values)]
    if len(set(arms)) != len(arms):
        raise InputError(f"The values of {setting} must have distinct names, got {arms}.")
    plan = {"comparison_id": comparison_id, "model": model, "vary": setting, "arms": arms, "values": values,
            "losses": list(values) if setting == "loss" else [options.get("loss", FIELDS["loss"].default)],
            "seeds": seed_list, "options": options, "model_options": dict(model_options or {}), "runs": []}
    for seed in seed_list:
        for arm, value in zip(arms, values):
            run_id = comparison_run_id(comparison_id, arm, seed)
            runs.validate_run_id(run_id)
            entry = {"run_id": run_id, "arm": arm, "value": value, "seed": seed}
            entry["loss"] = value if setting == "loss" else options.get("loss", FIELDS["loss"].default)
            train_config(plan, entry).resolved()  # raises InputError naming the bad field
            plan["runs"].append(entry)
    return {**plan, "created": runs.now_iso()}


def upgraded(plan: dict) -> dict:
    """A plan written before comparisons could vary any setting (a loss comparison) in today's shape."""
    if "vary" in plan:
        return plan
    return {**plan, "vary": "loss", "arms": list(plan["losses"]), "values": list(plan["losses"]),
            "runs": [{**entry, "arm": entry["loss"], "value": entry["loss"]} for entry in plan["runs"]]}


def same_plan(a: dict, b: dict) -> bool:
    a, b = upgraded(a), upgraded(b)
    keys = ("model", "vary", "values", "seeds", "options", "model_options", "runs")
    return all(a.get(k) == b.get(k) for k in keys)


def read_plan(comparison_id: str) -> dict:
    path = comparison_path(comparison_id)
    plan = runs.read_json(path / PLAN_FILE)
    if plan is None:
        raise ComparisonError(f"No comparison {comparison_id!r} in {comparisons_dir()} (no {PLAN_FILE}).")
    return upgraded(plan)


def train_config(plan: dict, entry: dict) -> TrainConfig:
    return TrainConfig(model=plan["model"], seed=entry["seed"], run_id=entry["run_id"],
                       model_options=dict(plan.get("model_options") or {}), **run_options(plan, entry))


def train_arguments(plan: dict, entry: dict) -> list[str]:
    """`["train", "--model", ..., "--loss", ..., "--seed", ...]` for one planned run (no --run-id)."""
    if plan.get("model_options"):
        raise InputError("model_options cannot be passed to `python -m sentiment_core train`: "
                         "run this comparison in-process (compare-losses --in-process, or "
                         "run_comparison(..., in_process=True)).")
    return command_arguments({"model": plan["model"], "seed": entry["seed"], **run_options(plan, entry)})


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
