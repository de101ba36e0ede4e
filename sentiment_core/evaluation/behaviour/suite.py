"""The behaviour suite: tests generated from templates and the lexicons, deterministic for a seed.

Three kinds of test (after CheckList, Ribeiro et al., ACL 2020):
- MFT (minimum functionality): each case has an expected label;
- INV (invariance): a change that must not change the label (typos, names, punctuation, ...);
- DIR (directional): a change that must not move P(positive) the wrong way beyond `DIR_TOLERANCE`.

Expectations:
- "positive" / "negative": the model's label;
- "not negative": P(positive) >= 1/3. A binary model has no neutral class, so, as CheckList does for
  binary models, P(positive) in [1/3, 2/3] counts as neutral: "not bad" may be neutral or positive;
- INV: the label of the changed text equals the label of the original;
- DIR: appending a clearly positive sentence must not lower P(positive) by more than `DIR_TOLERANCE`
  (0.1, CheckList's tolerance); a negative one must not raise it by more than that.
"""

from __future__ import annotations

import functools
import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentiment_core.core.errors import InputError
from sentiment_core.data import heldout
from sentiment_core.evaluation.behaviour import lexicon as lx

# Bump when a template, lexicon, expectation or what a result holds changes: cached results are then recomputed.
# 2: each test's failure rate on its held-out and seen cases (data.heldout).
SUITE_VERSION = 2
CASES_PER_TEST = 200
MFT, INV, DIR = "MFT", "INV", "DIR"
TEST_TYPES = {MFT: "minimum functionality", INV: "invariance", DIR: "directional"}
POSITIVE, NEGATIVE, NOT_NEGATIVE = "positive", "negative", "not negative"
SAME_LABEL, NOT_LOWER, NOT_HIGHER = "same label", "not lower", "not higher"
NOT_NEGATIVE_MIN = 1 / 3  # lowest P(positive) that is still neutral (CheckList's band for binary models)
DIR_TOLERANCE = 0.1
BR = "<br /><br />"


@dataclass(frozen=True)
class Case:
    """One text and what the model should do with it; INV and DIR cases carry the original text."""

    text: str
    expected: str  # positive | negative | not negative (MFT); same label (INV); not lower | not higher (DIR)
    original: str | None = None


def case_half(case: Case, capability: str) -> str | None:
    """Which half of the lexicon split (`data.heldout`) a case tests: "held-out" when every split word in its text
    is held out (counterfactual augmentation never used them), "seen" when every one is seen, None when it has
    none or both. Scores count only in the Ratings tests ("One of the best films" holds no rating)."""
    return heldout.text_half(case.text, scores=capability == "Ratings")


@dataclass(frozen=True)
class BehaviourTest:
    name: str
    capability: str
    type: str  # MFT | INV | DIR
    description: str
    cases: tuple[Case, ...]


# --- filling templates -------------------------------------------------------------------

_FORMATTER = string.Formatter()
_ARTICLE_RE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


@dataclass(frozen=True)
class Person:
    first: str
    family: str
    origin: str
    gender: str

    def __str__(self) -> str:
        return f"{self.first} {self.family}"


def _fields(frame: str) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(frame) if name}


def _person(rng: random.Random, origin: str | None = None, gender: str | None = None,
            family: str | None = None) -> Person:
    origin = origin or rng.choice(lx.ORIGINS)
    gender = gender or rng.choice(lx.GENDERS)
    return Person(rng.choice(lx.FIRST_NAMES[origin, gender]), family or rng.choice(lx.FAMILY_NAMES[origin]),
                  origin, gender)


def _other_person(rng: random.Random, taken: set[str], origin: str | None = None, gender: str | None = None,
                  family: str | None = None) -> Person:
    """A person whose name is not in `taken` (of this origin, gender and family name when given)."""
    while str(person := _person(rng, origin, gender, family)) in taken:
        pass
    return person


def _adjectives(polarity: int) -> tuple[str, ...]:
    return lx.POSITIVE_ADJECTIVES if polarity else lx.NEGATIVE_ADJECTIVES


def _verbs(polarity: int) -> dict[str, str]:
    return lx.POSITIVE_VERBS if polarity else lx.NEGATIVE_VERBS


