"""`counterfactuals()`: the smallest edits of a review that make a model predict the other class (or a chosen one).

The search is guided by the model's own attributions: the words pushing hardest away from the target are edited
first (`data.edits` proposes the edits: negation, an opposite word, a turned-over rating, intensity). Every
candidate is verified by predicting the edited review; edits are combined in the order of what they gained until
the prediction flips, edits that are not needed are pruned, and deletions are tried only when no meaning-changing
edit flips it. Long reviews are read as the model reads them; words it does not read are never edited.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sentiment_core.core.errors import InputError
from sentiment_core.data import LABELS
from sentiment_core.data.edits import (
    Edit,
    apply_edits,
    candidate_edits,
    clause_after,
    overlaps,
    replacement,
    share_changed,
    words,
    words_changed,
)
from sentiment_core.data.text import STOP_WORDS
from sentiment_core.explain import masked_lm
from sentiment_core.explain.attribution import explain
from sentiment_core.explain.methods import check_target
from sentiment_core.inference.predictor import Predictor

MAX_COUNTERFACTUALS = 5  # most diverse edits one request may ask for (every surface)
MASKED_WORDS = 6  # words a masked-LM head proposes replacements for (the ones pushing hardest away from the target)
BATCH_MARGIN = 0.25  # log-odds a bfloat16 verdict must clear to count as a flip (float32 checks the result)
Progress = Callable[[float, str], None]  # (share done, what the search is doing)


@dataclass(frozen=True)
class SearchLimits:
    """How far a search looks: candidates verified per round, rounds, and the attributions that guide it."""

    per_round: int
    rounds: int
    guide_method: str
    guide_steps: int | None
    batch_size: int = 32


# bow's attributions are exact in one pass and its predictions cheap; an encoder pays for every verified review.
FAMILY_LIMITS = {"bow": SearchLimits(48, 12, "gradient_x_input", None, 64),
                 "lstm": SearchLimits(32, 4, "integrated_gradients", 8),
                 "transformer": SearchLimits(32, 4, "integrated_gradients", 8)}
ENCODER_LIMITS = SearchLimits(24, 3, "integrated_gradients", 8, 16)


@dataclass
class Counterfactual:
    """One edited review and what the model made of it. Probabilities are of `target`."""

    text: str
    edited: str
    edits: list[Edit]
    target: int
    label_before: str
    label_after: str
    probability_before: float
    probability_after: float
    flipped: bool
    share_changed: float
    seconds: float
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def deletions(self) -> bool:
        """The flip needed a deletion (no meaning-changing edit did it)."""
        return any(e.kind == "deletion" for e in self.edits)

    def to_dict(self) -> dict:
        return {"text": self.text, "edited": self.edited, "edits": [e.to_dict() for e in self.edits],
                "target": LABELS[self.target], "label_before": self.label_before, "label_after": self.label_after,
                "probability_before": self.probability_before, "probability_after": self.probability_after,
                "flipped": self.flipped, "deletions": self.deletions, "share_changed": self.share_changed,
                "seconds": self.seconds, "message": self.message, "notes": self.notes}


class _Scorer:
    """Log-odds of the target for the review with a set of edits, less `margin` (> 0: the model predicts the target
    by more than the margin), predicted once per set. batch: with the predictor's batch model (bfloat16 where the
    CPU computes it natively: several times faster for an encoder), whose verdicts need a margin to hold for the
    float32 model that has the last word."""

    def __init__(self, predictor: Predictor, text: str, target: int, batch_size: int, batch: bool = False,
                 margin: float = 0.0):
        self.predictor, self.text, self.batch_size, self.batch = predictor, text, batch_size, batch
        self.sign, self.margin = 1.0 if target == 1 else -1.0, margin
        self.cache: dict[frozenset[Edit], float] = {}

    def __call__(self, edit_sets: Sequence[Sequence[Edit]]) -> np.ndarray:
        keys = [frozenset(edits) for edits in edit_sets]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if missing:
            texts = [apply_edits(self.text, list(k)) for k in missing]
            predictions = self.predictor.predict(texts, batch_size=self.batch_size, batch=self.batch)
            for key, prediction in zip(missing, predictions):
                self.remember(key, prediction)
        return np.array([self.cache[k] for k in keys]) - self.margin

    def remember(self, edits: frozenset[Edit], prediction) -> None:
        """Keep the prediction of the review with `edits` (one made elsewhere is not made again)."""
        p = min(max(prediction.probability, 1e-12), 1 - 1e-12)
        # P(positive) = 0.5 is predicted positive: a hair below even odds for the negative target
        self.cache[edits] = self.sign * (math.log(p / (1 - p)) or 1e-12)


def counterfactuals(predictor: Predictor, text: str, target: int | str | None = None, n: int = 1,
                    progress: Progress | None = None) -> list[Counterfactual]:
    """Up to `n` diverse edits of `text` (no word edited twice across them) that make `predictor` predict `target`
    (default: the class it does not predict now). A review the model already gives `target` comes back unchanged,
    with a message; a search that finds no flip returns its best attempt with `flipped` False."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("Give a review to edit: the text is empty.")
    _check_n(n)
    started = time.perf_counter()
    report = progress or (lambda share, message: None)
    (prediction,) = predictor.predict([text])
    predicted = int(prediction.probability >= 0.5)
    target = 1 - predicted if check_target(target) is None else check_target(target)
    limits = FAMILY_LIMITS.get(predictor.family, ENCODER_LIMITS)
    exact = _Scorer(predictor, text, target, limits.batch_size)
    exact.remember(frozenset(), prediction)  # the review as typed, predicted above
    score = exact if predictor.batch_precision() == "float32" else _Scorer(
        predictor, text, target, limits.batch_size, batch=True, margin=BATCH_MARGIN)
    before = _probability(exact([()])[0])
    if predicted == target:
        return [_result(text, (), target, predicted, before, before, started,
                        f"The model already predicts {LABELS[target]} (P = {before:.2f}): nothing to change.")]
    report(0.05, "reading which words push the prediction")
    (guide,) = explain(predictor, [text], method=limits.guide_method, target=target, steps=limits.guide_steps)
    push = {(w.start, w.end): -w.score for w in guide.words}  # > 0: pushes away from the target
    readable = [span for span in words(text) if not any(s <= span[0] < e for s, e in prediction.unread)]
    proposed = _proposals(predictor, text, readable, push)
    results: list[Counterfactual] = []
    banned: set[tuple[int, int]] = set()
    for index in range(n):
        share = (index, n)
        found = _search(text, readable, banned, push, score, limits, report, share, vocabulary(predictor),
                        proposed)
        after = _probability(exact([found])[0])
        flipped = after >= 0.5
        message = _message(found, flipped, before, after, target)
        if index and not flipped:
            results[-1].notes.append(f"Asked for {n} edited reviews; only {index} flip it without editing a word "
                                     "twice.")
            break
        results.append(_result(text, found, target, predicted, before, after, started, message))
        if not flipped or not found:
            break
        banned |= {span for span in readable for e in found if e.start <= span[0] < max(e.end, e.start + 1)}
    report(1.0, "done")
    if prediction.unread:
        results[0].notes.insert(0, "The model does not read all of this review: words it skips were not edited.")
    return results


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_COUNTERFACTUALS:
        raise InputError(f"n (how many edited reviews) must be a whole number from 1 to {MAX_COUNTERFACTUALS}, "
                         f"got {n!r}.")
    return n


