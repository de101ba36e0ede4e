"""Which model answers when none is named: the served model's source, else the best finished run."""

from __future__ import annotations

from pathlib import Path

from sentiment_core.core import runs
from sentiment_core.core.metrics import accuracy_lower_bound
from sentiment_core.core.settings import Settings


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)  # NaN (a table's missing cell) is None


def finished_runs() -> list[dict]:
    """Runs with a trained model (rows of `runs.list_runs()` with `accuracy_lower_bound` added), best first: ranked
    by the lower end of their test accuracy's 95% interval, so a run scored on a handful of reviews cannot pass one
    scored on the whole test split."""
    table = runs.list_runs()
    if table.empty:
        return []
    rows = table[table["state"] == "finished"].to_dict("records")
    rows = [r for r in rows if (Path(r["path"]) / runs.BEST_DIR / "config.json").exists()]
    for row in rows:
        reviews = _number(row.get("test_reviews"))
        row["accuracy_lower_bound"] = accuracy_lower_bound(_number(row.get("test_accuracy")),
                                                           int(reviews) if reviews else None)
    return sorted(rows, key=lambda row: -row["accuracy_lower_bound"])


def best_run_id() -> str | None:
    """The finished run ranked first by `finished_runs`, or None when there is none."""
    rows = finished_runs()
    return rows[0]["run_id"] if rows else None


def run_label(row: dict) -> str:
    """How a menu names a finished run: id, family, loss, and its test accuracy with the reviews it was scored on."""
    test, reviews = _number(row.get("test_accuracy")), _number(row.get("test_reviews"))
    accuracy = f"test acc {test:.3f} on {int(reviews):,}" if test is not None and reviews else "no test score"
    loss = row.get("loss") if isinstance(row.get("loss"), str) else "evaluated"
    return f"{row['run_id']} · {row['family']} · {loss} · {accuracy}"


def why_chosen(run_id: str) -> str:
    """One line saying why `run_id` is the default model, e.g. for the command line to print."""
    row = next((r for r in finished_runs() if r["run_id"] == run_id), None)
    if row is None or _number(row.get("test_accuracy")) is None:
        return f"using run {run_id}"
    return (f"using run {run_id}: test accuracy {row['test_accuracy']:.4f} on {int(row['test_reviews']):,} reviews, "
            f"at least {row['accuracy_lower_bound']:.4f} with 95% confidence, the best of the finished runs "
            "(pass --model to choose another)")


def chosen_source(requested: str | None) -> str:
    """`requested` (a run id, checkpoint folder or hub id), else the best finished run (`finished_runs`);
    RunError when there is neither."""
    source = requested or best_run_id()
    if source is None:
        raise runs.RunError("No finished run to use and no --model given: train one first (python -m sentiment_core "
                            "train --model bow), or pass --model with a checkpoint folder or hub id.")
    return source


def configured_source(settings: Settings) -> str | None:
    """The model source the settings name for serving: SENTIMENT_SERVE_MODEL, else SENTIMENT_SERVE_RUN, else None."""
    return settings.serve_model or settings.serve_run


def served_source(requested: str | None, settings: Settings) -> str:
    """The model a server serves: `requested` (a run id, checkpoint folder or hub id), else the settings'
    (`configured_source`), else the best finished run (`finished_runs`).

    Raises RunError when there is none of them.
    """
    source = requested or configured_source(settings) or best_run_id()
    if source is None:
        raise runs.RunError(
            f"No finished run to serve in {runs.models_dir()}: train one first "
            "(python -m sentiment_core train --model bow), or pass --model (a checkpoint folder or hub id).")
    return source
