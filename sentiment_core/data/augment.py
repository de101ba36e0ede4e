"""Counterfactual augmentation without a model: minimal pairs cut from a review, its own sentences as written and
with their polarity turned over, the second with the flipped label.

After Kaushik et al., 2020 ("Learning the difference that makes a difference with counterfactually-augmented
data"): an original and its minimally edited opposite teach what decides the label. With no model to say when a
whole review has flipped, the pair is an excerpt: `EXCERPT_SENTENCES` short sentence(s) of the review whose
sentiment words (`data.opposites`) agree with its label and can all be turned (a sentence with a score first:
scores are rare), as written (the review's label) and turned over (the flipped label). In each sentence every
sentiment-bearing unit is turned once:

- a negation that reaches sentiment words in its clause ("wasn't good", "I don't think it was good") is removed
  ("was good"), and the words it reaches are left alone (turning both would turn the meaning back);
- every other sentiment word is turned once, by the first of its edits (`data.edits`) the seeded draw picks
  among: a negation inserted after the auxiliary that governs it ("was good" -> "wasn't good"), its opposite
  ("good" -> "bad", the article before it following), or its intensifier turned down ("very good" -> "hardly
  good");
- a written score is turned over on its scale ("8/10" -> "3/10", "eight out of ten" -> "three out of ten").

Never a bare deletion. Nothing of the held-out half (`data.heldout`) is inserted or removed, and no excerpt
contains a held-out sentiment word: a sentence that mentions one (or a sentiment word no allowed edit can turn) is
never chosen. Sentences that carry no lexicon sentiment, or whose sentiment disagrees with the review's label
("the score is excellent" in a pan), are not chosen either: what they say is unknown, so neither label would be
sure; nor are questions and sentences with two clauses in contrast ("good, but too long": the second decides,
and the lexicon may know only the first). Words whose sentiment depends on their use ("like", "has", "see",
"well", ...) are not sentiment words here. A review with no such sentence is skipped, and the reason counted.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sentiment_core.data import heldout
from sentiment_core.data import opposites as lexicon
from sentiment_core.data.edits import (
    RATING_RE,
    WORD_RE,
    Edit,
    apply_edits,
    clause_after,
    keep_case,
    overlaps,
    plain,
    rating_edit,
    rating_top,
    word_edits,
    words,
)

AUGMENT_KINDS = ("negation", "antonym", "rating", "intensity")  # data.edits.MEANING_KINDS: never a deletion
AUGMENT_VERSION = 3  # bump when the algorithm changes: cached edits are then generated again
EXCERPT_SENTENCES = 1  # sentences of one review in its pair (a seeded choice among those that qualify)
EXCERPT_WORDS = 30  # longest sentence chosen: a long one carries sentiment the lexicon does not know
DISTANT_SHARE = 0.3  # chosen sentences turned over by a frame that negates them from a clause away, where one fits
NEGATION_REACH = 6  # words after a negation that it turns (data.edits.clause_after)
AUXILIARY_REACH = 3  # words between an auxiliary and the sentiment word a negation inserted after it turns
# How a sentiment word with a choice is turned, before the seeded draw: negations are what models fail at.
KIND_WEIGHTS = {"negation": 0.6, "antonym": 0.3, "intensity": 0.1}
# Lexicon words whose sentiment depends on their use: a blind edit of every occurrence would turn a preposition
# ("looks like"), a plain verb ("has a cast", "went to see") or a description of the story ("a happy ending").
# The counterfactual search keeps them, as a model checks each of its edits there.
AMBIGUOUS = frozenset({
    "like", "has", "had", "see", "spent", "spending", "saved", "saves", "works", "worked", "rock", "rocks", "rocked",
    "well", "fine", "deep", "shallow", "warm", "cold", "tight", "sweet", "sour", "sharp", "sharply", "clear",
    "natural", "serious", "silly", "original", "fresh", "complex", "mature", "awake", "asleep", "happy", "unhappy",
    "happily", "sadly", "proud", "ashamed", "pleased", "realistic", "emotional", "sensitive", "interested",
    "necessary", "essential", "legendary", "forgotten", "classic", "sense", "gold", "treat", "winner", "loser",
    "highlight", "strength", "strengths", "favorite", "favourite", "favorites", "moving", "touched", "hooked",
    "fortunate", "unfortunate", "fortunately", "unfortunately", "unique", "ordinary", "wealth", "flat", "cheap",
    "heavy-handed", "genius", "simplistic", "juvenile", "strong", "weak", "solid", "lazy", "joke",
})
# Comparatives and superlatives take only the opposites they are paired with (the strongest words of the other side
# are adjectives: "better than" -> "awful than" would not be English).
COMPARATIVES = frozenset({"better", "worse", "best", "worst", "greatest", "finest", "weakest", "strongest",
                          "smartest", "dumbest", "superior", "inferior"})
# Auxiliaries a negation may follow: the copulas and modals ("was good", "would recommend"), not do or have, which
# are mostly main verbs in a review ("does a good job" -> "doesn't a good job").
_GOVERNING = frozenset(set(lexicon.NEGATED_AUXILIARIES) - {"do", "does", "did", "has", "have", "had"}) \
    | frozenset(lexicon.CONTRACTED_COPULAS)
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_WRITTEN_RATING_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")(\s+(?:stars?\s+)?out\s+of\s+)(ten|five)\b",
                                re.IGNORECASE)
# What an edit turns on besides sentiment words: the negations and the seen half's scores. Word dropout never hides
# them in an augmented run (modeling.token_dropout): a minimal pair with its edit hidden teaches both labels.
PROTECTED_WORDS = frozenset(
    {w for w in lexicon.UNNEGATED if " " not in w}
    | {w for negated in lexicon.NEGATED_AUXILIARIES.values() for form in negated for w in form.split()}
    | set(heldout.SPLIT["scores"][0])
) - set(lexicon.NEGATED_AUXILIARIES)  # "was not": "not", never "was"
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?:\s*<br\s*/?>\s*)+", re.IGNORECASE)
_SENTENCE_OPENERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "it", "its", "it's", "he", "she",
                               "they", "we", "you", "his", "her", "their", "our", "your", "there", "all", "every",
                               "most", "some", "one", "my"})
SKIP_REASONS = ("nothing to turn", "no sentence agrees with the label")


@dataclass(frozen=True)
class Flip:
    """One review's minimal pair: the excerpt as written (`original`, the review's label) and turned over (`text`,
    the flipped label); both None when skipped, with the reason. Its edits (spans into the review; not kept by
    `to_dict`), how many of each kind, the review's sentences left out of the excerpt and the share of its words
    the excerpt keeps."""

    text: str | None
    edits: tuple[Edit, ...] = ()
    left_out: int = 0
    sentences: int = 0
    kept_share: float = 1.0
    reason: str | None = None
    kinds: dict = field(default_factory=dict)
    original: str | None = None

    def to_dict(self) -> dict:
        """What the augmentation cache keeps of it (compact: the counts, not the edits)."""
        return {"text": self.text, "original": self.original, "kinds": dict(self.kinds), "left_out": self.left_out,
                "sentences": self.sentences, "kept_share": round(self.kept_share, 4), "reason": self.reason}

    @classmethod
    def from_dict(cls, payload: dict) -> Flip:
        return cls(payload.get("text"), (), int(payload.get("left_out") or 0), int(payload.get("sentences") or 0),
                   float(payload.get("kept_share", 1.0)), payload.get("reason"), dict(payload.get("kinds") or {}),
                   payload.get("original"))


def sentiment_words() -> frozenset[str]:
    """Words the augmentation turns: the lexicon's words with an opposite, less the ambiguous ones."""
    return frozenset(w for w in lexicon.opposites() if " " not in w) - AMBIGUOUS