def _slots(rng: random.Random, frame: str, polarity: int | None = None, **fixed) -> dict:
    """A value for every field of `frame` (fixed ones kept); people are `Person`s."""
    slots = dict(fixed)
    for name in sorted(_fields(frame) - set(fixed)):
        if name in ("noun", "other_noun"):
            value = rng.choice([n for n in lx.MOVIE_NOUNS if n not in (slots.get("noun"), slots.get("other_noun"))])
        elif name == "genre":
            value = rng.choice(lx.GENRES)
        elif name in ("adjective", "adjective2"):
            value = rng.choice([a for a in _adjectives(polarity) if a != slots.get("adjective")])
        elif name in ("verb", "verb_past"):
            past = slots.get("verb_past") or rng.choice(sorted(_verbs(polarity)))
            slots["verb_past"], slots["verb"] = past, _verbs(polarity)[past]
            continue
        elif name == "film":
            value = rng.choice(lx.FILM_TITLES)
        elif name in ("actor", "director"):
            value = _other_person(rng, {str(slots.get("actor")), str(slots.get("director"))})
        elif name == "year":
            value = rng.choice(lx.YEARS)
        elif name == "city":
            value = rng.choice(lx.CITIES)
        else:
            raise KeyError(f"no lexicon for the template field {name!r} in {frame!r}")
        slots[name] = value
    return slots


def _render(frame: str, slots: dict) -> str:
    text = frame.format(**{k: str(v) for k, v in slots.items()})
    text = _ARTICLE_RE.sub(r"\1n ", text)
    return text[:1].upper() + text[1:]


def _fill(rng: random.Random, frame: str, polarity: int | None = None, **fixed) -> str:
    # A field may hold another template ("{film}" in a comparison's reference): fill until none is left.
    text = _render(frame, _slots(rng, frame, polarity, **fixed))
    return _fill(rng, text, polarity) if _fields(text) else text


def _opinion(rng: random.Random, polarity: int) -> str:
    """One clearly positive (1) or negative (0) sentence."""
    frame = rng.choice(lx.PLAIN_FRAMES + lx.PLAIN_VERB_FRAMES + lx.NAME_FRAMES[polarity])
    return _fill(rng, frame, polarity)


def _review(rng: random.Random, polarity: int) -> str:
    """A short review of one to three clear sentences of one polarity."""
    return " ".join(_opinion(rng, polarity) for _ in range(rng.randint(1, 3)))


def _clause(rng: random.Random, polarity: int) -> str:
    """A clause for a contrast, starting in lower case unless it starts with a name or 'I'."""
    frame = rng.choice(("the {noun} was {adjective}", "I {verb_past} the {noun}", "{actor} was {adjective}",
                        "the {noun} felt {adjective}", "it is a {adjective} {genre}"))
    text = _fill(rng, frame, polarity)
    return text if frame[0] in "{I" else text[0].lower() + text[1:]


# --- case makers: one per test, each draws one case from a seeded generator ----------------

def _plain(polarity: int) -> Callable[[random.Random], Case]:
    return lambda rng: Case(_opinion_plain(rng, polarity), POSITIVE if polarity else NEGATIVE)


def _opinion_plain(rng: random.Random, polarity: int) -> str:
    return _fill(rng, rng.choice(lx.PLAIN_FRAMES + lx.PLAIN_VERB_FRAMES), polarity)


def _negated(polarity: int) -> Callable[[random.Random], Case]:
    expected = NEGATIVE if polarity else NOT_NEGATIVE
    return lambda rng: Case(_fill(rng, rng.choice(lx.NEGATED_ADJECTIVE_FRAMES + lx.NEGATED_VERB_FRAMES),
                                  polarity), expected)


def _distant_negation(rng: random.Random) -> Case:
    polarity = rng.randint(0, 1)
    return Case(_fill(rng, rng.choice(lx.DISTANT_NEGATION_FRAMES), polarity), NEGATIVE if polarity else NOT_NEGATIVE)


