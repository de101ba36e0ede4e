"""Tokens -> the words of the text as typed: sub-word pieces (WordPiece `##`, byte-level BPE `Ġ`,
SentencePiece `▁`) and punctuation glued inside a word are summed into the words they cover; an HTML
tag (`<br />`) is one word."""

from __future__ import annotations

import re

import numpy as np

from sentiment_core.data.text import TAG_PATTERN, WORD_PATTERN
from sentiment_core.inference.predictor import Encoded

_WORD_RE = re.compile(WORD_PATTERN)
_TAG_RE = re.compile(TAG_PATTERN)


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


def sum_by_word(token_scores: np.ndarray, token_word: np.ndarray, n_words: int) -> np.ndarray:
    """For gradient methods: a word's score is the sum of its tokens'."""
    scores = np.zeros(n_words)
    real = token_word >= 0
    np.add.at(scores, token_word[real], token_scores[real])
    return scores


def first_by_word(token_scores: np.ndarray, token_word: np.ndarray, n_words: int) -> np.ndarray:
    """For group methods (occlusion, LIME): every token of a word carries the word's score."""
    scores = np.zeros(n_words)
    for index in range(len(token_word) - 1, -1, -1):
        if token_word[index] >= 0:
            scores[token_word[index]] = token_scores[index]
    return scores
