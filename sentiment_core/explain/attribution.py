"""`explain()`: Captum attributions of a review's words toward a class.

Every method attributes the same thing for every model: one weight per token that scales
the token's input (1 = as typed, 0 = removed), fed through `Predictor.logits`. For `bow` the
weight scales the word's bag items (its bigrams take the mean of their two words' weights);
for every other model (`lstm`, `transformer`, `pretrained`, any Hugging Face checkpoint) it scales
the output of `get_input_embeddings()`, so the baseline (all weights 0) is the zero embedding,
which is what padding and word dropout give the from-scratch models. Special tokens ([CLS],
[SEP], <s>) keep weight 1 in the baseline, so they get no score. Integrated Gradients on these
weights equals Integrated Gradients on the embedding layer with a zero baseline, summed over the
embedding dimension.

The explained output is the log-odds of the target class, logit(P(target)), with P(positive) as
`labels.py` defines it for the model's classes (two logits: logit_target - logit_other), so
completeness reads: sum of word scores - delta = f(text) - f(baseline), in log-odds (Captum's delta).
Tokens are summed into the words of the text as typed (`explain.words`); `explain.methods` holds the
methods and `explain.render` draws the result.

The model a gradient method differentiates is the Predictor's, or a bfloat16 copy of it made here
(`explanation_model`, SENTIMENT_EXPLAIN_PRECISION); predictions always come from the model as trained.
"""

from __future__ import annotations

import copy
import math
import threading
import weakref
from dataclasses import asdict, dataclass, field

import torch

from sentiment_core.core.settings import cpu_has_native_bf16, get_settings
from sentiment_core.data import LABELS
from sentiment_core.explain.methods import Method, check_baseline, check_steps, check_target, default_method, get_method
from sentiment_core.explain.words import first_by_word, sum_by_word, word_groups
from sentiment_core.inference.predictor import Encoded, Predictor, reading_notes

UNDECIDED_BISECTIONS = 12  # c to within 1/4096 of where the log-odds cross 0
LARGE_DELTA = 0.05  # |delta| above this share of |f(x) - f(baseline)| (min 0.1 log-odds) is flagged


@dataclass
class WordScore:
    """One word of the text (text[start:end]) and its attribution toward the target class."""

    word: str
    start: int
    end: int
    score: float


@dataclass
class Explanation:
    """Word attributions for one text. `score` > 0 pushes toward `target`."""

    text: str
    method: str
    target: int
    predicted: int
    probability: float  # of positive
    words: list[WordScore]
    delta: float | None  # completeness gap (IG, GradientSHAP); None for the other methods
    output: float  # f(text): log-odds of the target, by the model the scores come from (maybe its bfloat16 copy)
    baseline_output: float  # f(all words removed), likewise
    truncated: bool
    read_until: int
    notes: list[str] = field(default_factory=list)
    class_probabilities: dict[str, float] = field(default_factory=dict)  # each of the model's classes
    unread: list[tuple[int, int]] = field(default_factory=list)  # character spans the model did not read
    windows: int = 1  # views explained (--long-text windows: each word's score from the windows that read it)
    window_deltas: list[float] = field(default_factory=list)  # completeness gap of each window (IG, GradientSHAP)

    @property
    def target_label(self) -> str:
        return LABELS[self.target]

    @property
    def predicted_label(self) -> str:
        return LABELS[self.predicted]

    @property
    def delta_is_large(self) -> bool:
        return (self.delta is not None
                and abs(self.delta) > LARGE_DELTA * max(abs(self.output - self.baseline_output), 2.0))

    def positive_scores(self) -> list[float]:
        """Each word's push toward positive (what the page colours green)."""
        sign = 1.0 if self.target == 1 else -1.0
        return [sign * w.score for w in self.words]

    def to_dict(self) -> dict:
        return {
            "text": self.text, "method": self.method,
            "label": self.predicted_label, "probability": self.probability,
            "target": self.target_label, "delta": self.delta, "delta_is_large": self.delta_is_large,
            "output": self.output, "baseline_output": self.baseline_output,
            "truncated": self.truncated, "read_until": self.read_until, "notes": self.notes,
            "class_probabilities": self.class_probabilities, "unread": [list(span) for span in self.unread],
            "windows": self.windows, "window_deltas": self.window_deltas, "words": [asdict(w) for w in self.words],
        }


