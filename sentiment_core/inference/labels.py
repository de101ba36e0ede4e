"""A model's classes mapped onto negative/positive, and P(positive) for any number of classes.

Every class gets a weight in [0, 1]: the share of its probability counted as positive.

    P(positive) = sum over classes of weight(class) * P(class)            (softmax over the logits)
    log-odds    = log P(positive) - log P(negative),  P(negative) = 1 - P(positive)

Inferred from `config.id2label` (names compared case-insensitively, `_`/`-` read as spaces):
- `negative`/`positive` (also `neg`/`pos`): weights 0 and 1, in whatever order the model has them;
- the two default names `LABEL_0`/`LABEL_1` of a binary head: 0 = negative, 1 = positive, the
  IMDB and SST-2 convention (three or more `LABEL_k` names are not guessed: pass --labels);
- `negative`/`neutral`/`positive`: neutral weighs 1/2, so P(positive) = P(pos) + P(neu)/2;
- star ratings `1 star` ... `N stars`: stars below the middle weigh 0, the middle star (N odd) 1/2,
  stars above it 1; for 5 stars P(positive) = P(4) + P(5) + P(3)/2.
Why halves: with weights w and 1 - w mirrored around the middle, P(positive) >= 0.5 exactly when
the mass above the middle is at least the mass below it, so the label is "which side holds more
probability" and the middle class (neutral, 3 stars) never tips it; P(positive) still moves with it.
A model with one output (our BCE-trained heads) reads it as the logit of positive.

Override (`--labels` on the command line, a field on the page), one entry per class:
- positional, in the model's class order: `negative,positive` or `negative,neutral,positive`;
- by index or by label name: `0=negative,1=positive`, `1 star=negative,3 stars=neutral,5 stars=positive`;
- the value is `negative` (0), `neutral` (0.5), `positive` (1) or a weight between 0 and 1 (`2 stars=0.25`).
With names, every class must be given. Names holding `,` or `=` are given by index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from sentiment_core.core.errors import LabelMappingError
from sentiment_core.data import LABELS

ROLES = {"negative": 0.0, "neg": 0.0, "neutral": 0.5, "neu": 0.5, "positive": 1.0, "pos": 1.0}
_STAR_RE = re.compile(r"^(\d+)\s*stars?$")
_DEFAULT_NAME_RE = re.compile(r"^label\s*(\d+)$")
SYNTAX_HELP = (
    "Pass the mapping with --labels (the page has a field for it), one entry per class: positional "
    "'negative,neutral,positive', or by index or name '0=negative,1=positive'; a value is negative, "
    "neutral, positive or a weight between 0 and 1 counted as positive."
)


@dataclass(frozen=True)
class LabelMap:
    """The model's class names (logit order) and each class's weight toward positive.

    One name (`single_logit`): the model has one output, the logit of positive.
    """

    names: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def single_logit(self) -> bool:
        return len(self.names) == 1

    def positive_log_odds(self, logits: torch.Tensor) -> torch.Tensor:
        """logit(P(positive)) from (batch, num_classes) logits, differentiable. -> (batch,)"""
        logits = logits.float()
        if self.single_logit:
            return logits.reshape(-1)
        weights = torch.tensor(self.weights, dtype=logits.dtype, device=logits.device)
        # log sum_k w_k exp(l_k) - log sum_k (1 - w_k) exp(l_k); a weight of 0 adds log 0 = -inf (drops the class)
        positive = torch.logsumexp(logits + weights.log(), dim=-1)
        negative = torch.logsumexp(logits + (1 - weights).log(), dim=-1)
        return positive - negative

    def class_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Each class's probability. -> (batch, num_classes); one output: (batch, 2) negative, positive."""
        logits = logits.float()
        if self.single_logit:
            positive = torch.sigmoid(logits.reshape(-1, 1))
            return torch.cat([1 - positive, positive], dim=-1)
        return logits.softmax(-1)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the columns of `class_probabilities`."""
        return LABELS if self.single_logit else self.names

    def spec(self) -> str:
        """This mapping in the --labels syntax (by index, so any name round-trips); '' for one output."""
        if self.single_logit:
            return ""
        return ",".join(f"{index}={_role_name(weight)}" for index, weight in enumerate(self.weights))

    def describe(self) -> str:
        """How P(positive) is computed, e.g. 'P(positive) = P(4 stars) + P(5 stars) + 0.5 x P(3 stars)'."""
        if self.single_logit:
            return "P(positive) = sigmoid(the model's single output)"
        terms = [f"P({name})" if weight == 1 else f"{weight:g} x P({name})"
                 for name, weight in zip(self.names, self.weights) if weight > 0]
        return "P(positive) = " + " + ".join(terms)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "weights": list(self.weights), "spec": self.spec(),
                "definition": self.describe()}


def _role_name(weight: float) -> str:
    return {0.0: "negative", 0.5: "neutral", 1.0: "positive"}.get(weight, f"{weight:g}")


def _normalise(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", str(name).strip().lower())


def model_labels(id2label: Mapping | None, num_labels: int) -> tuple[str, ...]:
    """The class names in logit order (`LABEL_k` where the config names none)."""
    id2label = {int(k): str(v) for k, v in (id2label or {}).items()}
    return tuple(id2label.get(index, f"LABEL_{index}") for index in range(num_labels))


def default_label_map(num_labels: int) -> LabelMap:
    """This project's heads: one logit of positive, or two logits (negative, positive)."""
    if num_labels == 1:
        return LabelMap(("positive",), (1.0,))
    if num_labels == 2:
        return LabelMap(LABELS, (0.0, 1.0))
    raise ValueError(f"this project's heads have 1 or 2 outputs, not {num_labels}")


