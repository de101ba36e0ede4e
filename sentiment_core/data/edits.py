"""Meaning-changing edits of a review, proposed from the lexicon in `data.opposites`, with no model.

An `Edit` replaces the characters [start, end) of the text as typed. Kinds, in the order a search prefers them:
`negation` (a negation inserted or removed), `antonym` (a word replaced by its opposite), `replacement` (a word
replaced by one a language model proposes in its place: `explain.masked_lm`), `rating` (a written
score turned over: 8/10 -> 3/10), `intensity` (an intensifier turned down to "hardly") and `deletion` (a word
removed: a last resort, as it changes no meaning on its own).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import asdict, dataclass

from sentiment_core.core.errors import InputError
from sentiment_core.data import opposites as lexicon

EDIT_KINDS = ("negation", "antonym", "replacement", "rating", "intensity", "deletion")
MEANING_KINDS = EDIT_KINDS[:-1]
WORD_RE = re.compile(r"\w+(?:['’]\w+)*")  # a word with its inner apostrophes ("isn't" is one)
RATING_RE = re.compile(r"\b(\d{1,2}(?:\.\d)?)(\s*(?:/|out of)\s*)(10|ten|5|five)\b", re.IGNORECASE)
_ARTICLE_RE = re.compile(r"\b(an?|An?|AN?)(\s+)$")
_CLAUSE_END = frozenset(".,;:!?()\"")


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] (`old`, as typed) with `new`."""

    start: int
    end: int
    old: str
    new: str
    kind: str

    def to_dict(self) -> dict:
        return asdict(self)


def words(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of `text` (letters and digits, with inner apostrophes: "isn't" is one)."""
    return [(m.start(), m.end()) for m in WORD_RE.finditer(text)]


def keep_case(typed: str, new: str) -> str:
    """`new` in the case of `typed`: "GOOD" -> "BAD", "Good" -> "Bad", "good" -> "bad"."""
    if len(typed) > 1 and typed.isupper():
        return new.upper()
    if typed[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


@functools.lru_cache(maxsize=1)
def _opposites() -> dict[str, tuple[str, ...]]:
    return lexicon.opposites()


def plain(word: str) -> str:
    """A word as the lexicons list it: lower case, a typographic apostrophe made straight."""
    return word.lower().replace("’", "'")


def morphological_opposite(word: str, vocabulary: Container[str]) -> str | None:
    """The opposite a word's form gives ("funny" -> "unfunny", "unwatchable" -> "watchable", "careless" ->
    "careful"), when it is in `vocabulary` (lower-case words); else None."""
    prefix = lexicon.NEGATIVE_PREFIX
    if len(word) < 4:
        return None
    if word.startswith(prefix) and word[len(prefix):].endswith(lexicon.ADJECTIVE_ENDINGS):
        candidates = [word[len(prefix):]]
    elif word.endswith(lexicon.ADJECTIVE_ENDINGS):
        candidates = [prefix + word]
    else:
        candidates = []
    for positive, negative in lexicon.SUFFIX_OPPOSITES:
        for ending, other in ((positive, negative), (negative, positive)):
            if word.endswith(ending):
                candidates.append(word[:-len(ending)] + other)
    return next((c for c in candidates if len(c) >= 4 and c in vocabulary), None)


def word_edits(text: str, span: tuple[int, int], deletions: bool = False,
               vocabulary: Container[str] = ()) -> list[Edit]:
    """The edits of the word at `span` (a `words` span), meaning-changing ones first; a deletion only when asked.
    vocabulary: lower-case words the model knows, for opposites by form (`morphological_opposite`)."""
    start, end = span
    typed = text[start:end]
    word = plain(typed)
    following = text[end:end + 12].lower()
    proposals: list[Edit] = []
    if word in lexicon.NEGATED_AUXILIARIES and not re.match(r"\s*(not|n't)\b", following):
        proposals += [Edit(start, end, typed, keep_case(typed, form), "negation")
                      for form in lexicon.NEGATED_AUXILIARIES[word]]
    if word in lexicon.CONTRACTED_COPULAS and not re.match(r"\s*not\b", following):
        proposals.append(Edit(start, end, typed, typed + " not", "negation"))
    if word in lexicon.UNNEGATED:
        unnegated = lexicon.UNNEGATED[word]
        if unnegated:
            proposals.append(Edit(start, end, typed, keep_case(typed, unnegated), "negation"))
        else:  # "not": removed with the space before it ("was not good" -> "was good")
            proposals.append(_removal(text, start, end, "negation"))
    if word in _opposites():
        proposals += [replacement(text, start, end, opposite) for opposite in _opposites()[word]]
    elif (opposite := morphological_opposite(word, vocabulary)) is not None:
        proposals.append(replacement(text, start, end, opposite))
    if word in lexicon.INTENSIFIERS and WORD_RE.match(text[end:].lstrip()):
        proposals.append(Edit(start, end, typed, keep_case(typed, lexicon.DOWNTONER), "intensity"))
    rating = RATING_RE.match(text, start)
    if rating and rating.start() == start:
        proposals.append(rating_edit(rating))
    if deletions and not proposals:
        proposals.append(_removal(text, start, end, "deletion"))
    return proposals


def replacement(text: str, start: int, end: int, opposite: str, kind: str = "antonym") -> Edit:
    """The word at [start, end) replaced by `opposite` in its case, with the article before it turned to fit
    ("a good film" -> "an awful film")."""
    typed = text[start:end]
    new = keep_case(typed, opposite)
    article = _ARTICLE_RE.search(text, 0, start)
    if article:
        wanted = "an" if new[:1].lower() in "aeiou" else "a"
        if article.group(1).lower() != wanted:
            begin = article.start(1)
            return Edit(begin, end, text[begin:end], keep_case(article.group(1), wanted) + article.group(2) + new,
                        kind)
    return Edit(start, end, typed, new, kind)


def _removal(text: str, start: int, end: int, kind: str) -> Edit:
    """The word at [start, end) removed with the space before it, or after it where none is before ("Not bad."
    -> "bad."), so no double or leading space is left."""
    before = len(text[:start]) - len(text[:start].rstrip())
    after = len(text[end:]) - len(text[end:].lstrip())
    if after and (before == 0 or before == start):  # no space before it, or nothing but space
        start, end = start, end + after
    else:
        start, end = start - before, end
    return Edit(start, end, text[start:end], "", kind)


def rating_top(match: re.Match) -> int:
    """The top of a `RATING_RE` score's scale: 10 or 5."""
    return 10 if match.group(3).lower() in ("10", "ten") else 5


