"""The training options, defined once: `TrainConfig` with each option's help, choices, family default
and validation.

Everything else is derived from these fields: the `train` and `compare-losses` flags
(`add_arguments`), the Train and Compare pages' forms (`form_fields`), the options a loss comparison
shares between its runs (`SHARED_OPTIONS`) and the `train ...` command line a page or a comparison
starts (`command_arguments`). No torch here beyond the loss names, so `--help` and the pages stay light.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any

from sentiment_core.core.errors import InputError
from sentiment_core.data.reading import LONG_TEXT, check_reading
from sentiment_core.modeling.pretrained import DEFAULT_BACKBONE, POOLINGS
from sentiment_core.training.augment import AUGMENTATIONS, DEFAULT_SHARE
from sentiment_core.training.losses import LOSS_DESCRIPTIONS, LOSSES

FAMILIES = ("bow", "lstm", "transformer", "pretrained")
REPORT_TO = ("none", "tensorboard", "wandb")
BEST_METRICS = ("accuracy", "bce")
PRECISIONS = ("auto", "float32", "bfloat16")

# Values every family starts from; FAMILY_DEFAULTS overrides them. bench/train_bench.py measures these.
COMMON_DEFAULTS: dict[str, Any] = dict(weight_decay=0.0, warmup_ratio=0.0, best_metric="accuracy", long_text="truncate",
                                       precision="auto", augment="none", augment_share=DEFAULT_SHARE)
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # bow's one negation factor learns from a few pairs, and more pairs cost it accuracy (docs/results.md).
    "bow": dict(epochs=3, batch_size=128, lr=5e-3, max_length=1024, vocab_size=60_000, min_frequency=2,
                augment_share=0.2),
    "lstm": dict(epochs=5, batch_size=64, lr=2e-3, max_length=512, vocab_size=30_000, min_frequency=2),
    "transformer": dict(epochs=3, batch_size=64, lr=1e-3, max_length=512, vocab_size=30_000, min_frequency=2),
    # The CPU recipe (docs/training.md, "The pretrained family on a CPU"): one epoch, 256 tokens of head and tail,
    # a mean-pooled head, a short warm-up; bfloat16 where the CPU has it (precision auto).
    "pretrained": dict(epochs=1, batch_size=16, lr=5e-5, max_length=256, backbone=DEFAULT_BACKBONE,
                       long_text="head_tail", pooling="mean", warmup_ratio=0.06, weight_decay=0.01),
}
FAMILY_HINTS = {
    "bow": "Naive-Bayes-weighted bag of words and hashed bigrams: the fast baseline, the quickest family to train.",
    "lstm": "Bidirectional LSTM reading each review within its real length: slower, order-aware.",
    "transformer": "Small transformer encoder trained from scratch.",
    "pretrained": "Fine-tunes a pretrained encoder (--backbone): best accuracy, needs a GPU to be quick.",
}
WORD_LEVEL_ONLY = ("vocab_size", "min_frequency")  # options of the word tokenizer (not the pretrained family)
AUGMENT_ONLY = ("augment_share", "augment_eval")  # options of --augment counterfactual
PRETRAINED_ONLY = ("pooling",)  # options of the pretrained encoder's head


def option(default=None, *, help: str, kind: str, choices=None, noun: str | None = None, label: str | None = None,
           step: float | None = None, metavar: str | None = None, per_run: bool = False, cli: bool = True):
    """A TrainConfig field with what the flags, forms and validation need.

    kind: choice | positive_int | positive_float | optional_positive_int | non_negative_float | fraction |
          share | seed | text | flag | dict.
    per_run: set for each run of a comparison (model, loss, seed, id), not shared.
    """
    metadata = dict(help=help, kind=kind, choices=choices, noun=noun or kind, label=label, step=step,
                    metavar=metavar, per_run=per_run, cli=cli)
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything a run needs; saved as run.json. `None` means the family default (FAMILY_DEFAULTS), and
    for `seed` the SENTIMENT_SEED setting. Each field's help is in its metadata (`--help` shows it)."""

    model: str = option("bow", kind="choice", choices=FAMILIES, noun="model family", per_run=True,
                        help="model family")
    loss: str = option("bce", kind="choice", choices=LOSSES, noun="loss", per_run=True, label="Loss",
                       help="training loss: " + "; ".join(f"{name}: {text}"
                                                          for name, text in LOSS_DESCRIPTIONS.items()))
    epochs: float | None = option(kind="positive_float", label="Epochs", step=1.0,
                                  help="passes over the training data (fractions allowed, e.g. 0.5)")
    batch_size: int | None = option(kind="positive_int", label="Batch size", step=8,
                                    help="reviews per optimisation step and device")
    lr: float | None = option(kind="positive_float", label="Learning rate", step=1e-4,
                              help="peak learning rate; it decays linearly to 0")
    max_length: int | None = option(kind="positive_int", label="Max length (tokens)", step=64,
                                    help="tokens read per review; longer reviews are truncated")
    max_train_samples: int | None = option(kind="optional_positive_int", metavar="N", label="Max train samples",
                                           step=1000, help="train on a seeded random subset of N reviews "
                                           "(default: the whole training split)")
    max_eval_samples: int | None = option(kind="optional_positive_int", metavar="N",
                                          help="validate on a seeded random subset of N reviews")
    max_test_samples: int | None = option(kind="optional_positive_int", metavar="N",
                                          help="test on a seeded random subset of N reviews "
                                          "(eval.json records how many)")
    seed: int | None = option(kind="seed", per_run=True, label="Seed", step=1,
                              help="seeds the subset, the initial weights and the data order (default: SENTIMENT_SEED)")
    run_id: str | None = option(kind="text", per_run=True,
                                help="run folder name (default: <family>-<loss>-<timestamp>)")
    backbone: str | None = option(kind="text", label="Backbone",
                                  help="pretrained family only: hub id or local model folder of the encoder")
    data: str | None = option(kind="text", metavar="SRC", help="IMDB source (default: IMDB_DATA)")
    report_to: str = option("none", kind="choice", choices=REPORT_TO, noun="--report-to", per_run=True,
                            help="experiment tracker (install it with its extra: pip install -e '.[tensorboard]'; "
                            "TensorBoard's logs go to the run's checkpoints/runs/)")
    resume: bool = option(False, kind="flag", per_run=True, help="continue --run-id from its last checkpoint "
                          "(only --epochs may change)")
    eval_steps: int | None = option(kind="optional_positive_int", metavar="N",
                                    help="evaluate on validation every N steps (default: each epoch)")
    early_stopping_patience: int | None = option(kind="optional_positive_int", metavar="N",
                                                 help="stop after N evaluations without a better --best-metric")
    best_metric: str | None = option(kind="choice", choices=BEST_METRICS, noun="--best-metric",
                                     help="validation metric that picks the best checkpoint and drives early "
                                     "stopping: accuracy (higher is better) or bce (unweighted, lower is better)")
    long_text: str | None = option(kind="choice", choices=LONG_TEXT, noun="--long-text", label="Long reviews",
                                   help="how a review longer than max_length is read: truncate (its first tokens), "
                                   "head_tail (the first --head-tokens and the last ones; the middle is skipped) or "
                                   "windows (overlapping windows, the review's log-odds their mean; training reads "
                                   "head_tail); predictions and explanations read the same way")
    head_tokens: int | None = option(kind="optional_positive_int", metavar="K",
                                     help="head_tail: tokens kept from the start (default: a quarter of max_length)")
    window_stride: int | None = option(kind="optional_positive_int", metavar="N",
                                       help="windows: tokens from one window's start to the next (default: half of "
                                       "max_length)")
    precision: str | None = option(kind="choice", choices=PRECISIONS, noun="--precision", label="Precision",
                                   help="number format of training: auto (bfloat16 mixed precision with float32 master "
                                   "weights on a GPU, float16 where it lacks bfloat16, and for the pretrained family "
                                   "on a CPU with native bfloat16, i.e. AVX512-BF16 or AMX; float32 otherwise), "
                                   "float32, or bfloat16")
    pooling: str | None = option(kind="choice", choices=POOLINGS, noun="--pooling",
                                 help="pretrained family only: the review's vector for the head, the first token's "
                                 "(cls) or the mean of all tokens' (mean, what sentence encoders such as MiniLM were "
                                 "trained with)")
    vocab_size: int | None = option(kind="positive_int", help="word tokenizer vocabulary size (bow, lstm, transformer)")
    min_frequency: int | None = option(kind="positive_int",
                                       help="word tokenizer minimum word count (bow, lstm, transformer)")
    weight_decay: float | None = option(kind="non_negative_float", help="AdamW weight decay")
    warmup_ratio: float | None = option(kind="fraction", help="share of the steps spent warming the learning rate up")
    logging_steps: int | None = option(kind="optional_positive_int", metavar="N",
                                       help="log a train row every N steps (default: about 25 per epoch, "
                                       "at most 50 steps)")
    augment: str | None = option(kind="choice", choices=AUGMENTATIONS, noun="--augment", label="Augmentation",
                          help="counterfactual: for a seeded share of the training reviews (--augment-share) and "
                          "every review with a score, also train on a minimal pair: one of its sentences as written "
                          "and with its polarity turned over (negations, opposites, ratings, intensity; never a bare "
                          "deletion; never a word of the behaviour suite's held-out half) with the flipped label; "
                          "cached per data source and seed (docs/training.md)")
    augment_share: float | None = option(kind="share", label="Augmented share", step=0.05,
                                         help="--augment counterfactual: share of the training reviews cut into "
                                         "a minimal pair; " + ", ".join(
                                             f"{family} {values.get('augment_share', DEFAULT_SHARE):g}"
                                             for family, values in FAMILY_DEFAULTS.items()))
    augment_eval: bool = option(False, kind="flag", label="Augment validation",
                                help="--augment counterfactual: add the pairs of the validation split to it too "
                                "(the test split is never augmented)")
    model_options: dict = option({}, kind="dict", cli=False,
                                 help="extra keyword arguments for the family's config, e.g. {\"hidden_size\": 64}")

    def resolved(self) -> TrainConfig:
        """Validate every value (InputError naming it) and fill in the family defaults and the seed."""
        from sentiment_core.core import runs
        from sentiment_core.core.settings import get_settings

        check_option("model", self.model)
        defaults = {**COMMON_DEFAULTS, **FAMILY_DEFAULTS[self.model]}
        values = {name: (value if value is not None else defaults.get(name))
                  for name, value in dataclasses.asdict(self).items()}
        if values["seed"] is None:
            values["seed"] = get_settings().seed
        if self.model != "pretrained" and self.backbone:
            raise InputError(f"--backbone only applies to the pretrained family, not {self.model!r}.")
        if self.model != "pretrained" and self.pooling is not None:
            raise InputError(f"--pooling only applies to the pretrained family, not {self.model!r}.")
        for name, value in values.items():
            not_this_family = WORD_LEVEL_ONLY if self.model == "pretrained" else PRETRAINED_ONLY
            if not (name in not_this_family and value is None):
                check_option(name, value)
        if values["head_tokens"] is not None or values["window_stride"] is not None:
            specials = 2 if self.model == "pretrained" else 0  # [CLS] and [SEP] (or <s> and </s>) take two
            check_reading(values["long_text"], values["head_tokens"], values["window_stride"],
                          values["max_length"] - specials)
        if values["augment"] == "none":
            given = [flag(name) for name in AUGMENT_ONLY if getattr(self, name) not in (None, False)]
            if given:
                raise InputError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} with --augment "
                                 "counterfactual.")
            values["augment_share"] = None  # the family's share applies to augmented runs only
        if values["report_to"] != "none" and importlib.util.find_spec(values["report_to"]) is None:
            raise InputError(f"--report-to {values['report_to']} needs the {values['report_to']!r} package: "
                             f"pip install -e '.[{values['report_to']}]' (or pip install {values['report_to']})")
        if values["run_id"] is not None:
            runs.validate_run_id(values["run_id"])
        elif values["resume"]:
            raise InputError("--resume needs the --run-id of the run to continue.")
        return TrainConfig(**values)