# Integrated Gradients' paths per forward/backward pass, where one batch of all the paths leaves the CPU's cache
# (docs/results.md); bow and lstm run all the paths at once.
IG_PATH_BATCH = {"transformer": 50}
PRETRAINED_IG_BATCH = 16


def explain(predictor: Predictor, texts, method: str | None = None, target: int | str | None = None,
            baseline: str = "empty", steps: int | None = None) -> list[Explanation]:
    """Word-level attributions for each text, toward `target` (default: the predicted class).

    method: a name in `explain.methods.METHODS` (default: the model family's, `default_method`).
    steps: the method's one option (IG steps, GradientSHAP or LIME samples, occlusion window; default: the
    method's); a method without one refuses it.
    baseline: what a removed word becomes (BASELINES): "empty", its input scaled to 0 (the empty review,
    which a model may already judge strongly: then every word shares only the rest); or "undecided", its
    input scaled to the fraction c where the model's log-odds cross 0 on the way from the empty review
    to this one (found by bisection; the empty review when there is no crossing, with a note), so the
    scores share out the whole of the model's decision.
    """
    chosen = get_method(method or default_method(predictor.family))
    steps = check_steps(steps, chosen.name)
    check_baseline(baseline)
    target = check_target(target)
    if isinstance(texts, str):
        texts = [texts]
    return [_explain_one(predictor, text, chosen, target, steps, baseline) for text in texts]


def _explain_one(predictor: Predictor, text: str, method: Method, target: int | None, steps: int | None,
                 baseline: str = "empty") -> Explanation:
    """Explain each view the model reads (one, or several windows) and stitch the word scores.

    With n windows the review's log-odds is the mean of the windows' (`Predictor.predict`), so each
    window's attributions are divided by n and summed per word: completeness holds per window (its
    scores - its delta = its f(x) - f(baseline)) and therefore for the review (mean over windows).
    """
    views = predictor.views(text)
    model = explanation_model(predictor)  # the trained model, or its bfloat16 copy
    n = len(views)
    with torch.no_grad():
        per_view = [predictor.model_inputs([view]) for view in views]  # each (1, seq_len)
        logits = torch.cat([predictor.logits(**inputs).float() for inputs in per_view])  # the prediction, as trained
        log_odds = float(predictor.label_map.positive_log_odds(logits).mean())
        classes = predictor.label_map.class_probabilities(logits).mean(dim=0).tolist()
        explained = [float(predictor.positive_log_odds(**inputs, model=model)[0]) for inputs in per_view] \
            if model is not predictor.model else predictor.label_map.positive_log_odds(logits).tolist()
        starts = [_baseline(view, predictor, inputs, model, baseline) for view, inputs in zip(views, per_view)]
        baselines = [float(predictor.positive_log_odds(**inputs, token_weights=start, model=model)[0])
                     for inputs, start in zip(per_view, starts)]
    predicted = int(log_odds >= 0)
    target = predicted if target is None else target
    sign = 1.0 if target == 1 else -1.0
    path_batch = IG_PATH_BATCH.get(predictor.family) if predictor.word_level else PRETRAINED_IG_BATCH
    scores: dict[tuple[int, int], float] = {}
    deltas = []
    for view, inputs, start in zip(views, per_view, starts):
        spans, view_scores, delta = _attribute_view(predictor, view, inputs, model, method, sign, start, steps,
                                                    path_batch)
        for span, score in zip(spans, view_scores):
            scores[span] = scores.get(span, 0.0) + float(score) / n
        if delta is not None:
            deltas.append(delta)
    first = views[0]
    notes = reading_notes(text, first, predictor.tokenizer.unk_token_id)
    if n > 1:
        notes.append(f"The review was read as {n} overlapping windows: its score is their mean, and each word's "
                     "score comes from the windows that read it.")
    if baseline == "undecided" and all(_is_empty(start, view) for start, view in zip(starts, views)):
        notes.append("The model is as sure of the empty review as of this one (no undecided point between "
                     "them): the scores are measured from the empty review.")
    if scores and not any(scores.values()):
        notes.append(f"Every word scored 0 with {method.name}: removing words did not move this model's output "
                     "here, so these scores say nothing about which words it used.")
    return Explanation(
        text=text, method=method.name, target=target, predicted=predicted,
        probability=float(1 / (1 + math.exp(-log_odds))),
        words=[WordScore(text[s:e], s, e, v) for (s, e), v in sorted(scores.items())],
        delta=sum(deltas) / n if deltas else None, output=sign * sum(explained) / n,
        baseline_output=sign * sum(baselines) / n, truncated=first.truncated,
        read_until=first.read_until if n == 1 else len(text), notes=notes,
        class_probabilities=dict(zip(predictor.label_map.class_names, classes)),
        unread=list(first.unread), windows=n, window_deltas=deltas if n > 1 else [],
    )


