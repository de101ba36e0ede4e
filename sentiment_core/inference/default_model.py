"""Which model answers when none is named: the served model's source, else the best finished run."""

from __future__ import annotations

from pathlib import Path

from sentiment_core.core import runs
from sentiment_core.core.settings import Settings


def finished_runs() -> list[dict]:
    """Runs with a trained model, best test accuracy first (rows of `runs.list_runs()`)."""
    table = runs.list_runs()
    if table.empty:
        return []
    rows = table[table["state"] == "finished"].to_dict("records")
    rows = [r for r in rows if (Path(r["path"]) / runs.BEST_DIR / "config.json").exists()]

    def score(row):
        test = row.get("test_accuracy")
        return -(test if test == test and test is not None else -1.0)  # NaN/None last

    return sorted(rows, key=score)


def best_run_id() -> str | None:
    """The finished run with the highest test accuracy, or None when there is none."""
    rows = finished_runs()
    return rows[0]["run_id"] if rows else None


def chosen_source(requested: str | None) -> str:
    """`requested` (a run id, checkpoint folder or hub id), else the finished run with the best test accuracy;
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
    (`configured_source`), else the finished run with the best test accuracy.

    Raises RunError when there is none of them.
    """
    source = requested or configured_source(settings) or best_run_id()
    if source is None:
        raise runs.RunError(
            f"No finished run to serve in {runs.models_dir()}: train one first "
            "(python -m sentiment_core train --model bow), or pass --model (a checkpoint folder or hub id).")
    return source