def rating_edit(match: re.Match) -> Edit:
    """A written score (a `RATING_RE` match) turned over on its scale: 8/10 -> 3/10, 4 out of 5 -> 2 out of 5."""
    score, top = float(match.group(1)), rating_top(match)
    flipped = max(min(top + 1 - score, top), 1)
    text = f"{flipped:g}" if "." not in match.group(1) else f"{flipped:.1f}"
    return Edit(match.start(1), match.end(1), match.group(1), text, "rating")


def candidate_edits(text: str, spans: Iterable[tuple[int, int]] | None = None, deletions: bool = False,
                    vocabulary: Container[str] = ()) -> dict[tuple[int, int], list[Edit]]:
    """Each word span of `text` (default: all of them) -> its proposed edits (words with none left out)."""
    chosen = words(text) if spans is None else spans
    proposals = {span: word_edits(text, span, deletions, vocabulary) for span in chosen}
    return {span: edits for span, edits in proposals.items() if edits}


def clause_after(text: str, span: tuple[int, int], limit: int = 6) -> list[tuple[int, int]]:
    """The word at `span` and up to `limit` words after it in the same clause (a negation's reach)."""
    reach = [span]
    for m in WORD_RE.finditer(text, span[1]):
        between = text[reach[-1][1]:m.start()]
        if len(reach) > limit or any(c in _CLAUSE_END for c in between):
            break
        reach.append((m.start(), m.end()))
    return reach


def overlaps(first: Edit, second: Edit) -> bool:
    return first.start < second.end and second.start < first.end


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """`text` with `edits` (spans into `text`, not overlapping) applied."""
    ordered = sorted(edits, key=lambda e: e.start)
    for first, second in zip(ordered, ordered[1:]):
        if overlaps(first, second):
            raise InputError(f"Edits overlap: {first.old!r} at {first.start} and {second.old!r} at {second.start}.")
    pieces, position = [], 0
    for edit in ordered:
        if text[edit.start:edit.end] != edit.old:
            raise InputError(f"Edit at {edit.start} expects {edit.old!r} but the text has "
                             f"{text[edit.start:edit.end]!r}: edits apply to the text they were made for.")
        pieces += [text[position:edit.start], edit.new]
        position = edit.end
    return "".join(pieces + [text[position:]])


def words_changed(edit: Edit) -> int:
    """Words inserted, removed or replaced by one edit ("is" -> "is not": 1; "loved" -> "did not love": 3)."""
    old, new = [plain(w) for w in WORD_RE.findall(edit.old)], [plain(w) for w in WORD_RE.findall(edit.new)]
    opcodes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal")


def share_changed(text: str, edits: Sequence[Edit]) -> float:
    """Words the edits change, as a share of the review's words (a word-level edit distance)."""
    return sum(words_changed(e) for e in edits) / max(len(words(text)), 1)
