"""Which explanation to trust: faithfulness scores of word attributions, and every method side by side.

Measures (ERASER, DeYoung et al. 2020; ferret, Attanasio et al. 2023), for one explanation of a text:

- P(c | x) is the model's probability of the explained class c (`Explanation.target`, which is the
  predicted class unless another target was asked for), from the model as trained (float32).
- Words are ranked by their score toward c, highest first (ties: text order). The top-k% words are the
  first ceil(k/100 x n_words) of them (at least one word), for k in CUTOFFS = 1, 5, 10, 20, 50.
- Removing a word sets the token weight of each of its tokens to 0 (the bag item or the word embedding
  is zeroed, as in the attributions' baseline and `explain.deletion_curve`); special tokens keep weight 1.
- comprehensiveness = mean over k of [P(c | x) - P(c | x without its top-k% words)]: higher is better
  (the words the explanation ranks first are the ones the prediction needs).
- sufficiency = mean over k of [P(c | x) - P(c | only the top-k% words of x)]: lower is better
  (those words alone keep the prediction; it can be negative).
  Both are AOPC, the area over the perturbation curve, in probability units (0 to 1 apart).
  Unlike ferret's default, negatively scored words are not dropped from the ranking (ERASER's choice).
- deletion area: `explain.deletion_curve(...).area_between` (most-attributed words first vs random order).
- tau with occlusion: Kendall's tau-b (scipy.stats.kendalltau) between the method's word scores and
  occlusion's on the same text and class; 1 for occlusion itself; None when it is undefined (fewer than
  two words, or all scores equal).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sentiment_core.core.errors import InputError
from sentiment_core.explain.attribution import Explanation, explain
from sentiment_core.explain.methods import METHODS
from sentiment_core.explain.words import word_groups
from sentiment_core.inference.predictor import Predictor

CUTOFFS = (0.01, 0.05, 0.10, 0.20, 0.50)
REFERENCE_METHOD = "occlusion"
CHUNK_ROWS = 64  # perturbed copies of a text per forward pass


@dataclass
class Erasure:
    """P(explained class) for the whole text, without its top-k% words, and with only them, per cut-off."""

    cutoffs: list[float]
    top_words: list[int]  # words in each top-k%
    full: float
    without_top: list[float]
    only_top: list[float]

    @property
    def comprehensiveness(self) -> float:
        return float(np.mean([self.full - p for p in self.without_top]))

    @property
    def sufficiency(self) -> float:
        return float(np.mean([self.full - p for p in self.only_top]))


@dataclass
class FaithfulnessScore:
    """How faithful one explanation is to the model (see the module docstring for the definitions)."""

    method: str
    comprehensiveness: float  # higher is better
    sufficiency: float  # lower is better
    tau_occlusion: float | None  # rank agreement with occlusion, -1..1
    deletion_area: float | None  # > 0: better than deleting at random; None when not computed
    seconds: float | None  # time the explanation took; None when not timed
    words: int

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for a page or a report: 'comprehensiveness 0.41 · sufficiency 0.03 · tau 0.62 · 120 ms'."""
        parts = [f"comprehensiveness {self.comprehensiveness:.2f}", f"sufficiency {self.sufficiency:.2f}"]
        if self.tau_occlusion is not None and self.method != REFERENCE_METHOD:
            parts.append(f"tau with occlusion {self.tau_occlusion:.2f}")
        if self.deletion_area is not None:
            parts.append(f"deletion area {self.deletion_area:.3f}")
        if self.seconds is not None:
            parts.append(f"{self.seconds * 1000:.0f} ms")
        return " · ".join(parts)


@dataclass
class ScoredExplanation:
    """One method's explanation of a review with its faithfulness scores and time."""

    explanation: Explanation
    score: FaithfulnessScore


# --- perturbations -----------------------------------------------------------------------

def top_counts(n_words: int, cutoffs: Sequence[float] = CUTOFFS) -> list[int]:
    """Words in the top-k% for each cut-off: ceil(k x n_words), at least 1, at most n_words."""
    return [min(n_words, max(1, math.ceil(fraction * n_words - 1e-9))) for fraction in cutoffs]


def _check_cutoffs(cutoffs: Sequence[float]) -> None:
    if not cutoffs or any(not 0 < float(c) <= 1 for c in cutoffs):
        raise InputError(f"Cut-offs must be fractions in (0, 1], got {list(cutoffs)}.")