FIELDS = {spec.name: spec for spec in dataclasses.fields(TrainConfig)}
CLI_OPTIONS = tuple(name for name, spec in FIELDS.items() if spec.metadata["cli"])
SHARED_OPTIONS = tuple(name for name in CLI_OPTIONS if not FIELDS[name].metadata["per_run"])  # a comparison's options
INTEGER_KINDS = ("positive_int", "optional_positive_int", "seed")
TEXT_KINDS = ("text", "choice")


def check_option(name: str, value) -> None:
    """Refuse a bad value of option `name` with an InputError that names it and says what is allowed."""
    meta = FIELDS[name].metadata
    kind = meta["kind"]
    if kind == "choice":
        if value not in meta["choices"]:
            raise InputError(f"Unknown {meta['noun']} {value!r}: choose one of {', '.join(meta['choices'])}.")
        return
    if value is None and kind in ("optional_positive_int", "text", "share"):
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    finite = number and math.isfinite(value)
    whole = finite and int(value) == value
    problems = {
        "positive_int": (not (whole and value > 0), "a positive whole number"),
        "optional_positive_int": (not (whole and value > 0), "a positive whole number"),
        "positive_float": (not (finite and value > 0), "a positive number"),
        "non_negative_float": (not (finite and value >= 0), "a number >= 0"),
        "fraction": (not (finite and 0 <= value < 1), "a number in [0, 1)"),
        "share": (not (finite and 0 < value <= 1), "a number in (0, 1]"),
        "seed": (not (whole and value >= 0), "a whole number >= 0"),
        "text": (not isinstance(value, str), "text"),
        "flag": (not isinstance(value, bool), "true or false"),
        "dict": (not isinstance(value, dict), "a dictionary"),
    }
    bad, expected = problems[kind]
    if bad:
        raise InputError(f"{name} must be {expected}, got {value!r}.")


