"""Captum attributions -> per-word scores -> HTML.

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
Sub-word tokens (WordPiece `##`, byte-level BPE `Ġ`, SentencePiece `▁`) and punctuation glued
inside a word are summed into the words they cover; words are spans of the text as the user typed
it, an HTML tag (`<br />`) one of them.

The model a gradient method differentiates is the Predictor's, or a bfloat16 copy of it made here
(`explanation_model`, SENTIMENT_EXPLAIN_PRECISION); predictions always come from the model as trained.
"""

from __future__ import annotations

import copy
import html
import math
import re
import threading
import weakref
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from sentiment_core.core.errors import InputError
from sentiment_core.inference.predictor import Encoded, Predictor, reading_notes
from sentiment_core.data import LABELS
from sentiment_core.core.settings import cpu_has_native_bf16, get_settings
from sentiment_core.data.text import TAG_PATTERN, WORD_PATTERN

METHODS = {
    "integrated_gradients": "Integrated Gradients (path from the empty review to the review)",
    "occlusion": "Occlusion: remove each word and see how the output moves",
    "gradient_x_input": "Gradient x Input (one backward pass)",
    "gradient_shap": "GradientSHAP (expected gradients from random path points)",
    "lime": "LIME (a sparse linear model fitted on random word removals)",
}
METHOD_OPTIONS = {  # option name, default, help
    "integrated_gradients": ("n_steps", 50, "steps on the path from baseline to review"),
    "gradient_shap": ("n_samples", 20, "random samples"),
    "lime": ("n_samples", 300, "perturbed reviews to fit on"),
    "occlusion": ("window", 1, "words removed at a time"),
    "gradient_x_input": (None, None, None),
}
# Each family's default method, chosen on bench/faithfulness.py's evidence (README, "Which explanation to trust"):
# bow's output is linear in its token weights, so Gradient x Input gives occlusion's exact scores in one pass.
DEFAULT_METHOD = "integrated_gradients"
FAMILY_DEFAULT_METHODS = {"bow": "gradient_x_input"}
MAX_STEPS = 500  # most IG steps / samples / occlusion window a request may ask for (CLI and API)
BASELINES = ("empty", "undecided")
UNDECIDED_BISECTIONS = 12  # c to within 1/4096 of where the log-odds cross 0
LARGE_DELTA = 0.05  # |delta| above this share of |f(x) - f(baseline)| (min 0.1 log-odds) is flagged
_WORD_RE = re.compile(WORD_PATTERN)
_BREAK_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(TAG_PATTERN)


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
        return self.delta is not None and abs(self.delta) > LARGE_DELTA * max(abs(self.output - self.baseline_output), 2.0)

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


# --- words <-> tokens ----------------------------------------------------------------