@functools.lru_cache(maxsize=1)
def _sentiment() -> frozenset[str]:
    return sentiment_words()


def lexicon_fingerprint() -> str:
    """Names everything generation depends on (the opposites lexicon, the held-out split, the rules here): part of
    the cache key, so a changed lexicon regenerates the edits."""
    parts = (AUGMENT_VERSION, lexicon.OPPOSITE_PAIRS, sorted(lexicon.NEGATED_AUXILIARIES.items()),
             lexicon.CONTRACTED_COPULAS, sorted(lexicon.UNNEGATED.items()), lexicon.INTENSIFIERS, lexicon.DOWNTONER,
             sorted(lexicon.STRONG_OPPOSITES.items()), lexicon.MOST_OPPOSITES, sorted(AMBIGUOUS), EXCERPT_SENTENCES,
             EXCERPT_WORDS, NEGATION_REACH, AUXILIARY_REACH, sorted(KIND_WEIGHTS.items()), heldout.fingerprint(),
             DISTANT_SHARE, lexicon.DISTANT_NEGATIONS, lexicon.CONTRAST_MARKERS, lexicon.SUBORDINATING_CONTRASTS,
             sorted(_SENTENCE_OPENERS))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans covering `text`, one per sentence with the space or <br /> tags after it (line breaks of IMDB's
    reviews end a sentence too)."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.end()))
            start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def has_score(text: str) -> bool:
    """Whether `text` writes a score ("8/10", "eight out of ten", "3 out of 5")."""
    return bool(RATING_RE.search(text) or _WRITTEN_RATING_RE.search(text))


