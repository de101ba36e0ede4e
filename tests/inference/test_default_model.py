"""Which model a server serves: explicit > SENTIMENT_SERVE_MODEL > SENTIMENT_SERVE_RUN > the best finished run."""

from __future__ import annotations

import pytest

from sentiment_core.core import runs
from sentiment_core.core.settings import get_settings
from sentiment_core.inference.default_model import best_run_id, configured_source, served_source


def finished_run(run_id: str, accuracy: float) -> None:
    """A run folder the runs table counts as finished with a model (no weights: nothing here loads it)."""
    path = runs.create_run(run_id, {"model": "bow", "max_length": 64})
    runs.update_status(path, state="finished")
    (path / runs.BEST_DIR).mkdir()
    (path / runs.BEST_DIR / "config.json").write_text("{}")
    runs.write_json(path / runs.EVAL_FILE, {"test": {"accuracy": accuracy}})


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
