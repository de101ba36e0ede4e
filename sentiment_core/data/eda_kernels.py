"""The Dataset page's fast path: word counts and n-gram counts of all reviews at once, on Arrow compute
kernels and NumPy over the bytes of every text (Python loops over 50,000 reviews are far slower).

Every byte gets the class Python's `re` gives its character (`char_kinds`), so the results equal
`data.text.words` and `clean_text`. The few texts this cannot follow exactly (HTML entities, which
`clean_text` decodes, and "İ", which lower-cases to two characters) go through Python's `re` and
`html.unescape` themselves (`NEEDS_PYTHON`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_core.data.text import TAG_PATTERN

ENTITY_PATTERN = r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);"
# Texts the byte-level paths cannot follow: an entity html.unescape may decode, or "İ" (U+0130,
# the one character whose lower case has more characters of other classes: "i" + a combining dot).
NEEDS_PYTHON = r"&[#A-Za-z]|\x{130}"

# Byte classes (`char_kinds`): what Python's re sees in the character a byte belongs to.
# \w is exactly str.isalnum() or "_", and \s exactly str.isspace(), over all of Unicode.
_OTHER, _WORD, _SPACE, _APOSTROPHE, _TAIL = 0, 1, 2, 3, 4  # _TAIL: later bytes of a punctuation mark
_BYTE_CLASS = np.full(256, _TAIL, dtype=np.uint8)
_BYTE_CLASS[:128] = [
    _APOSTROPHE if c == "'" else _WORD if c.isalnum() or c == "_" else _SPACE if c.isspace() else _OTHER
    for c in map(chr, range(128))
]


MAX_NGRAM = 3  # n-gram codes are packed into int64: vocabulary ** 3 still fits


def string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0, int64) and the bytes of a string array, without copying the bytes."""
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset: array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return (offsets - offsets[0]).astype(np.int64), data[offsets[0]: offsets[-1]]


def char_kinds(text_bytes: np.ndarray) -> np.ndarray:
    """The class of the character each byte of UTF-8 text belongs to (`_BYTE_CLASS`); the later
    bytes of a multi-byte letter or space share its class, those of a punctuation mark are _TAIL
    so that the mark counts once."""
    kinds = _BYTE_CLASS[text_bytes]
    lead = np.flatnonzero(text_bytes >= 0xC0)  # first byte of each multi-byte character
    if lead.size == 0:
        return kinds
    first = text_bytes[lead].astype(np.int64)
    size = 2 + (first >= 0xE0) + (first >= 0xF0)
    codes = first & np.select([size == 2, size == 3], [0x1F, 0x0F], 0x07)
    for k in (1, 2, 3):
        more = size > k
        codes[more] = (codes[more] << 6) | (text_bytes[lead[more] + k] & 0x3F)
    distinct, inverse = np.unique(codes, return_inverse=True)
    classes = np.array([_char_class(chr(c)) for c in distinct], dtype=np.uint8)[inverse]
    kinds[lead] = classes
    tails = np.where(classes == _OTHER, _TAIL, classes)
    for k in (1, 2, 3):
        more = size > k
        kinds[lead[more] + k] = tails[more]
    return kinds


def _char_class(char: str) -> int:
    return _WORD if char.isalnum() or char == "_" else _SPACE if char.isspace() else _OTHER


def word_counts(kinds: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """len(words(text)) of every text, from the byte classes of all texts at once.

    `text.WORD_PATTERN` makes a token of a run of word characters (an apostrophe between two word
    characters joins runs: don't, rock'n'roll) and one of each other non-space character. So a
    token starts at a word character that follows no word character or joining apostrophe, and
    at every other non-space character that is not a joining apostrophe."""
    word = kinds == _WORD
    after_word = np.zeros_like(word)
    after_word[1:] = word[:-1]
    before_word = np.zeros_like(word)
    before_word[:-1] = word[1:]
    starts, ends = offsets[:-1], offsets[1:]
    after_word[starts[starts < len(kinds)]] = False  # a text begins after nothing
    before_word[ends[ends > 0] - 1] = False  # and ends before nothing
    joining = (kinds == _APOSTROPHE) & after_word & before_word
    token_start = (word & ~after_word) | (((kinds == _OTHER) | (kinds == _APOSTROPHE)) & ~joining)
    token_start[1:] &= ~joining[:-1]  # the word after a joining apostrophe continues its token
    positions = np.flatnonzero(token_start)
    return np.searchsorted(positions, ends) - np.searchsorted(positions, starts)


def drop_spaces(kinds: np.ndarray, offsets: np.ndarray, text_bytes: np.ndarray) -> pa.Array:
    """Every text with its whitespace (str.isspace) left out."""
    spaces = np.flatnonzero(kinds == _SPACE)
    new_offsets = offsets - np.searchsorted(spaces, offsets)
    kept = text_bytes[kinds != _SPACE]
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(new_offsets), pa.py_buffer(kept))