def _probability(log_odds: float) -> float:
    return 1 / (1 + math.exp(-log_odds))


def _search(text: str, readable: list[tuple[int, int]], banned: set, push: dict, score: _Scorer,
            limits: SearchLimits, report: Progress, share: tuple[int, int], known: frozenset[str] = frozenset(),
            proposed: dict | None = None) -> tuple[Edit, ...]:
    """Meaning-changing edits first; deletions only if those cannot flip it. -> the pruned flipping edits, or the
    best set found."""
    spans = [span for span in readable if span not in banned]
    meaning = _ranked(text, spans, push, deletions=False, known=known, proposed=proposed)
    found, flipped = _combine(meaning, (), score, limits, report, share)
    if not flipped:
        deletions = [c for c in _ranked(text, spans, push, deletions=True) if c.kind == "deletion"]
        found, flipped = _combine(deletions, found, score, limits, report, share)
    if flipped:
        report((share[0] + 0.9) / share[1], "pruning edits that are not needed")
        found = prune(found, score)
    return found


_VOCABULARIES: weakref.WeakKeyDictionary[Predictor, frozenset[str]] = weakref.WeakKeyDictionary()


def vocabulary(predictor: Predictor) -> frozenset[str]:
    """The whole words a model's tokenizer knows, lower case (byte-level BPE's and SentencePiece's word-start
    marks taken off; WordPiece's continuation pieces left out): where an opposite by form must be found."""
    if predictor not in _VOCABULARIES:
        tokens = (token.lstrip("Ġ▁").lower() for token in predictor.tokenizer.get_vocab())
        _VOCABULARIES[predictor] = frozenset(t for t in tokens if t.isalpha())
    return _VOCABULARIES[predictor]