def touches_held_out(edit: Edit) -> bool:
    """Whether an edit inserts or removes a word of the held-out half."""
    return any(heldout.held_out(w) for w in WORD_RE.findall(edit.old + " " + edit.new))


def _ratings(text: str) -> list[tuple[Edit, bool]]:
    """The written scores in `text` turned over on their scale, each with whether its score (old or new)
    is held out."""
    found = []
    for match in RATING_RE.finditer(text):
        if not 0 <= float(match.group(1)) <= rating_top(match):
            continue
        edit = rating_edit(match)
        found.append((edit, touches_held_out(edit)))
    for match in _WRITTEN_RATING_RE.finditer(text):
        score, top = _NUMBER_WORDS.index(match.group(1).lower()), 10 if match.group(3).lower() == "ten" else 5
        new = keep_case(match.group(1), _NUMBER_WORDS[max(min(top + 1 - score, top), 1)])
        edit = Edit(match.start(1), match.end(1), match.group(1), new, "rating")
        found.append((edit, touches_held_out(edit)))
    return found


@functools.lru_cache(maxsize=1)
def _paired() -> dict[str, frozenset[str]]:
    """Each lexicon word -> the words it is paired with (not the strongest words `opposites()` adds)."""
    table: dict[str, set[str]] = {}
    for positive, negative in lexicon.OPPOSITE_PAIRS:
        table.setdefault(positive, set()).add(negative)
        table.setdefault(negative, set()).add(positive)
    return {word: frozenset(found) for word, found in table.items()}


@functools.lru_cache(maxsize=1)
def _polarity() -> dict[str, int]:
    """Each lexicon word -> +1 (the positive side of its first pair) or -1."""
    table: dict[str, int] = {}
    for positive, negative in lexicon.OPPOSITE_PAIRS:
        table.setdefault(positive, 1)
        table.setdefault(negative, -1)
    return table


def _score_polarity(edit: Edit) -> int:
    """+1 for a score above the middle of its scale ("8/10", "eight out of ten"), -1 below it, 0 at it."""
    old, new = (float(_NUMBER_WORDS.index(v.lower())) if v.lower() in _NUMBER_WORDS else float(v)
                for v in (edit.old, edit.new))
    return (old > new) - (old < new)  # turning over maps a score to its mirror: the larger one is the better


def _idiom(text: str, spans, lowered, i: int) -> bool:
    """A negation that is not one: "not only", "no one", or "No," answering."""
    following = lowered[i + 1] if i + 1 < len(lowered) else None
    if (lowered[i], following) in (("not", "only"), ("no", "one"), ("no", "doubt"), ("no", "matter")):
        return True
    return lowered[i] == "no" and text[spans[i][1]:spans[i][1] + 1] in (",", ".", "!", "?", "")


def _first_allowed(edits: Sequence[Edit], kind: str, rng: random.Random | None = None) -> Edit | None:
    """The first edit of this kind that leaves the held-out half alone; with `rng`, a seeded pick among them
    (a negation inserted as "isn't" or "is not")."""
    allowed = [e for e in edits if e.kind == kind and not touches_held_out(e)]
    if not allowed:
        return None
    return rng.choice(allowed) if rng is not None else allowed[0]