def tokens(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower-cased word tokens of all texts in order: token ids, the text each comes from,
    and the vocabulary (id -> word). A token is a run of word characters and apostrophes,
    without the apostrophes at its ends (CountVectorizer's token_pattern r"\\w+(?:'+\\w+)*").
    HTML tags and entities separate words (entities are rare: 11 of the 50,000 IMDB reviews
    have one); lower-casing comes after splitting, which differs only for "İ"."""
    cleaned = pc.replace_substring_regex(pc.fill_null(texts, ""), f"{TAG_PATTERN}|{ENTITY_PATTERN}", " ")
    offsets, text_bytes = string_buffers(cleaned)
    kinds = char_kinds(text_bytes)
    inside = (kinds == _WORD) | (kinds == _APOSTROPHE)
    # Cut the bytes wherever a token begins or ends, and between texts: pieces alternate
    # between tokens and gaps; Arrow hashes them all (fast) and the tokens are kept.
    is_cut = np.zeros(len(inside) + 1, dtype=bool)  # (bytes + 1,): a mark, not a sort, merges the two kinds of cut
    is_cut[1:-1] = inside[1:] != inside[:-1]
    is_cut[offsets] = True
    cuts = np.flatnonzero(is_cut)
    pieces = pa.LargeStringArray.from_buffers(len(cuts) - 1, pa.py_buffer(cuts), pa.py_buffer(text_bytes))
    encoded = pc.dictionary_encode(pieces)
    is_token = inside[cuts[:-1]]
    piece_ids = encoded.indices.to_numpy()[is_token]
    docs = np.searchsorted(offsets, cuts[:-1][is_token], side="right") - 1
    words = [piece.lower().strip("'") for piece in encoded.dictionary.to_pylist()]
    vocab, ids = np.unique(np.asarray(words, dtype=object), return_inverse=True)
    ids = ids[piece_ids]
    keep = np.ones(len(ids), dtype=bool)
    if len(vocab) and vocab[0] == "":  # pieces made of apostrophes only
        keep, ids, vocab = ids != 0, ids - 1, vocab[1:]
    return ids[keep].astype(np.int64), docs[keep], vocab


def ngram_codes(ids: np.ndarray, docs: np.ndarray, n: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each run of n consecutive tokens of one text packed into one int64, and its text."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes = ids[:count].copy()
    same_text = np.ones(count, dtype=bool)
    for k in range(1, n):
        codes = codes * vocab_size + ids[k: k + count]
        same_text &= docs[k: k + count] == docs[:count]
    return codes[same_text], docs[:count][same_text]


def class_counts(codes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes (sorted) and their occurrences in negative and positive texts, (codes, 2)."""
    if len(codes) and codes.max() < 4 * len(codes):  # word ids: counted directly, no sort
        table = np.bincount(codes * 2 + labels, minlength=2 * (int(codes.max()) + 1)).reshape(-1, 2)
        distinct = np.flatnonzero(table.sum(axis=1))
        return distinct.astype(np.int64), table[distinct]
    keys, counts = np.unique(codes * 2 + labels, return_counts=True)  # sorted by code, then label
    code = keys >> 1
    first = np.ones(len(code), dtype=bool)
    first[1:] = code[1:] != code[:-1]
    table = np.zeros((int(first.sum()), 2), dtype=np.int64)
    table[np.cumsum(first) - 1, keys & 1] = counts
    return code[first], table


def log_odds(codes: np.ndarray, counts: np.ndarray, n: int, vocab: np.ndarray, min_count: int,
              prior_scale: float) -> pd.DataFrame:
    """Monroe et al. (2008) eq. 16-22: delta = log-odds in pos - log-odds in neg, each smoothed by
    the prior alpha; variance 1/(y_pos + alpha) + 1/(y_neg + alpha); z = delta / sqrt(variance)."""
    neg, pos = counts[:, 0].astype(float), counts[:, 1].astype(float)
    alpha = prior_scale * (neg + pos)
    alpha0, n_neg, n_pos = alpha.sum(), neg.sum(), pos.sum()
    keep = (neg + pos) >= min_count
    neg, pos, alpha, codes = neg[keep], pos[keep], alpha[keep], codes[keep]
    delta = (np.log((pos + alpha) / (n_pos + alpha0 - pos - alpha))
             - np.log((neg + alpha) / (n_neg + alpha0 - neg - alpha)))
    z = delta / np.sqrt(1.0 / (pos + alpha) + 1.0 / (neg + alpha))
    size = len(vocab)
    parts = [vocab[(codes // size ** (n - 1 - k)) % size] for k in range(n)]
    ngrams = pd.Series(parts[0], dtype=object)
    for part in parts[1:]:
        ngrams = ngrams + " " + pd.Series(part, dtype=object)
    return pd.DataFrame({"ngram": ngrams.to_numpy(), "n": n, "neg": neg.astype(np.int64),
                         "pos": pos.astype(np.int64), "log_odds": delta, "z": z})