def word_groups(encoded: Encoded) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Word spans of the text that tokens fall in, and each token's word index (-1: special).

    Words are the tokenizer's word pattern on the text as typed (`don't`, `well-made` -> 3 words:
    well, -, made), and each HTML tag (`<br />`) is one word. A token belongs to the word its first
    character falls in, after the whitespace that byte-level BPE (`Ġ`) and SentencePiece (`▁`)
    offsets may start with, so sub-word pieces sum into their word; a token that covers only
    whitespace (a lone `▁`) joins the next word; a token in no word (an entity like `&amp;`) is its own.
    """
    text = encoded.text
    tags = [(m.start(), m.end()) for m in _TAG_RE.finditer(text)]
    spans = sorted(tags + [(m.start(), m.end()) for m in _WORD_RE.finditer(text)
                           if not any(s <= m.start() < e for s, e in tags)])
    starts = [s for s, _ in spans]
    token_word = np.full(len(encoded.input_ids), -1, dtype=int)
    used: dict[tuple[int, int], int] = {}
    words: list[tuple[int, int]] = []
    blank: list[int] = []  # tokens of whitespace only, waiting for the next word
    for index, ((start, end), special) in enumerate(zip(encoded.offsets, encoded.special)):
        if special:
            continue
        while start < end and text[start].isspace():
            start += 1
        if end <= start:
            blank.append(index)
            continue
        position = np.searchsorted(starts, start, side="right") - 1
        span = spans[position] if position >= 0 and spans[position][0] <= start < spans[position][1] else (start, end)
        if span not in used:
            used[span] = len(words)
            words.append(span)
        token_word[[*blank, index]] = used[span]
        blank = []
    if blank and words:  # trailing whitespace tokens join the last word
        token_word[blank] = len(words) - 1
    return words, token_word


# --- the attribution methods ------------------------------------------------------------

def _sum_by_word(token_scores: np.ndarray, token_word: np.ndarray, n_words: int) -> np.ndarray:
    scores = np.zeros(n_words)
    real = token_word >= 0
    np.add.at(scores, token_word[real], token_scores[real])
    return scores


def _first_by_word(token_scores: np.ndarray, token_word: np.ndarray, n_words: int) -> np.ndarray:
    """For group methods (occlusion, LIME): every token of a word carries the word's score."""
    scores = np.zeros(n_words)
    for index in range(len(token_word) - 1, -1, -1):
        if token_word[index] >= 0:
            scores[token_word[index]] = token_scores[index]
    return scores


# IG paths per forward/backward, where one batch of all the paths leaves the cache: our transformer (200 steps on
# 512 tokens: 5.6 s in one batch, 4.0 s in batches of 50) and transformer checkpoints (MiniLM, 256 tokens: 2.7 s
# at 16 vs 3.6 s at 50). bow and lstm run all the paths at once.
IG_PATH_BATCH = {"transformer": 50}
PRETRAINED_IG_BATCH = 16


def _attribute(method, forward, weights, baseline, feature_mask, options):
    """Run one Captum method on the token weights. -> (token scores (seq_len,), delta or None, per-word?)"""
    from captum import attr

    if method == "integrated_gradients":
        n_steps = int(options.get("n_steps", 50))
        attributions, delta = attr.IntegratedGradients(forward).attribute(
            weights, baselines=baseline, n_steps=n_steps, internal_batch_size=int(options.get("internal_batch_size", n_steps)),
            return_convergence_delta=True,
        )
        return attributions, float(delta.sum()), False
    if method == "gradient_shap":
        attributions, delta = attr.GradientShap(forward).attribute(
            weights, baselines=baseline, n_samples=int(options.get("n_samples", 20)),
            stdevs=float(options.get("stdevs", 0.0)), return_convergence_delta=True,
        )
        return attributions, float(delta.mean()), False
    if method == "gradient_x_input":  # gradient x (input - baseline): the baseline's words scaled, specials 0
        return attr.InputXGradient(forward).attribute(weights) * (weights - baseline), None, False
    if method == "occlusion":
        window = int(options.get("window", 1))
        mask = feature_mask if window == 1 else torch.div(feature_mask.clamp(min=0), window, rounding_mode="floor")
        mask = torch.where(feature_mask < 0, feature_mask.max() + 1, mask)  # specials: one group, baseline = input
        attributions = attr.FeatureAblation(forward).attribute(
            weights, baselines=baseline, feature_mask=mask, perturbations_per_eval=int(options.get("batch_size", 32)),
        )
        return attributions, None, True
    if method == "lime":
        mask = torch.where(feature_mask < 0, feature_mask.max() + 1, feature_mask)
        attributions = attr.Lime(forward).attribute(
            weights, baselines=baseline, feature_mask=mask, n_samples=int(options.get("n_samples", 300)),
            perturbations_per_eval=int(options.get("batch_size", 32)),
        )
        return attributions, None, True
    raise InputError(f"Unknown explanation method {method!r}: choose one of {', '.join(METHODS)}.")


def check_steps(steps, method: str) -> int:
    """The step (or sample, or window) count a user asked for, refused unless a whole number 1..MAX_STEPS."""
    option = METHOD_OPTIONS[method][0] if method in METHOD_OPTIONS else None
    if option is None:
        raise InputError(f"{method} takes no steps option: leave --steps out.")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps ({option} of {method}) must be a whole number from 1 to {MAX_STEPS}, got {steps!r}.")
    return steps


def _check_target(target) -> int | None:
    if target is None:
        return None
    if isinstance(target, str):
        if target.lower() not in LABELS:
            raise InputError(f"Unknown target {target!r}: use 'positive', 'negative' (or 1, 0), or leave it out for the predicted class.")
        return LABELS.index(target.lower())
    if target in (0, 1) and not isinstance(target, bool):
        return int(target)
    raise InputError(f"Unknown target {target!r}: use 'positive', 'negative' (or 1, 0).")


def default_method(family: str) -> str:
    """The explanation method a model of `family` gets when none is asked for."""
    return FAMILY_DEFAULT_METHODS.get(family, DEFAULT_METHOD)


def explain(predictor: Predictor, texts, method: str | None = None, target: int | str | None = None,
            baseline: str = "empty", **options) -> list[Explanation]:
    """Word-level attributions for each text, toward `target` (default: the predicted class).

    method: one of METHODS (default: `default_method` of the model's family); options: n_steps (IG, 50),
    n_samples (GradientSHAP 20, LIME 300), window (occlusion, 1 word), internal_batch_size (IG),
    batch_size (occlusion/LIME).
    baseline: what a removed word becomes (BASELINES): "empty", its input scaled to 0 (the empty review,
    which a model may already judge strongly: then every word shares only the rest); or "undecided", its
    input scaled to the fraction c where the model's log-odds cross 0 on the way from the empty review
    to this one (found by bisection; the empty review when there is no crossing, with a note), so the
    scores share out the whole of the model's decision.
    """
    method = method or default_method(predictor.family)
    if method not in METHODS:
        raise InputError(f"Unknown explanation method {method!r}: choose one of {', '.join(METHODS)}.")
    if baseline not in BASELINES:
        raise InputError(f"Unknown baseline {baseline!r}: choose one of {', '.join(BASELINES)}.")
    target = _check_target(target)
    if isinstance(texts, str):
        texts = [texts]
    return [_explain_one(predictor, text, method, target, options, baseline) for text in texts]


def _explain_one(predictor: Predictor, text: str, method: str, target: int | None, options: dict,
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
    if path_batch:
        options = {"internal_batch_size": path_batch, **options}
    scores: dict[tuple[int, int], float] = {}
    deltas = []
    for view, inputs, start in zip(views, per_view, starts):
        spans, view_scores, delta = _attribute_view(predictor, view, inputs, model, method, sign, options, start)
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
    return Explanation(
        text=text, method=method, target=target, predicted=predicted,
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


def _attribute_view(predictor: Predictor, view: Encoded, inputs: dict, model, method: str, sign: float, options: dict,
                    start: torch.Tensor):
    """One view's word spans, their scores toward the target and the completeness gap, from baseline `start`."""
    weights = torch.ones(inputs["input_ids"].shape, dtype=torch.float32, device=predictor.device)  # (1, seq_len)

    def forward(token_weights: torch.Tensor) -> torch.Tensor:  # (n, seq_len) -> (n,) log-odds of target
        rows = token_weights.shape[0]
        return sign * predictor.positive_log_odds(**{k: v.expand(rows, -1) for k, v in inputs.items()},
                                                  token_weights=token_weights, model=model)

    spans, token_word = word_groups(view)
    feature_mask = torch.as_tensor(token_word, device=predictor.device)[None]  # (1, seq_len)
    with torch.enable_grad():
        attributions, delta, grouped = _attribute(method, forward, weights, start, feature_mask, options)
    token_scores = attributions.detach().float().cpu().numpy()[0]  # (seq_len,)
    collect = _first_by_word if grouped else _sum_by_word
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
    is 2x faster than SDPA's on CPU). Predictions always use the model as trained."""
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


# --- faithfulness -----------------------------------------------------------------------

@dataclass
class DeletionCurve:
    """P(predicted class) as words are removed: most-attributed first vs at random."""

    fractions: list[float]
    attributed: list[float]
    random: list[float]
    area_between: float  # integral of (random - attributed) over fractions: > 0 = better than random

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def deletion_curve(predictor: Predictor, explanation: Explanation, steps: int = 10, max_fraction: float = 1.0,
                   random_repeats: int = 5, seed: int = 0) -> DeletionCurve:
    """Remove the words that push most toward the predicted class first, re-predict; compare with random order."""
    if steps < 1 or not 0 < max_fraction <= 1:
        raise InputError("steps must be >= 1 and max_fraction in (0, 1].")
    encoded = predictor.encode(explanation.text)
    inputs = predictor.model_inputs([encoded])  # each (1, seq_len)
    spans, token_word = word_groups(encoded)
    by_span = {(w.start, w.end): w.score for w in explanation.words}
    # Scores toward the predicted class, whatever class the explanation targeted.
    sign = 1.0 if explanation.target == explanation.predicted else -1.0
    scores = np.array([sign * by_span.get(span, 0.0) for span in spans])
    n_words = len(spans)
    fractions = np.linspace(0, max_fraction, steps + 1)
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-scores, kind="stable")] + [rng.permutation(n_words) for _ in range(random_repeats)]
    weights = []
    for order in orders:
        for fraction in fractions:
            removed = order[: int(round(fraction * n_words))]
            token_weights = np.ones(len(token_word), dtype=np.float32)
            token_weights[np.isin(token_word, removed) & (token_word >= 0)] = 0.0
            weights.append(token_weights)
    token_weights = torch.as_tensor(np.stack(weights), device=predictor.device)  # (orders * (steps+1), seq_len)
    n = token_weights.shape[0]
    log_odds = torch.cat([
        predictor.positive_log_odds(**{k: v.expand(len(chunk), -1) for k, v in inputs.items()}, token_weights=chunk)
        for chunk in token_weights.split(64)
    ]).float().cpu().numpy()
    probability = 1 / (1 + np.exp(-log_odds))
    if explanation.predicted == 0:
        probability = 1 - probability
    curves = probability.reshape(len(orders), steps + 1)
    attributed, random_mean = curves[0], curves[1:].mean(axis=0)
    area = float(np.trapezoid(random_mean - attributed, fractions)) if n > 1 else 0.0
    return DeletionCurve(fractions.tolist(), attributed.tolist(), random_mean.tolist(), area)


# --- presentation -----------------------------------------------------------------------

def top_words(explanation: Explanation, k: int = 10) -> pd.DataFrame:
    """The k words pushing most toward positive and the k pushing most toward negative.

    Repeated words are summed (case folded). Columns: word, score (toward positive), count.
    """
    frame = pd.DataFrame({
        "word": [w.word.lower() for w in explanation.words],
        "score": explanation.positive_scores(),
    })
    if frame.empty:
        return pd.DataFrame(columns=["word", "score", "count"])
    grouped = frame.groupby("word", as_index=False).agg(score=("score", "sum"), count=("score", "size"))
    grouped = grouped[grouped["word"].str.contains(r"\w", regex=True)  # punctuation rarely helps a reader
                      & ~grouped["word"].str.fullmatch(TAG_PATTERN)]  # nor markup
    positive = grouped[grouped["score"] > 0].nlargest(k, "score")
    negative = grouped[grouped["score"] < 0].nsmallest(k, "score")
    return pd.concat([positive, negative]).sort_values("score").reset_index(drop=True)


def _colour(score: float, scale: float) -> str:
    strength = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    rgb = "22, 163, 74" if score > 0 else "220, 38, 38"
    return f"rgba({rgb}, {0.08 + 0.72 * strength:.2f})" if strength > 0.02 else "transparent"


def _plain(segment: str) -> str:
    """Text between words: <br> tags become line breaks, other tags go, the rest is escaped."""
    lines = _BREAK_RE.split(segment)
    return "<br>".join(html.escape(_TAG_RE.sub("", line)) for line in lines)


def highlight_html(explanation: Explanation, scale: float | None = None, legend: bool = True) -> str:
    """The text with each word on a green (pushes positive) or red (pushes negative) background.

    Colour strength is |score| / scale (default: the largest |score|); hovering shows the score.
    Text the model did not read (truncated) is greyed out. Tags inside words are skipped.
    legend: put `legend_html(scale)` (what full green and full red mean) above the text.
    """
    scores = explanation.positive_scores()
    scale = scale or max((abs(s) for s in scores), default=0.0)
    text, pieces, cursor = explanation.text, [], 0
    unread = sorted(explanation.unread) or _legacy_unread(explanation)
    marks = [(start, end, None) for start, end in unread]
    words = [(w.start, w.end, (w, score)) for w, score in zip(explanation.words, scores)]
    for start, end, item in sorted(marks + words, key=lambda mark: (mark[0], mark[2] is not None)):
        if start < cursor:
            continue
        pieces.append(_plain(text[cursor:start]))
        if item is None:  # a span the model did not read: cut, or a head+tail reading's middle
            pieces.append('<span class="unread" title="not read by the model (beyond what it reads of a long '
                          f'review)" style="color: #9ca3af;">{_plain(text[start:end])}</span>')
            cursor = end
            continue
        word, score = item
        if _TAG_RE.fullmatch(word.word):  # markup the model read: shown as the page shows it, not as text
            pieces.append(_plain(word.word))
            cursor = word.end
            continue
        tip = f"{word.word}: {score:+.3f} toward positive"
        pieces.append(
            f'<span class="word" title="{html.escape(tip, quote=True)}" data-score="{score:.4f}" '
            f'style="background-color: {_colour(score, scale)}; border-radius: 3px; padding: 0 1px;">'
            f"{html.escape(text[word.start:word.end])}</span>"
        )
        cursor = word.end
    pieces.append(_plain(text[cursor:]))
    return (
        (legend_html(scale) if legend else "")
        + '<div class="explanation" style="line-height: 1.9; font-size: 1rem; white-space: pre-wrap;">'
        + "".join(pieces) + "</div>"
    )


def _legacy_unread(explanation: Explanation) -> list[tuple[int, int]]:
    """Unread spans of an explanation saved before they were recorded: after read_until when truncated."""
    if explanation.truncated and explanation.read_until < len(explanation.text):
        return [(explanation.read_until, len(explanation.text))]
    return []


def align_words(first: Explanation, second: Explanation) -> pd.DataFrame:
    """Two explanations of the same text side by side, one row per word span (scores toward positive)."""
    if first.text != second.text:
        raise InputError("Both explanations must be of the same text to align their words.")

    def frame(explanation: Explanation, column: str) -> pd.DataFrame:
        return pd.DataFrame({
            "start": [w.start for w in explanation.words], "end": [w.end for w in explanation.words],
            "word": [w.word for w in explanation.words], column: explanation.positive_scores(),
        })

    merged = frame(first, "first").merge(frame(second, "second"), on=["start", "end"], how="outer", suffixes=("", "_b"))
    merged["word"] = merged["word"].fillna(merged.pop("word_b"))
    return merged.fillna({"first": 0.0, "second": 0.0}).sort_values("start").reset_index(drop=True)


# --- legend and downloadable page ---------------------------------------------------------

def legend_html(scale: float) -> str:
    """What the highlight colours mean: full red / full green = a push of `scale` log-odds or more."""
    if scale <= 0:
        return ('<div class="legend" style="font-size: 0.85rem; color: #6b7280; margin: 0.25rem 0;">'
                "Every word scored 0: nothing is highlighted.</div>")
    ramp = f"linear-gradient(to right, {_colour(-scale, scale)}, transparent, {_colour(scale, scale)})"
    return (
        '<div class="legend" style="display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; '
        'font-size: 0.85rem; color: #374151; margin: 0.25rem 0;">'
        f'<span style="white-space: nowrap;">&minus;{scale:.2f} log-odds (toward negative)</span>'
        f'<span style="display: inline-block; width: 9rem; height: 0.8rem; border-radius: 3px; '
        f'border: 1px solid #d1d5db; background: {ramp};"></span>'
        f'<span style="white-space: nowrap;">+{scale:.2f} (toward positive)</span>'
        '<span style="color: #6b7280;">full colour: a word moves the log-odds by this much or more; '
        "hover a word for its score</span></div>"
    )


_PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; color: #111827; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 0.25rem; }
.caption { color: #4b5563; font-size: 0.9rem; margin: 0.25rem 0; }
section { border-top: 1px solid #e5e7eb; padding-top: 0.5rem; }
"""


def explanation_page_html(explanations: Explanation | list[Explanation], title: str | None = None,
                          captions: list[str] | None = None) -> str:
    """A self-contained HTML document (inline CSS, no scripts) of one review highlighted by one or more methods.

    captions: one line per explanation shown under its method's name (e.g. its faithfulness scores).
    """
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    if not explanations:
        raise ValueError("No explanation to put on the page.")
    if len({e.text for e in explanations}) > 1:
        raise ValueError("A page shows one review: every explanation must be of the same text.")
    first = explanations[0]
    title = title or f"Why the model says {first.predicted_label}"
    sections = []
    for index, explanation in enumerate(explanations):
        caption = captions[index] if captions and index < len(captions) and captions[index] else ""
        sections.append(
            f"<section><h2>{html.escape(METHODS.get(explanation.method, explanation.method))}</h2>"
            + (f'<p class="caption">{html.escape(caption)}</p>' if caption else "")
            + f'<p class="caption">Explaining the {html.escape(explanation.target_label)} class.</p>'
            + highlight_html(explanation) + "</section>"
        )
    notes = "".join(f'<p class="caption">{html.escape(note)}</p>' for note in first.notes)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="caption">Prediction: <b>{html.escape(first.predicted_label)}</b>, '
        f"P(positive) = {first.probability:.3f}.</p>{notes}"
        + "".join(sections) + "</body></html>\n"
    )