def _baseline(view: Encoded, predictor: Predictor, inputs: dict | None = None, model=None,
              kind: str = "empty") -> torch.Tensor:
    """Token weights a removed word takes: special tokens stay (1), words go to 0 (the empty review) or,
    for "undecided", to the fraction c at which the log-odds cross 0 between the empty review and this
    one (bisection; 0 when they do not cross). -> (1, seq_len)"""
    special = torch.tensor(view.special, dtype=torch.float32, device=predictor.device)[None]
    if kind == "empty":
        return special

    def log_odds(c: float) -> float:
        return float(predictor.positive_log_odds(**inputs, token_weights=special + c * (1 - special), model=model)[0])

    low, high = 0.0, 1.0
    at_low, at_high = log_odds(low), log_odds(high)
    if at_low == 0 or (at_low > 0) == (at_high > 0):
        return special
    for _ in range(UNDECIDED_BISECTIONS):
        middle = (low + high) / 2
        at_middle = log_odds(middle)
        if (at_middle > 0) == (at_low > 0):
            low, at_low = middle, at_middle
        else:
            high = middle
    return special + (low + high) / 2 * (1 - special)


def _is_empty(start: torch.Tensor, view: Encoded) -> bool:
    return bool(torch.equal(start, torch.tensor(view.special, dtype=torch.float32, device=start.device)[None]))


def _attribute_view(predictor: Predictor, view: Encoded, inputs: dict, model, method: Method, sign: float,
                    start: torch.Tensor, steps: int | None, path_batch: int | None):
    """One view's word spans, their scores toward the target and the completeness gap, from baseline `start`."""
    weights = torch.ones(inputs["input_ids"].shape, dtype=torch.float32, device=predictor.device)  # (1, seq_len)

    def forward(token_weights: torch.Tensor) -> torch.Tensor:  # (n, seq_len) -> (n,) log-odds of target
        rows = token_weights.shape[0]
        return sign * predictor.positive_log_odds(**{k: v.expand(rows, -1) for k, v in inputs.items()},
                                                  token_weights=token_weights, model=model)

    spans, token_word = word_groups(view)
    feature_mask = torch.as_tensor(token_word, device=predictor.device)[None]  # (1, seq_len)
    with torch.enable_grad():
        attributions, delta = method.attribute(forward, weights, start, feature_mask, steps, path_batch)
    token_scores = attributions.detach().float().cpu().numpy()[0]  # (seq_len,)
    collect = first_by_word if method.per_word else sum_by_word
    return spans, collect(token_scores, token_word, len(spans)), delta


# --- the model explanations differentiate ---------------------------------------------------

_BFLOAT16_COPIES: weakref.WeakKeyDictionary[Predictor, torch.nn.Module] = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()


def explain_precision(predictor: Predictor) -> str:
    """float32 or bfloat16 for gradient explanations (SENTIMENT_EXPLAIN_PRECISION; auto: bfloat16 for a
    transformer checkpoint, ours or any Hugging Face one, on a CPU with native bfloat16, where it halves the time)."""
    chosen = get_settings().explain_precision
    if chosen == "auto":
        native = predictor.device == "cpu" and not predictor.word_level and cpu_has_native_bf16()
        chosen = "bfloat16" if native else "float32"
    return chosen


def explanation_model(predictor: Predictor) -> torch.nn.Module:
    """The model explanations differentiate: the predictor's, or a bfloat16 copy of it (made once per
    predictor, dropped with it) when `explain_precision` says so, on plain attention (whose backward
    is faster than SDPA's on a CPU). Predictions always use the model as trained."""
    if explain_precision(predictor) != "bfloat16":
        return predictor.model
    with _COPIES_LOCK:
        model = _BFLOAT16_COPIES.get(predictor)
        if model is None:
            model = copy.deepcopy(predictor.model).to(torch.bfloat16)
            # our `pretrained` family wraps its encoder as `backbone`; any other checkpoint is the encoder itself
            encoder = model.backbone if hasattr(model, "backbone") else model
            if getattr(getattr(encoder, "config", None), "_attn_implementation", "eager") != "eager":
                encoder.set_attn_implementation("eager")
            _BFLOAT16_COPIES[predictor] = model
        return model
