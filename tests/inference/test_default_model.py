"""Which model a server serves: explicit > SENTIMENT_SERVE_MODEL > SENTIMENT_SERVE_RUN > the best finished run."""

from __future__ import annotations

import pytest

from sentiment_core.core import runs
from sentiment_core.core.settings import get_settings
from sentiment_core.inference.default_model import (
    best_run_id,
    configured_source,
    finished_runs,
    run_label,
    served_source,
    why_chosen,
)


def finished_run(run_id: str, accuracy: float, reviews: int = 25_000) -> None:
    """A run folder the runs table counts as finished with a model (no weights: nothing here loads it)."""
    path = runs.create_run(run_id, {"model": "bow", "max_length": 64})
    runs.update_status(path, state="finished")
    (path / runs.BEST_DIR).mkdir()
    (path / runs.BEST_DIR / "config.json").write_text("{}")
    runs.write_json(path / runs.EVAL_FILE, {"test": {"accuracy": accuracy, "n": reviews}})


def settings_with(monkeypatch, **values):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def test_the_served_source_is_explicit_then_the_settings_then_the_best_run(monkeypatch):
    finished_run("good", 0.8)
    finished_run("better", 0.9)
    runs.create_run("unfinished", {"model": "bow"})
    assert best_run_id() == "better"
    assert served_source(None, get_settings()) == "better"
    settings = settings_with(monkeypatch, SENTIMENT_SERVE_RUN="good")
    assert served_source(None, settings) == "good" and configured_source(settings) == "good"
    settings = settings_with(monkeypatch, SENTIMENT_SERVE_MODEL="org/name@main")
    assert served_source(None, settings) == "org/name@main"  # SENTIMENT_SERVE_MODEL before SENTIMENT_SERVE_RUN
    assert served_source("/some/checkpoint", settings) == "/some/checkpoint"  # an explicit source first


def test_nothing_to_serve_says_how_to_get_a_model():
    runs.create_run("unfinished", {"model": "bow"})
    assert configured_source(get_settings()) is None
    with pytest.raises(runs.RunError, match=r"No finished run to serve in .*train one first .*--model bow.*--model"):
        served_source(None, get_settings())


def test_a_run_scored_on_a_handful_of_reviews_does_not_become_the_default():
    finished_run("full-bow", 0.9124)
    finished_run("five-reviews", 1.0, reviews=5)  # `evaluate --max-test-samples 5` scoring 5 of 5
    finished_run("thousand-reviews", 0.92, reviews=1000)  # 0.902 at the least
    assert [row["run_id"] for row in finished_runs()] == ["full-bow", "thousand-reviews", "five-reviews"]
    assert best_run_id() == "full-bow"
    assert why_chosen("full-bow").startswith("using run full-bow: test accuracy 0.9124 on 25,000 reviews, at least "
                                             "0.908")
    rows = {row["run_id"]: row for row in finished_runs()}
    assert run_label(rows["five-reviews"]) == "five-reviews · bow · evaluated · test acc 1.000 on 5"
