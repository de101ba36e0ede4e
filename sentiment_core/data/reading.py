"""How a review longer than a model reads is read: one or more views of its tokens.

`long_text` is `truncate` (the first tokens), `head_tail` (the first `head_tokens` and the last ones)
or `windows` (overlapping windows every `window_stride` tokens). Training and prediction both cut
reviews through `reading_spans`, so a model is read the way it was trained.
"""

from __future__ import annotations

import numpy as np

from sentiment_core.core.errors import InputError

LONG_TEXT = ("truncate", "head_tail", "windows")  # how a review longer than max_length is read


def check_long_text(value: str) -> str:
    """`value` when it is one of LONG_TEXT, else an InputError naming the choices."""
    if value not in LONG_TEXT:
        raise InputError(f"Unknown --long-text {value!r}: choose one of {', '.join(LONG_TEXT)}.")
    return value


def check_reading(long_text: str, head_tokens: int | None, window_stride: int | None, budget: int) -> None:
    """Refuse a reading that would be ignored or cut short, the same way on every surface: --head-tokens without
    head_tail, --window-stride without windows, a head that leaves no room for the end, a stride past a window.
    budget: content tokens the model reads at once."""
    check_long_text(long_text)
    if head_tokens is not None and long_text != "head_tail":
        raise InputError(f"--head-tokens applies to --long-text head_tail only (this reads long reviews as "
                         f"{long_text}): add --long-text head_tail, or leave --head-tokens out.")
    if window_stride is not None and long_text != "windows":
        raise InputError(f"--window-stride applies to --long-text windows only (this reads long reviews as "
                         f"{long_text}): add --long-text windows, or leave --window-stride out.")
    if head_tokens is not None and not 0 < head_tokens < budget:
        raise InputError(f"--head-tokens {head_tokens} leaves no tokens for the end of a review: the model reads "
                         f"{budget} tokens at once (besides its special tokens); give 1 to {budget - 1}.")
    if window_stride is not None and not 0 < window_stride <= budget:
        raise InputError(f"--window-stride {window_stride} is longer than a window ({budget} tokens): give 1 to "
                         f"{budget}, or the windows would skip text.")


def reading_spans(n: int, budget: int, long_text: str, head_tokens: int | None = None,
                  window_stride: int | None = None) -> list[list[tuple[int, int]]]:
    """Which of a review's `n` tokens each view reads, as token ranges: [[(start, end), ...], ...] (one list
    per view). Training and prediction both read long reviews through this (see `Predictor.views`)."""
    if n <= budget:
        return [[(0, n)]]
    if long_text == "head_tail":
        head = min(head_tokens or budget // 4, budget)
        return [[(0, head), (n - (budget - head), n)]]
    if long_text == "windows":
        stride = max(1, min(window_stride or budget // 2, budget))
        return [[(start, start + budget)] for start in [*range(0, n - budget, stride), n - budget]]
    return [[(0, budget)]]


def special_frame(tokenizer) -> tuple[list[int], list[int], int]:
    """The special tokens a tokenizer puts before and after one sequence ([CLS] ... [SEP], <s> ... </s>) and
    its token type id, learned from how it encodes one word (transformers 5 has no public builder for it)."""
    plain = tokenizer("movie", add_special_tokens=False)["input_ids"]
    full = tokenizer("movie", add_special_tokens=True, return_token_type_ids=True)
    ids = list(full["input_ids"])
    start = next(i for i in range(len(ids) - len(plain) + 1) if ids[i:i + len(plain)] == plain)
    types = full.get("token_type_ids") or [0]
    return ids[:start], ids[start + len(plain):], int(types[0])


def unread_characters(text: str, offsets: list[tuple[int, int]], read: np.ndarray) -> list[tuple[int, int]]:
    """Character spans covered by no read token: from the end of a read token to the start of the next one,
    over each run of unread tokens (the text after the last read token, for a cut)."""
    spans, index, n = [], 0, len(offsets)
    while index < n:
        if read[index]:
            index += 1
            continue
        end_index = index
        while end_index < n and not read[end_index]:
            end_index += 1
        start = offsets[index - 1][1] if index > 0 else 0
        end = offsets[end_index][0] if end_index < n else len(text)
        spans.append((start, end))
        index = end_index
    return spans