def _scores_toward_target(explanation: Explanation, spans: list[tuple[int, int]]) -> np.ndarray:
    """The explanation's score of each word the model reads (toward its target), in `spans` order."""
    by_span = {(w.start, w.end): w.score for w in explanation.words}
    return np.array([by_span.get(span, 0.0) for span in spans], dtype=float)


@torch.no_grad()
def _positive_probabilities(predictor: Predictor, encoded, token_word: np.ndarray, word_keep: np.ndarray) -> np.ndarray:
    """P(positive) of the text with each row of word weights applied. word_keep: (rows, n_words) of 0/1."""
    input_ids, attention_mask = predictor.batch_tensors([encoded])  # (1, seq_len)
    token_weights = np.ones((len(word_keep), len(token_word)), dtype=np.float32)  # (rows, seq_len)
    in_word = token_word >= 0
    token_weights[:, in_word] = word_keep[:, token_word[in_word]]
    weights = torch.as_tensor(token_weights, device=predictor.device)
    log_odds = torch.cat([
        predictor.positive_log_odds(input_ids.expand(len(chunk), -1), attention_mask.expand(len(chunk), -1), chunk)
        for chunk in weights.split(CHUNK_ROWS)
    ]).double().cpu().numpy()  # (rows,)
    return 1 / (1 + np.exp(-log_odds))


def erasures(predictor: Predictor, explanations: Sequence[Explanation],
             cutoffs: Sequence[float] = CUTOFFS) -> list[Erasure]:
    """The erasure curves of each explanation; explanations of the same text share their forward passes."""
    _check_cutoffs(cutoffs)
    results: list[Erasure | None] = [None] * len(explanations)
    by_text: dict[str, list[int]] = {}
    for index, explanation in enumerate(explanations):
        by_text.setdefault(explanation.text, []).append(index)
    for text, indices in by_text.items():
        encoded = predictor.encode(text)
        spans, token_word = word_groups(encoded)
        n_words = len(spans)
        counts = top_counts(n_words, cutoffs)
        rows, plan = [np.ones(n_words, dtype=np.float32)], []  # row 0: the whole text
        for index in indices:
            explanation = explanations[index]
            order = np.argsort(-_scores_toward_target(explanation, spans), kind="stable")
            removed, kept = [], []
            for count in counts:
                without = np.ones(n_words, dtype=np.float32)
                without[order[:count]] = 0.0
                only = 1.0 - without
                removed.append(len(rows))
                rows.append(without)
                kept.append(len(rows))
                rows.append(only)
            plan.append((index, removed, kept))
        unique, where = np.unique(np.stack(rows), axis=0, return_inverse=True)  # short texts repeat rows
        positive = _positive_probabilities(predictor, encoded, token_word, unique)[where.reshape(-1)]  # (rows,)
        for index, removed, kept in plan:
            probabilities = positive if explanations[index].target == 1 else 1 - positive
            results[index] = Erasure(
                cutoffs=[float(c) for c in cutoffs], top_words=counts, full=float(probabilities[0]),
                without_top=[float(probabilities[r]) for r in removed],
                only_top=[float(probabilities[r]) for r in kept],
            )
    return results


def comprehensiveness(predictor: Predictor, explanation: Explanation, cutoffs: Sequence[float] = CUTOFFS) -> float:
    """Mean drop of P(explained class) when the top-k% words are removed (AOPC; higher is better)."""
    return erasures(predictor, [explanation], cutoffs)[0].comprehensiveness


def sufficiency(predictor: Predictor, explanation: Explanation, cutoffs: Sequence[float] = CUTOFFS) -> float:
    """Mean drop of P(explained class) when only the top-k% words are kept (AOPC; lower is better)."""
    return erasures(predictor, [explanation], cutoffs)[0].sufficiency


def rank_agreement(explanation: Explanation, reference: Explanation) -> float | None:
    """Kendall's tau-b between two explanations' word scores on the same text (None when undefined)."""
    from scipy.stats import kendalltau

    if explanation.text != reference.text:
        raise InputError("Rank agreement compares two explanations of the same text.")
    theirs = dict(zip(((w.start, w.end) for w in reference.words), reference.positive_scores()))
    pairs = [(score, theirs[(w.start, w.end)]) for w, score in zip(explanation.words, explanation.positive_scores())
             if (w.start, w.end) in theirs]
    if len(pairs) < 2:
        return None
    mine, other = zip(*pairs)
    tau = kendalltau(mine, other).statistic
    return None if not np.isfinite(tau) else float(tau)


# --- scoring explanations -----------------------------------------------------------------