def normalise(values: dict) -> dict:
    """Form or plan values as TrainConfig takes them: strings stripped, None/"" dropped (= default),
    whole floats turned into ints for whole-number options (number inputs hand back floats)."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise InputError(f"Unknown training option(s): {', '.join(unknown)}; known: {', '.join(CLI_OPTIONS)}.")
    out = {}
    for name, value in values.items():
        value = value.strip() if isinstance(value, str) else value
        if value is None or value == "":
            continue
        if (FIELDS[name].metadata["kind"] in INTEGER_KINDS and isinstance(value, float) and math.isfinite(value)
                and value.is_integer()):
            value = int(value)
        out[name] = value
    return out


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def command_arguments(values: dict) -> list[str]:
    """`["train", "--model", ..., "--loss", ...]` for TrainConfig values (None/"" left to the defaults),
    in field order; each value is validated first by `TrainConfig(...).resolved()`."""
    values = normalise(values)
    if "seed" in values:
        check_option("seed", values["seed"])
    TrainConfig(**values).resolved()
    arguments = ["train"]
    for name in CLI_OPTIONS:
        if name in values and values[name] is not False:
            arguments += [flag(name)] if values[name] is True else [flag(name), _format(values[name])]
    return arguments


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


def _argument_type(kind: str):
    return {"positive_int": int, "optional_positive_int": int, "seed": int, "positive_float": float,
            "non_negative_float": float, "fraction": float, "share": float}.get(kind, str)


def add_arguments(parser: argparse.ArgumentParser, names, defaults: dict | None = None) -> None:
    """Add a flag for each TrainConfig option in `names`; its default is None (the family default or the
    setting) unless `defaults` gives one. Help text, type and choices come from the field."""
    defaults = defaults or {}
    for name in names:
        meta = FIELDS[name].metadata
        default = defaults.get(name, FIELDS[name].default if meta["kind"] in ("choice", "flag") else None)
        help_text = meta["help"]
        preset = {str(d[name]) for d in ({**COMMON_DEFAULTS, **f} for f in FAMILY_DEFAULTS.values()) if name in d}
        if len(preset) > 1:
            help_text += " (family default)"
        elif preset or default not in (None, False):
            help_text += f" (default: {preset.pop() if preset else default})"
        if meta["kind"] == "flag":
            parser.add_argument(flag(name), action="store_true", help=help_text)
            continue
        parser.add_argument(flag(name), type=_argument_type(meta["kind"]), choices=meta["choices"], default=default,
                            metavar=meta["metavar"], help=help_text)


def from_arguments(args: argparse.Namespace, **overrides) -> TrainConfig:
    """A TrainConfig from parsed flags (those of its options that the parser has)."""
    values = {name: getattr(args, name) for name in CLI_OPTIONS if hasattr(args, name)}
    return TrainConfig(**{**values, **overrides})


def family_defaults(family: str) -> dict:
    """Every option's default for `family` (before the seed setting)."""
    check_option("model", family)
    return {**COMMON_DEFAULTS, **FAMILY_DEFAULTS[family]}