def _sentence_edits(text: str, rng: random.Random, kinds: Sequence[str]) -> tuple[list[Edit], int] | None:
    """The edits that turn one sentence (spans into it) and the sentence's polarity (its sentiment words' signs,
    a negated one counted turned, plus its scores'), or None when it must be left out: a held-out sentiment word,
    or a sentiment word no allowed edit turns."""
    spans = words(text)
    lowered = [plain(text[s:e]) for s, e in spans]
    sentiment = _sentiment()
    ratings = _ratings(text) if "rating" in kinds else []
    if any(held for _, held in ratings):
        return None
    rated = [(e.start, e.end) for e, _ in ratings]
    scores = {i for i, (s, e) in enumerate(spans) if any(a <= s < b for a, b in rated)}
    for i, word in enumerate(lowered):
        if i not in scores and word in heldout.HELD_OUT_WORDS and word not in heldout.SCORE_WORDS \
                and word not in lexicon.INTENSIFIERS:
            return None  # a held-out sentiment word: neither turned nor kept
    polar = [i for i, word in enumerate(lowered) if word in sentiment and i not in scores]
    index = {span: i for i, span in enumerate(spans)}
    owner: dict[int, int] = {}  # sentiment word -> the negation that reaches it
    negations = [i for i, word in enumerate(lowered)
                 if word in lexicon.UNNEGATED and not _idiom(text, spans, lowered, i)]
    for i in negations:
        for span in clause_after(text, spans[i], NEGATION_REACH)[1:]:
            j = index[span]
            if j in polar and j not in owner:
                owner[j] = i
    chosen: list[Edit] = [e for e, _ in ratings]
    polarity = sum(_score_polarity(e) for e in chosen) \
        + sum(_polarity().get(lowered[i], 0) * (-1 if i in owner else 1) for i in polar)
    used: set[int] = set()  # words an edit already changes (an auxiliary is negated once)
    for i in negations:
        edit = _first_allowed(word_edits(text, spans[i]), "negation") if "negation" in kinds else None
        if edit is None:
            if i in owner.values():
                return None
            continue
        chosen.append(edit)
        used.add(i)
    for i in polar:
        if i in owner:
            continue
        options = {}
        if "antonym" in kinds:
            antonyms = word_edits(text, spans[i])
            if lowered[i] in COMPARATIVES:  # "better than" takes "worse", never an adjective ("awful than")
                antonyms = [e for e in antonyms if plain(e.new.split()[-1]) in _paired()[lowered[i]]]
            options["antonym"] = _first_allowed(antonyms, "antonym")
        if "negation" in kinds:
            options["negation"] = _auxiliary_negation(text, spans, lowered, i, polar, used, rng)
        if "intensity" in kinds and i > 0 and lowered[i - 1] in lexicon.INTENSIFIERS and i - 1 not in used:
            options["intensity"] = _first_allowed(word_edits(text, spans[i - 1]), "intensity")
        options = {kind: edit for kind, edit in options.items() if edit is not None}
        if not options:
            return None
        names = sorted(options)
        weights = [KIND_WEIGHTS[k] for k in names]
        kind = rng.choices(names, weights=weights if sum(weights) > 0 else None)[0]
        chosen.append(options[kind])
        if kind == "negation":
            used.add(index[(options[kind].start, options[kind].end)])
        elif kind == "intensity":
            used.add(i - 1)
    chosen.sort(key=lambda e: e.start)
    if any(overlaps(a, b) for a, b in zip(chosen, chosen[1:])):
        return None
    return chosen, polarity


def _auxiliary_negation(text: str, spans, lowered, i: int, polar: list[int], used: set[int],
                        rng: random.Random) -> Edit | None:
    """A negation inserted after the auxiliary that governs sentiment word `i` ("was (very) good" -> "wasn't (very)
    good"), when it reaches no other sentiment word and no negation."""
    for j in range(i - 1, max(-1, i - 1 - AUXILIARY_REACH), -1):
        word = lowered[j]
        if word in lexicon.UNNEGATED or (j in polar and j != i):
            return None
        if word in _GOVERNING:
            if j in used or any(c in text[spans[j][1]:spans[i][0]] for c in ".,;:!?()\""):
                return None
            reach = clause_after(text, spans[j], NEGATION_REACH)[1:]
            others = [s for s in reach if s != spans[i]
                      and (plain(text[s[0]:s[1]]) in _sentiment() or plain(text[s[0]:s[1]]) in lexicon.UNNEGATED)]
            if others:
                return None
            return _first_allowed(word_edits(text, spans[j]), "negation", rng)
    return None


