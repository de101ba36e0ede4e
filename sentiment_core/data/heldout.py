"""The held-out half of the sentiment lexicon: the words counterfactual augmentation never uses, so the behaviour
suite can measure, on the other half, whether what the augmentation taught carries over to words it never saw.

The split is fixed and explicit. Each list of the behaviour suite's lexicon (`evaluation.behaviour.lexicon`: its
twin; a test checks every word there is placed here) was ordered by the word's count in 2,000 IMDB training
reviews and dealt out in the order seen, held out, held out, seen, seen, held out, ... so both halves hold
frequent and rare words alike (`good` is seen, `great` held out; `bad` seen, `poor` held out). Verbs go as a
whole (`loved` held out takes `love`, `loves` and `loving` with it). Ratings split by score so that turning a
score over stays within its half: 2, 4, 7 and 9 (in digits or words) are held out, 1, 3, 6 and 8 seen; the scales
10, ten, 5 and five belong to neither. Negations, auxiliaries and articles belong to neither half: they are
the grammar a negation edit needs, and the held-out figure asks whether that grammar carries over to held-out
words.

Augmentation (`data.augment`) never inserts or removes a held-out word, and an edited review never contains a
held-out sentiment word (a sentence that mentions one is left out of the edited copy). The suite
(`evaluation.behaviour`) counts a case as held out when every split word in it is held out.
"""

from __future__ import annotations

import re

from sentiment_core.data.edits import WORD_RE, plain

# category -> (seen: augmentation may use them, held out: it never does). Twin: evaluation/behaviour/lexicon.py.
SPLIT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "positive adjectives": (
        ("good", "excellent", "wonderful", "brilliant", "hilarious", "clever", "fantastic", "superb", "lovely",
         "impressive", "touching", "engaging", "delightful", "masterful"),
        ("great", "beautiful", "entertaining", "amazing", "enjoyable", "memorable", "powerful", "moving",
         "outstanding", "terrific", "stunning", "charming", "riveting", "gripping"),
    ),
    "negative adjectives": (
        ("bad", "terrible", "awful", "annoying", "ridiculous", "lame", "pointless", "pathetic", "awkward", "dreadful",
         "atrocious", "tedious", "clumsy", "lifeless"),
        ("poor", "stupid", "boring", "horrible", "dull", "weak", "painful", "disappointing", "bland", "mediocre",
         "forgettable", "unwatchable", "sloppy", "uninspired"),
    ),
    "positive verbs": (
        ("like", "liked", "likes", "appreciate", "appreciated", "treasure", "treasured", "relish", "relished"),
        ("love", "loved", "loves", "loving", "enjoy", "enjoyed", "enjoys", "admire", "admired", "adore", "adored"),
    ),
    "negative verbs": (
        ("hate", "hated", "hates", "hating", "despise", "despised", "loathe", "loathed"),
        ("dislike", "disliked", "dislikes", "regret", "regretted", "detest", "detested"),
    ),
    "comparatives": (("better", "weaker"), ("worse", "stronger")),
    "intensifiers": (
        ("very", "absolutely", "extremely", "deeply", "thoroughly", "exceptionally"),
        ("really", "truly", "seriously", "incredibly", "genuinely", "remarkably"),
    ),
    "scores": (("1", "3", "6", "8", "one", "three", "six", "eight"),
               ("2", "4", "7", "9", "two", "four", "seven", "nine")),
}
SEEN_WORDS = frozenset(word for seen, _ in SPLIT.values() for word in seen)
HELD_OUT_WORDS = frozenset(word for _, held in SPLIT.values() for word in held)
SCORE_WORDS = frozenset(SPLIT["scores"][0] + SPLIT["scores"][1])  # split words only where they are a rating
SEEN, HELD_OUT = "seen", "held-out"
_RATED_RE = re.compile(r"\b(\w+)(?=\s*(?:/\s*(?:10|5)\b|stars?\b|out\s+of\b))", re.IGNORECASE)  # "9/10", "two stars"


def held_out(word: str) -> bool:
    """Whether `word` (any case) is in the held-out half."""
    return plain(word) in HELD_OUT_WORDS


def half(word: str) -> str | None:
    """`"held-out"`, `"seen"`, or None for a word in neither half (most words: nouns, negations, names, ...)."""
    word = plain(word)
    return HELD_OUT if word in HELD_OUT_WORDS else SEEN if word in SEEN_WORDS else None


def text_half(text: str, scores: bool = True) -> str | None:
    """The half of a short text (a behaviour case): `"held-out"` when it has split words and every one is held
    out, `"seen"` when every one is seen, None when it has none or both. A score word counts only as a rating
    ("9/10", "nine out of ten", "two stars"; not "Seven Rivers"), and not at all with scores=False."""
    found = {half(w) for w in WORD_RE.findall(text) if plain(w) not in SCORE_WORDS}
    if scores:
        found |= {half(w) for w in _RATED_RE.findall(text) if plain(w) in SCORE_WORDS}
    found -= {None}
    return found.pop() if len(found) == 1 else None


def fingerprint() -> str:
    """Names this split: part of the augmentation cache's key, so a changed split regenerates the edits."""
    import hashlib

    return hashlib.sha256(repr(sorted(SPLIT.items())).encode()).hexdigest()[:16]