@dataclass(frozen=True)
class FormField:
    """What a page needs to draw one option: label, help, widget, choices, step and the family's default."""

    name: str
    label: str
    help: str
    widget: str  # number | select | text | checkbox
    default: Any
    choices: tuple | None = None
    step: float | None = None
    whole: bool = False


def form_fields(family: str, names) -> list[FormField]:
    """The fields a page form shows for `family`, in the order given, with the family's defaults."""
    from sentiment_core.core.settings import get_settings

    defaults = family_defaults(family)
    fields = []
    for name in names:
        meta = FIELDS[name].metadata
        default = defaults.get(name, FIELDS[name].default)
        if name == "seed":
            default = get_settings().seed
        if default is not None and meta["kind"] in INTEGER_KINDS:
            default = int(default)
        elif default is not None and meta["kind"] in ("positive_float", "non_negative_float", "fraction", "share"):
            default = float(default)
        widget = {"choice": "select", "text": "text", "flag": "checkbox"}.get(meta["kind"], "number")
        fields.append(FormField(name=name, label=meta["label"] or name.replace("_", " ").capitalize(),
                                help=meta["help"][:1].upper() + meta["help"][1:] + ".", widget=widget,
                                default=default, choices=meta["choices"], step=meta["step"],
                                whole=meta["kind"] in INTEGER_KINDS))
    return fields