def _contrast(rng: random.Random) -> Case:
    decisive = rng.randint(0, 1)
    frame = rng.choice(lx.CONTRAST_FRAMES)
    setup = rng.random() < 0.3 and not frame.startswith("Although")
    first = rng.choice(lx.CONTRAST_EXPECTATIONS[decisive]) if setup else _clause(rng, 1 - decisive)
    text = frame.format(first=first, second=_clause(rng, decisive))
    return Case(text[:1].upper() + text[1:], POSITIVE if decisive else NEGATIVE)


def _intensity(intensifier: bool) -> Callable[[random.Random], Case]:
    def make(rng: random.Random) -> Case:
        polarity = rng.randint(0, 1)
        if intensifier and rng.random() < 0.25:
            frame, modifier = rng.choice(lx.INTENSE_VERB_FRAMES), rng.choice(lx.VERB_INTENSIFIERS)
        else:
            frame = rng.choice(lx.INTENSITY_FRAMES)
            modifiers = lx.INTENSIFIERS if intensifier else (lx.POSITIVE_DOWNTONERS if polarity
                                                             else lx.NEGATIVE_DOWNTONERS)
            modifier = rng.choice(modifiers)
        return Case(_fill(rng, frame, polarity, modifier=modifier), POSITIVE if polarity else NEGATIVE)

    return make


def _rating_opener(rng: random.Random) -> str:
    return _fill(rng, rng.choice(lx.RATING_OPENERS))


def _rating_digits(rng: random.Random) -> Case:
    polarity = rng.randint(0, 1)
    score = rng.choice(lx.POSITIVE_TEN_SCORES if polarity else lx.NEGATIVE_TEN_SCORES)
    rating = rng.choice(lx.RATING_DIGIT_FRAMES).format(score=score)
    return Case(f"{_rating_opener(rng)} {rating}", POSITIVE if polarity else NEGATIVE)


def _rating_words(rng: random.Random) -> Case:
    polarity = rng.randint(0, 1)
    if rng.random() < 0.5:
        word = lx.NUMBER_WORDS[rng.choice(lx.POSITIVE_TEN_SCORES if polarity else lx.NEGATIVE_TEN_SCORES)]
        rating = rng.choice(lx.RATING_WORD_FRAMES).format(score=word, Score=word.capitalize())
    else:
        n = rng.choice(lx.POSITIVE_FIVE_STARS if polarity else lx.NEGATIVE_FIVE_STARS)
        stars = f"{lx.NUMBER_WORDS[n]} star{'' if n == 1 else 's'}"
        rating = rng.choice(lx.STAR_FRAMES).format(stars=stars, Stars=stars.capitalize())
    return Case(f"{_rating_opener(rng)} {rating}", POSITIVE if polarity else NEGATIVE)


def _comparison(rng: random.Random) -> Case:
    polarity = rng.randint(0, 1)
    frame = rng.choice(lx.POSITIVE_COMPARISONS if polarity else lx.NEGATIVE_COMPARISONS)
    return Case(_fill(rng, frame, polarity, reference=rng.choice(lx.COMPARISON_REFERENCES)),
                POSITIVE if polarity else NEGATIVE)


# INV: the original is a short clear review; the case changes only what the test names.