def infer_label_map(names: Sequence[str]) -> LabelMap:
    """Map a model's class names onto negative/positive (see the module docstring), or say how to."""
    names = tuple(str(n) for n in names)
    normalised = [_normalise(n) for n in names]
    if len(names) == 1:
        return LabelMap(names, (1.0,))
    if all(n in ROLES for n in normalised):
        weights = tuple(ROLES[n] for n in normalised)
        if len(set(weights)) == len(weights) and 0.0 in weights and 1.0 in weights:
            return LabelMap(names, weights)
    defaults = [_DEFAULT_NAME_RE.match(n) for n in normalised]
    if len(names) == 2 and all(defaults) and [int(m.group(1)) for m in defaults] == [0, 1]:
        return LabelMap(names, (0.0, 1.0))
    stars = [_STAR_RE.match(n) for n in normalised]
    if len(names) >= 2 and all(stars):
        counts = [int(m.group(1)) for m in stars]
        if sorted(counts) == list(range(1, len(names) + 1)):
            middle = (len(names) + 1) / 2
            return LabelMap(names, tuple(0.0 if c < middle else 1.0 if c > middle else 0.5 for c in counts))
    raise LabelMappingError(
        f"Cannot tell which of the model's labels are negative and which positive: its labels are "
        f"{_listing(names)}. {SYNTAX_HELP} For this model, e.g. --labels \"{_example(names)}\"."
    )


def parse_label_spec(spec: str, names: Sequence[str]) -> LabelMap:
    """A user's --labels mapping (syntax in the module docstring) for a model with classes `names`."""
    names = tuple(str(n) for n in names)
    entries = [e.strip() for e in str(spec).split(",")]
    if not spec or not spec.strip() or not all(entries):
        raise _spec_error(spec, names, "it is empty or has an empty entry")
    if len(names) == 1:
        raise LabelMappingError(f"Cannot use the label mapping {spec!r}: the model has a single output, the logit of "
                                "positive, so there is nothing to map: leave --labels out.")
    weights: list[float | None] = [None] * len(names)
    if all("=" not in e for e in entries):
        if len(entries) != len(names):
            raise _spec_error(spec, names, f"it gives {len(entries)} values for the model's {len(names)} classes")
        weights = [_weight(e, spec, names) for e in entries]
    else:
        by_name = {_normalise(n): i for i, n in enumerate(names)}
        for entry in entries:
            key, sep, value = entry.rpartition("=")
            if not sep:
                raise _spec_error(spec, names, f"{entry!r} mixes positional values with name=value entries")
            key = key.strip()
            index = int(key) if key.isdigit() and int(key) < len(names) else by_name.get(_normalise(key))
            if index is None:
                raise _spec_error(spec, names, f"{key!r} is neither a class index (0-{len(names) - 1}) "
                                               "nor one of its labels")
            if weights[index] is not None:
                raise _spec_error(spec, names, f"class {names[index]!r} is given twice")
            weights[index] = _weight(value, spec, names)
        missing = [f"{i}={names[i]}" for i, w in enumerate(weights) if w is None]
        if missing:
            raise _spec_error(spec, names, f"it leaves out {', '.join(missing)}")
    if not (min(weights) < 0.5 < max(weights)):
        raise _spec_error(spec, names, "at least one class must lean negative and one positive")
    return LabelMap(names, tuple(float(w) for w in weights))


def resolve_label_map(names: Sequence[str], spec: str | None = None) -> LabelMap:
    """The user's mapping when given, else the inferred one."""
    return parse_label_spec(spec, names) if spec is not None and str(spec).strip() else infer_label_map(names)


def _weight(value: str, spec: str, names: Sequence[str]) -> float:
    value = value.strip().lower()
    if value in ROLES:
        return ROLES[value]
    try:
        weight = float(value)
    except ValueError:
        weight = float("nan")
    if not 0.0 <= weight <= 1.0:
        raise _spec_error(spec, names, f"{value!r} is not negative, neutral, positive or a weight between 0 and 1")
    return weight


def _spec_error(spec: str, names: Sequence[str], problem: str) -> LabelMappingError:
    return LabelMappingError(
        f"Cannot use the label mapping {spec!r}: {problem}. The model's labels are {_listing(names)}. "
        f"{SYNTAX_HELP} For this model, e.g. --labels \"{_example(names)}\"."
    )


def _listing(names: Sequence[str]) -> str:
    return ", ".join(f"{i}={n}" for i, n in enumerate(names))


def _example(names: Sequence[str]) -> str:
    """A mapping to start from: the first class negative, the last positive, the rest neutral."""
    roles = ["negative"] + ["neutral"] * (len(names) - 2) + ["positive"]
    return ",".join(f"{i}={r}" for i, r in enumerate(roles[: len(names)]))