def _proposals(predictor: Predictor, text: str, readable: list[tuple[int, int]],
               push: dict) -> dict[tuple[int, int], list[Edit]]:
    """Replacements the backbone's masked-LM head proposes for the MASKED_WORDS content words pushing hardest away
    from the target ({} without a head)."""
    if masked_lm.masked_lm(predictor) is None:
        return {}
    pushing = sorted((span for span in readable if push.get(span, 0.0) > 0
                      and text[span[0]:span[1]].lower() not in STOP_WORDS), key=lambda span: -push[span])
    found = masked_lm.proposals(predictor, text, pushing[:MASKED_WORDS])
    return {span: [replacement(text, *span, word, "replacement") for word in words_] for span, words_ in found.items()}


def _ranked(text: str, spans: list[tuple[int, int]], push: dict, deletions: bool,
            known: frozenset[str] = frozenset(), proposed: dict | None = None) -> list[Edit]:
    """Candidate edits, those on the words pushing hardest away from the target first. A negation is ranked by
    what its clause pushes (it turns the words after it), a word by its own push; a masked-LM replacement comes
    after the lexicon's edits of the same word."""
    candidates = []
    proposals = candidate_edits(text, spans, deletions=deletions, vocabulary=known)
    for span in spans:
        if span in (proposed or {}):
            proposals[span] = proposals.get(span, []) + proposed[span]
    for span, edits in proposals.items():
        for edit in edits:
            reach = clause_after(text, span) if edit.kind in ("negation", "intensity") else [span]
            candidates.append((sum(push.get(s, 0.0) for s in reach), edit))
    candidates.sort(key=lambda c: -c[0])
    return [edit for _, edit in candidates]


def _combine(candidates: list[Edit], chosen: tuple[Edit, ...], score: _Scorer, limits: SearchLimits,
             report: Progress, share: tuple[int, int]) -> tuple[tuple[Edit, ...], bool]:
    """Rounds of: verify the next candidates one by one on top of `chosen`; stop at one that flips; else add the
    ones that helped, in the order of their gain, until a prefix flips. -> (edits, flipped)"""
    current = float(score([chosen])[0])
    untried = list(candidates)
    for round_ in range(limits.rounds):
        trial = [c for c in untried if not any(overlaps(c, e) for e in chosen)][:limits.per_round]
        if not trial:
            break
        report((share[0] + 0.1 + 0.8 * round_ / limits.rounds) / share[1],
               f"trying {len(trial)} edits (round {round_ + 1} of at most {limits.rounds})")
        singles = score([chosen + (c,) for c in trial])
        # those that did not help go to the back: on top of later edits they may
        untried = [c for c in untried if c not in trial] + [c for c, s in zip(trial, singles) if s <= current]
        flips = [(words_changed(c), -s, i) for i, (c, s) in enumerate(zip(trial, singles)) if s > 0]
        if flips:
            return chosen + (trial[min(flips)[2]],), True
        ordered: list[Edit] = []
        for i in np.argsort(-singles, kind="stable"):
            if singles[i] > current and not any(overlaps(trial[i], e) for e in chosen + tuple(ordered)):
                ordered.append(trial[i])
        if not ordered:
            continue
        prefixes = [chosen + tuple(ordered[:k]) for k in range(2, len(ordered) + 1)]
        combined = score(prefixes) if prefixes else np.array([])
        flipping = np.flatnonzero(combined > 0)
        if len(flipping):
            return prefixes[flipping[0]], True
        best = prefixes[int(np.argmax(combined))] if prefixes and combined.max() > current else chosen + (ordered[0],)
        chosen, current = best, float(score([best])[0])
    return chosen, False