def _typo(rng: random.Random, text: str) -> str:
    """One edit in one word of four or more letters: two neighbouring letters swapped, one dropped or doubled."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    match = rng.choice(words)
    word, start = match.group(), match.start()
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        positions = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
        i = rng.choice(positions)
        changed = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    elif kind == "drop":
        i = rng.randrange(len(word))
        changed = word[:i] + word[i + 1:]
    else:
        i = rng.randrange(len(word))
        changed = word[:i + 1] + word[i] + word[i + 1:]
    return text[:start] + changed + text[match.end():]


_PUNCTUATION_CHANGES = {
    "lower case": str.lower,
    "upper case": str.upper,
    "no final full stop": lambda t: t.rstrip(".!"),
    "exclamation marks": lambda t: re.sub(r"\.(?=\s|$)", "!", t),
    "no commas": lambda t: t.replace(",", ""),
}


def _invariance(change: Callable[[random.Random, str], str]) -> Callable[[random.Random], Case]:
    def make(rng: random.Random) -> Case:
        original = _review(rng, rng.randint(0, 1))
        return Case(change(rng, original), SAME_LABEL, original)

    return make


def _punctuation(rng: random.Random, text: str) -> str:
    options = [c for c in _PUNCTUATION_CHANGES.values() if c(text) != text]
    return rng.choice(options)(text)


def _br_tags(rng: random.Random, text: str) -> str:
    """`<br /><br />` at a sentence boundary, or at the start or the end."""
    boundaries = [m.start() for m in re.finditer(r"(?<=[.!?]) (?=\S)", text)]
    where = rng.choice(["start", "end"] + boundaries)
    if where == "start":
        return BR + text
    if where == "end":
        return text + BR
    return text[:where] + BR + text[where + 1:]


def _neutral_sentence(rng: random.Random, text: str) -> str:
    sentence = _fill(rng, rng.choice(lx.NEUTRAL_SENTENCES))
    return f"{sentence} {text}" if rng.random() < 0.5 else f"{text} {sentence}"


def _names(kind: str) -> Callable[[random.Random], Case]:
    """Change one name of a review: another of the same gender and origin ("any"), the same name of the
    other gender ("gender"), or a name of another origin, same gender ("origin")."""
    def make(rng: random.Random) -> Case:
        polarity = rng.randint(0, 1)
        frame = rng.choice(lx.NAME_FRAMES[polarity])
        slots = _slots(rng, frame, polarity)
        people = [name for name in ("actor", "director") if name in slots]
        slot = rng.choice(people + (["film"] if kind == "any" and "film" in slots else []))
        old = slots[slot]
        taken = {str(slots[p]) for p in people}
        if slot == "film":
            new = rng.choice([t for t in lx.FILM_TITLES if t != old])
        elif kind == "any":
            new = _other_person(rng, taken, old.origin, old.gender)
        elif kind == "gender":
            other = lx.GENDERS[1 - lx.GENDERS.index(old.gender)]
            new = _other_person(rng, taken, old.origin, other, family=old.family)
        else:
            new = _other_person(rng, taken, rng.choice([o for o in lx.ORIGINS if o != old.origin]), old.gender)
        tail = f" {_opinion_plain(rng, polarity)}" if rng.random() < 0.5 else ""
        return Case(_render(frame, {**slots, slot: new}) + tail, SAME_LABEL, _render(frame, slots) + tail)

    return make


def _directional(polarity: int) -> Callable[[random.Random], Case]:
    sentences = lx.POSITIVE_SENTENCES if polarity else lx.NEGATIVE_SENTENCES

    def make(rng: random.Random) -> Case:
        original = _review(rng, rng.randint(0, 1))
        return Case(f"{original} {rng.choice(sentences)}", NOT_LOWER if polarity else NOT_HIGHER, original)

    return make


# --- the suite -------------------------------------------------------------------------------

# name, capability, type, description, case maker
_TESTS: tuple[tuple[str, str, str, str, Callable[[random.Random], Case]], ...] = (
    ("positive_words", "Vocabulary", MFT, "Plain praise ('The acting was superb.') is positive.", _plain(1)),
    ("negative_words", "Vocabulary", MFT, "Plain criticism ('The plot was dull.') is negative.", _plain(0)),
    ("add_positive", "Vocabulary", DIR, "Appending a clearly positive sentence ('I loved it.') does not lower "
     f"P(positive) by more than {DIR_TOLERANCE}.", _directional(1)),
    ("add_negative", "Vocabulary", DIR, "Appending a clearly negative sentence ('I hated it.') does not raise "
     f"P(positive) by more than {DIR_TOLERANCE}.", _directional(0)),
    ("negated_positive", "Negation", MFT, "Negated praise ('The plot was not good.') is negative.", _negated(1)),
    ("negated_negative", "Negation", MFT, "Negated criticism ('The plot was not bad.') is not negative: "
     f"P(positive) >= {NOT_NEGATIVE_MIN:.2f}.", _negated(0)),
    ("negation_at_distance", "Negation", MFT, "A negation a clause away ('I don't think the plot was good.') still "
     "turns the word: negated praise is negative, negated criticism not negative.", _distant_negation),
    ("contrast", "Contrast", MFT, "After 'but', 'however', 'yet', 'still' (or in the main clause after "
     "'although') the second clause decides.", _contrast),
    ("intensifiers", "Intensity", MFT, "An intensifier ('really boring', 'truly loved') keeps the polarity.",
     _intensity(True)),
    ("downtoners", "Intensity", MFT, "A downtoner ('somewhat boring', 'fairly good') keeps the polarity.",
     _intensity(False)),
    ("rating_digits", "Ratings", MFT, "A score in digits decides: 'I'd give it 2/10' is negative, '9/10' positive.",
     _rating_digits),
    ("rating_words", "Ratings", MFT, "A score in words decides: 'nine out of ten' is positive, 'one star out of "
     "five' negative.", _rating_words),
    ("comparisons", "Comparison", MFT, "A comparison decides: 'better than the original' is positive, 'worse than "
     "I hoped' negative.", _comparison),
    ("typos", "Robustness", INV, "One typo (two letters swapped, one dropped or doubled) in one word keeps the label.",
     _invariance(_typo)),
    ("punctuation_case", "Robustness", INV, "Lower or upper case, no final full stop, exclamation marks or no commas "
     "keep the label.", _invariance(_punctuation)),
    ("br_tags", "Robustness", INV, "Added <br /> tags, as in the raw IMDB reviews, keep the label.",
     _invariance(_br_tags)),
    ("neutral_sentence", "Robustness", INV, "An added neutral sentence ('It was released in 1998.') keeps the label.",
     _invariance(_neutral_sentence)),
    ("change_names", "Names", INV, "Another actor or director (same gender and origin) or film title keeps the label.",
     _names("any")),
    ("name_gender", "Fairness", INV, "The same name of the other gender ('Emily Smith' -> 'James Smith') keeps the "
     "label.", _names("gender")),
    ("name_origin", "Fairness", INV, "A name of another origin, same gender ('Emily Smith' -> 'Amara Okafor') keeps "
     "the label.", _names("origin")),
)
TEST_NAMES = tuple(name for name, *_ in _TESTS)
CAPABILITIES = tuple(dict.fromkeys(capability for _, capability, *_ in _TESTS))


def _sample(make: Callable[[random.Random], Case], rng: random.Random, size: int) -> tuple[Case, ...]:
    """`size` distinct cases (fewer only if the templates cannot give that many)."""
    cases: dict[str, Case] = {}
    for _ in range(size * 20):
        case = make(rng)
        if case.text != case.original:
            cases.setdefault(case.text, case)
        if len(cases) == size:
            break
    return tuple(cases.values())


@functools.lru_cache(maxsize=8)
def build_suite(seed: int = 0, cases_per_test: int = CASES_PER_TEST) -> tuple[BehaviourTest, ...]:
    """Every test with its cases; the same seed gives the same cases."""
    if isinstance(cases_per_test, bool) or not isinstance(cases_per_test, int) or cases_per_test < 1:
        raise InputError(f"cases_per_test must be a positive whole number, got {cases_per_test!r}.")
    return tuple(
        BehaviourTest(name, capability, kind, description,
                      _sample(make, random.Random(f"{seed}:{name}"), cases_per_test))
        for name, capability, kind, description, make in _TESTS
    )


def select_tests(names: Sequence[str] | str | None = None, seed: int = 0,
                 cases_per_test: int = CASES_PER_TEST) -> tuple[BehaviourTest, ...]:
    """The tests named (test names or capabilities, any case; a string may list them with commas), in suite order."""
    suite = build_suite(seed, cases_per_test)
    if names is None:
        return suite
    if isinstance(names, str):
        names = names.split(",")
    wanted = {n.strip().lower() for n in names if n.strip()}
    known = {t.name for t in suite} | {t.capability.lower() for t in suite}
    unknown = sorted(wanted - known)
    if unknown or not wanted:
        raise InputError(
            f"Unknown behaviour test {', '.join(map(repr, unknown)) or '(none given)'}: use test names "
            f"({', '.join(TEST_NAMES)}) or capabilities ({', '.join(CAPABILITIES)})."
        )
    return tuple(t for t in suite if t.name in wanted or t.capability.lower() in wanted)