def _distant_negation(sentence: str, edits: Sequence[Edit], rng: random.Random) -> Edit | None:
    """A frame of `opposites.DISTANT_NEGATIONS` put before a plain statement ("The plot was good." -> "I wouldn't
    agree that the plot was good."), or None where none fits: a negation, a score or a question already there."""
    first = WORD_RE.search(sentence)
    if first is None or sentence[:first.start()].strip() or sentence.rstrip()[-1:] not in ".!" \
            or any(e.kind in ("negation", "rating") and not e.new.startswith(e.old) for e in edits) \
            or any(plain(w) in lexicon.UNNEGATED for w in WORD_RE.findall(sentence)):
        return None
    word = first.group()
    lowered = word[:1].lower() + word[1:] if plain(word) in _SENTENCE_OPENERS else word  # names keep their capital
    return Edit(first.start(), first.end(), word, f"{rng.choice(lexicon.DISTANT_NEGATIONS)} {lowered}", "negation")


def _contrasts(sentence: str) -> bool:
    """Whether two clauses of the sentence are in contrast ("Good, but too long.", "Although ..., ..."); a sentence
    opening with "But" or "Yet" answers the one before it and is one clause."""
    found = [plain(w) for w in WORD_RE.findall(sentence)]
    return bool(found) and (found[0] in lexicon.SUBORDINATING_CONTRASTS
                            or any(w in lexicon.CONTRAST_MARKERS for w in found[1:]))


def flip_review(text: str, seed: int = 0, kinds: Sequence[str] = AUGMENT_KINDS, label: int | None = None) -> Flip:
    """The review's minimal pair (see the module's docstring), or a `Flip` with `text=None` and the reason it was
    skipped. With `label` (1 positive, 0 negative) only sentences whose sentiment agrees with it are chosen; without
    it, any sentence with sentiment. Deterministic for (text, seed, label)."""
    unknown = sorted(set(kinds) - set(AUGMENT_KINDS))
    if unknown or not kinds:
        from sentiment_core.core.errors import InputError

        raise InputError(f"Unknown augmentation edit kind(s) {unknown or '(none)'}: use {', '.join(AUGMENT_KINDS)}.")
    rng = random.Random(f"{seed}:{label}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}")
    parts = sentences(text)
    turnable: list[tuple[int, int, list[Edit], int]] = []
    for start, end in parts:
        sentence = text[start:end]
        if len(words(sentence)) > EXCERPT_WORDS or "?" in sentence or _contrasts(sentence):
            continue  # a question's polarity is not sure either, nor that of two clauses in contrast
        found = _sentence_edits(sentence, rng, kinds)
        if found is not None and found[0] and found[1]:
            turnable.append((start, end, *found))
    if not turnable:
        return Flip(None, (), len(parts), len(parts), 0.0, "nothing to turn")
    sign = None if label is None else (1 if label else -1)
    agreeing = [part for part in turnable if sign is None or part[3] * sign > 0]
    if not agreeing:
        return Flip(None, (), len(parts), len(parts), 0.0, "no sentence agrees with the label")
    scored = [part for part in agreeing if any(e.kind == "rating" for e in part[2])]  # rare: always taken
    others = [part for part in agreeing if part not in scored]
    kept = sorted(scored[:EXCERPT_SENTENCES] + rng.sample(others, max(0, min(EXCERPT_SENTENCES - len(scored),
                                                                             len(others)))))
    for n, (start, end, found, polarity) in enumerate(kept):
        if rng.random() < DISTANT_SHARE and (frame := _distant_negation(text[start:end], found, rng)) is not None:
            kept[n] = (start, end, [frame], polarity)
    edits = tuple(Edit(e.start + start, e.end + start, e.old, e.new, e.kind) for start, _, found, _ in kept
                  for e in found)
    kept_share = sum(len(words(text[start:end])) for start, end, *_ in kept) / max(len(words(text)), 1)
    original = " ".join(text[start:end].strip() for start, end, *_ in kept)
    edited = " ".join(apply_edits(text[start:end], found).strip() for start, end, found, _ in kept)
    return Flip(edited, edits, len(parts) - len(kept), len(parts), kept_share, None, _kinds(edits), original)


def _kinds(edits: Sequence[Edit]) -> dict[str, int]:
    counts = Counter(e.kind for e in edits)
    return {kind: counts[kind] for kind in AUGMENT_KINDS if counts[kind]}