def prune(edits: Sequence[Edit], score: Callable[[Sequence[Sequence[Edit]]], np.ndarray]) -> tuple[Edit, ...]:
    """Drop edits the flip does not need, one at a time (the one whose removal keeps the target surest first),
    until every remaining edit is needed. `score` gives the target's log-odds of edit sets (> 0: flipped)."""
    kept = tuple(edits)
    while len(kept) > 1:
        without = [kept[:i] + kept[i + 1:] for i in range(len(kept))]
        scores = score(without)
        if scores.max() <= 0:
            break
        kept = without[int(np.argmax(scores))]
    return kept


def _message(edits: Sequence[Edit], flipped: bool, before: float, after: float, target: int) -> str:
    label = LABELS[target]
    kinds = ", ".join(f"{sum(e.kind == k for e in edits)} {k}" for k in dict.fromkeys(e.kind for e in edits))
    if flipped and any(e.kind == "deletion" for e in edits):
        return (f"Flipped to {label} only with deletions ({kinds}): no meaning-changing edit within reach did it, so "
                "this says what the model leans on more than what would change the review's meaning.")
    if flipped:
        return f"Flipped to {label} with {len(edits)} edit{'s' * (len(edits) != 1)} ({kinds})."
    return (f"No edit within the search's reach made the model predict {label}: the closest "
            f"({len(edits)} edit{'s' * (len(edits) != 1)}) moves P({label}) from {before:.2f} to {after:.2f}.")


def _result(text: str, edits: Sequence[Edit], target: int, predicted: int, before: float, after: float,
            started: float, message: str) -> Counterfactual:
    edits = sorted(edits, key=lambda e: e.start)
    return Counterfactual(text=text, edited=apply_edits(text, edits), edits=edits, target=target,
                          label_before=LABELS[predicted], label_after=LABELS[target] if after >= 0.5 else
                          LABELS[1 - target], probability_before=before, probability_after=after,
                          flipped=after >= 0.5 and predicted != target, share_changed=share_changed(text, edits),
                          seconds=time.perf_counter() - started, message=message)


def counterfactual_file(predictor: Predictor, csv_path, out_jsonl, target: int | str | None = None, n: int = 1,
                        progress: Callable[[int, int], None] | None = None, model: str | None = None):
    """Counterfactuals of every row of a reviews CSV into `out_jsonl`, one JSON line per row:
    {"row": 0, "counterfactuals": [Counterfactual.to_dict(), ...]} (null and a note for a row with no readable
    word); an interrupted export continues where it stopped (`explain.files.export_rows`)."""
    from sentiment_core.explain.files import export_rows

    target = check_target(target)
    _check_n(n)
    asked = {"method": "counterfactual", "target": None if target is None else LABELS[target], "options": {"n": n}}

    def row_for(index: int, text: str) -> dict:
        return {"row": index, "text": text,
                "counterfactuals": [c.to_dict() for c in counterfactuals(predictor, text, target=target, n=n)]}

    return export_rows(predictor, csv_path, out_jsonl, asked, row_for,
                       lambda index, text, note: {"row": index, "text": text, "counterfactuals": None,
                                                  "notes": [note]}, progress, model=model)
