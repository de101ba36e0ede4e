"""The training options are defined once (TrainConfig); flags, forms and comparison options derive from it."""

import argparse

import pytest

from sentiment_core.cli import build_parser
from sentiment_core.core.errors import InputError
from sentiment_core.core.settings import get_settings
from sentiment_core.training import options as train_config
from sentiment_core.training.options import (
    CLI_OPTIONS,
    FAMILY_DEFAULTS,
    FIELDS,
    SHARED_OPTIONS,
    TrainConfig,
    flag,
    form_fields,
    from_arguments,
)


def _subparser(name: str) -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def test_train_and_compare_flags_come_from_the_dataclass():
    train, compare = _flags(_subparser("train")), _flags(_subparser("compare-losses"))
    for name in CLI_OPTIONS:
        assert flag(name) in train and FIELDS[name].metadata["help"] in train[flag(name)].help
    for name in SHARED_OPTIONS:
        assert compare[flag(name)].help == train[flag(name)].help
    assert "--run-id" not in compare  # set per run by the comparison
    assert compare["--loss"].default is None  # per run, unless --vary changes another setting
    assert set(SHARED_OPTIONS) | {"model", "loss", "seed", "run_id", "report_to", "resume"} == set(CLI_OPTIONS)


def test_the_seed_default_comes_from_the_settings(monkeypatch):
    assert TrainConfig().resolved().seed == get_settings().seed
    monkeypatch.setenv("SENTIMENT_SEED", "7")
    get_settings.cache_clear()
    args = build_parser().parse_args(["train", "--model", "bow"])
    assert from_arguments(args).resolved().seed == 7
    assert [f.default for f in form_fields("bow", ["seed"])] == [7]
    from sentiment_core.evaluation import compare

    assert compare.parse_seeds(2) == [7, 8]


def test_form_fields_carry_the_family_defaults_and_the_help():
    for family, defaults in FAMILY_DEFAULTS.items():
        specs = {spec.name: spec for spec in form_fields(family, ["loss", "epochs", "batch_size", "max_train_samples"])}
        assert specs["epochs"].default == defaults["epochs"] and isinstance(specs["epochs"].default, float)
        assert specs["batch_size"].default == defaults["batch_size"] and specs["batch_size"].whole
        assert specs["max_train_samples"].default is None
        assert specs["loss"].widget == "select" and specs["loss"].choices == train_config.LOSSES
        assert specs["epochs"].help.lower().startswith(FIELDS["epochs"].metadata["help"][:20].lower())


@pytest.mark.parametrize("values,message", [
    (dict(best_metric="f1"), "Unknown --best-metric 'f1'"),
    (dict(warmup_ratio=1.0), r"warmup_ratio must be a number in \[0, 1\)"),
    (dict(weight_decay=-1.0), "weight_decay must be a number >= 0"),
    (dict(seed=-2), "seed must be a whole number >= 0"),
    (dict(model="bow", backbone="x"), "--backbone only applies to the pretrained family"),
])
def test_bad_values_are_refused_naming_the_option(values, message):
    with pytest.raises(train_config.InputError, match=message):
        TrainConfig(**values).resolved()


def test_best_metric_bce_picks_the_lowest_validation_bce():
    from pathlib import Path

    from sentiment_core.training.run import _training_arguments

    config = TrainConfig(model="bow", best_metric="bce").resolved()
    arguments = _training_arguments(config, Path("unused"), "cpu", steps_per_epoch=10)
    assert arguments.metric_for_best_model == "bce" and arguments.greater_is_better is False
    config = TrainConfig(model="bow").resolved()
    assert _training_arguments(config, Path("unused"), "cpu", 10).greater_is_better is True


def test_a_reading_option_the_run_would_ignore_is_refused_not_recorded():
    with pytest.raises(InputError, match="--head-tokens applies to --long-text head_tail only"):
        TrainConfig(model="bow", head_tokens=10).resolved()
    with pytest.raises(InputError, match="leaves no tokens for the end"):
        TrainConfig(model="pretrained", head_tokens=256).resolved()  # 256 tokens, two of them [CLS] and [SEP]
    assert TrainConfig(model="pretrained", head_tokens=128).resolved().head_tokens == 128


def test_every_tracker_offered_has_an_extra_that_installs_it(monkeypatch):
    import importlib.util

    import tomllib

    from sentiment_core.training.options import REPORT_TO
    from tests.conftest import REPO_ROOT

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for tracker in set(REPORT_TO) - {"none"}:
        assert any(line.startswith(tracker) for line in extras[tracker])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "tensorboard" else real(name))
    with pytest.raises(InputError, match=r"needs the 'tensorboard' package: pip install -e '\.\[tensorboard\]'"):
        TrainConfig(model="bow", report_to="tensorboard").resolved()