def score_explanations(predictor: Predictor, explanations: Sequence[Explanation],
                       reference: Sequence[Explanation | None] | None = None,
                       seconds: Sequence[float | None] | None = None, compare_with_occlusion: bool = True,
                       deletion: bool = False, cutoffs: Sequence[float] = CUTOFFS) -> list[FaithfulnessScore]:
    """Faithfulness of each explanation for `predictor` (one FaithfulnessScore each, in order).

    reference: occlusion explanations aligned with `explanations` for the tau; by default an occlusion
    explanation of the same text and class in the list is used, else one is made (window 1).
    seconds: the time each explanation took (`explain_all_methods` measures it).
    deletion: also compute the deletion curve's area (11 x 6 more forward passes per explanation).
    """
    if reference is not None and len(reference) != len(explanations):
        raise InputError("reference must hold one occlusion explanation (or None) per explanation.")
    if seconds is not None and len(seconds) != len(explanations):
        raise InputError("seconds must hold one time (or None) per explanation.")
    curves = erasures(predictor, explanations, cutoffs)
    references = list(reference) if reference is not None else [None] * len(explanations)
    if compare_with_occlusion and reference is None:
        made = {(e.text, e.target): e for e in explanations if e.method == REFERENCE_METHOD}
        for index, explanation in enumerate(explanations):
            key = (explanation.text, explanation.target)
            if key not in made:
                (made[key],) = explain(predictor, explanation.text, method=REFERENCE_METHOD,
                                                  target=explanation.target)
            references[index] = made[key]
    scores = []
    for index, (explanation, curve) in enumerate(zip(explanations, curves)):
        other = references[index] if compare_with_occlusion else None
        area = deletion_curve(predictor, explanation).area_between if deletion else None
        scores.append(FaithfulnessScore(
            method=explanation.method, comprehensiveness=curve.comprehensiveness, sufficiency=curve.sufficiency,
            tau_occlusion=rank_agreement(explanation, other) if other is not None else None,
            deletion_area=area, seconds=None if seconds is None else seconds[index], words=len(explanation.words),
        ))
    return scores


def explain_all_methods(predictor: Predictor, text: str, methods: Sequence[str] = tuple(METHODS),
                        target: int | str | None = None, steps: Mapping[str, int] | None = None,
                        deletion: bool = False, baseline: str = "empty") -> list[ScoredExplanation]:
    """Explain one review with each method (timed), then score every explanation.

    steps: per method, its steps (default: the method's), e.g. {"integrated_gradients": 50}; baseline: as for
    `explain` (every method).
    The times are wall-clock seconds of each `explain` call; occlusion, when not among
    `methods`, is still made (untimed) as the reference for the tau.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise InputError(f"Unknown explanation method(s) {unknown or '(none given)'}: "
                         f"choose from {', '.join(METHODS)}.")
    steps = steps or {}
    import captum.attr  # noqa: F401  (the first import takes a second: keep it off the first method's clock)

    explanations, seconds = [], []
    for method in methods:
        started = time.perf_counter()
        (explanation,) = explain(predictor, text, method=method, target=target, steps=steps.get(method),
                                 baseline=baseline)
        seconds.append(time.perf_counter() - started)
        explanations.append(explanation)
    scores = score_explanations(predictor, explanations, seconds=seconds, deletion=deletion)
    return [ScoredExplanation(e, s) for e, s in zip(explanations, scores)]


def scores_frame(scores: Sequence[FaithfulnessScore]):
    """The scores as a DataFrame, one row per explanation (seconds as ms)."""
    import pandas as pd

    frame = pd.DataFrame([s.to_dict() for s in scores], columns=list(FaithfulnessScore.__dataclass_fields__))
    frame = frame.astype({"tau_occlusion": float, "deletion_area": float, "seconds": float})  # None -> NaN
    frame["ms"] = frame.pop("seconds") * 1000
    return frame


def method_summary(scores: Sequence[FaithfulnessScore]):
    """Mean of each measure per method over many reviews: method, reviews, comprehensiveness, sufficiency,
    tau_occlusion, deletion_area, ms (pandas means skip the undefined values)."""
    frame = scores_frame(scores)
    order = list(dict.fromkeys(frame["method"]))
    summary = frame.groupby("method", sort=False).agg(
        reviews=("method", "size"), comprehensiveness=("comprehensiveness", "mean"),
        sufficiency=("sufficiency", "mean"), tau_occlusion=("tau_occlusion", "mean"),
        deletion_area=("deletion_area", "mean"), ms=("ms", "mean"),
    )
    return summary.loc[order].reset_index()


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
