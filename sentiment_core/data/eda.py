"""Exploratory data analysis of the IMDB reviews: pure functions returning pandas DataFrames.

Every function takes the `datasets.DatasetDict` from `sentiment_core.data.load_imdb` (or a
plain mapping of split name -> `datasets.Dataset`, `pyarrow.Table` or `pandas.DataFrame` with
`text`, `label` and optionally `rating`; `arrow_tables` makes the fastest), or the per-review
table `review_table` returns.

Lengths are words as `sentiment_core.text.words` splits them. On the full dataset the per-review
pass and the n-gram counts run on Arrow compute kernels and NumPy over the bytes of all texts at
once (seconds for 50,000 reviews, where Python loops take tens of seconds): every byte gets the
class Python's `re` gives its character (`_char_kinds`). The few texts this cannot follow exactly
(HTML entities, which `clean_text` decodes, and "İ", which lower-cases to two characters) go
through Python's `re` and `html.unescape` themselves.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_core.core.errors import InputError
from sentiment_core.data.imdb import LABEL_NAMES, SPLITS
from sentiment_core.core.metrics import assign_buckets, length_bucket_edges
from sentiment_core.data.text import STOP_WORDS, TAG_PATTERN, WORD_PATTERN, clean_text

SHORT_REVIEW_WORDS = 10  # a review with fewer words counts as "very short"
MAX_NGRAM = 3  # n-gram codes are packed into int64: vocabulary ** 3 still fits
ENTITY_PATTERN = r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);"
# Texts the byte-level paths cannot follow: an entity html.unescape may decode, or "İ" (U+0130,
# the one character whose lower case has more characters of other classes: "i" + a combining dot).
_NEEDS_PYTHON = r"&[#A-Za-z]|\x{130}"
_WORD_RE = re.compile(WORD_PATTERN)

# Byte classes (`_char_kinds`): what Python's re sees in the character a byte belongs to.
# \w is exactly str.isalnum() or "_", and \s exactly str.isspace(), over all of Unicode.
_OTHER, _WORD, _SPACE, _APOSTROPHE, _TAIL = 0, 1, 2, 3, 4  # _TAIL: later bytes of a punctuation mark
_BYTE_CLASS = np.full(256, _TAIL, dtype=np.uint8)
_BYTE_CLASS[:128] = [
    _APOSTROPHE if c == "'" else _WORD if c.isalnum() or c == "_" else _SPACE if c.isspace() else _OTHER
    for c in map(chr, range(128))
]

Data = Mapping  # split name -> datasets.Dataset, pyarrow.Table or pandas.DataFrame


# --- splits and labels -------------------------------------------------------------------

def split_names(data: Data) -> list[str]:
    """The splits of `data`, train / validation / test first."""
    return [s for s in SPLITS if s in data] + sorted(s for s in data if s not in SPLITS)


def label_balance(data: Data) -> pd.DataFrame:
    """Reviews per split and label: columns split, label, reviews, share (of the split)."""
    rows = []
    for split in split_names(data):
        labels = _labels(data, split)
        for code, name in enumerate(LABEL_NAMES):
            count = int((labels == code).sum())
            rows.append({"split": split, "label": name, "reviews": count,
                         "share": count / len(labels) if len(labels) else float("nan")})
    return pd.DataFrame(rows, columns=["split", "label", "reviews", "share"])


# --- one row per review ------------------------------------------------------------------

def review_table(data: Data) -> pd.DataFrame:
    """One row per review: split, index (row in its split), label, words, chars, html
    (has a tag such as `<br />`), entities (has `&amp;`-style entities), rating when the
    source has one, and text_key (one number per cleaned text with its spaces left out, so
    equal cleaned texts share it: `duplicate_reviews` starts from it)."""
    frames, keys = [], []
    for split in split_names(data):
        texts = pc.fill_null(_column(data, split, "text"), "")
        stripped = pc.replace_substring_regex(texts, TAG_PATTERN, " ")  # clean_text's first step
        offsets, text_bytes = _string_buffers(stripped)
        kinds = _char_kinds(text_bytes)
        word_counts = _word_counts(kinds, offsets)
        split_keys = _drop_spaces(kinds, offsets, text_bytes).to_numpy(zero_copy_only=False)
        python = pc.match_substring_regex(texts, _NEEDS_PYTHON).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(python)
        for i, text in zip(rows, stripped.take(pa.array(rows, type=pa.int64())).to_pylist()):
            text = html.unescape(text)  # what clean_text does after the tags; spaces don't change words
            word_counts[i] = len(_WORD_RE.findall(text.lower()))  # = len(text.words(review))
            split_keys[i] = "".join(text.split())
        keys.append(split_keys)
        frame = pd.DataFrame(
            {
                "split": split,
                "index": np.arange(len(texts)),
                "label": np.asarray(LABEL_NAMES, dtype=object)[_labels(data, split)],
                "words": word_counts,
                "chars": pc.utf8_length(texts).to_numpy(zero_copy_only=False),
                "html": pc.match_substring_regex(texts, TAG_PATTERN).to_numpy(zero_copy_only=False),
                "entities": pc.match_substring_regex(texts, ENTITY_PATTERN).to_numpy(zero_copy_only=False),
            }
        )
        if _has_column(data, split, "rating"):
            frame.insert(3, "rating", _column(data, split, "rating").to_numpy(zero_copy_only=False))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["text_key"] = pd.factorize(np.concatenate(keys))[0]  # equal for texts equal but for spaces
    return table


def length_summary(reviews: pd.DataFrame) -> pd.DataFrame:
    """Word counts per split and label: reviews, mean, min, q25, median, q75, max, mean_chars."""
    grouped = reviews.groupby(["split", "label"], sort=False)
    summary = grouped["words"].agg(
        reviews="size", mean="mean", min="min",
        q25=lambda s: s.quantile(0.25), median="median", q75=lambda s: s.quantile(0.75), max="max",
    )
    summary["mean_chars"] = grouped["chars"].mean()
    return summary.reset_index()


def length_quartiles(reviews: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The quartile buckets of word counts in `split`, with the edges the evaluation code uses
    (`evaluation.length_bucket_edges` / `assign_buckets`): bucket, low, high, reviews."""
    lengths = _split_rows(reviews, split)["words"].to_numpy()
    edges = length_bucket_edges(lengths)
    buckets = assign_buckets(lengths, edges)
    return pd.DataFrame(
        {
            "bucket": [f"Q{i + 1}" for i in range(4)],
            "low": edges[:-1],
            "high": edges[1:],
            "reviews": [int((buckets == i).sum()) for i in range(4)],
        }
    )


def truncation_share(lengths, max_length: int) -> pd.DataFrame:
    """How many reviews a model reading `max_length` tokens (about words) would truncate.

    `lengths` is the table from `review_table` (one row per split in the answer) or a plain
    sequence of word counts (one row, split "all"). Columns: split, reviews, truncated, share.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length <= 0:
        raise InputError(f"max_length must be a positive whole number of tokens, got {max_length!r}")
    if isinstance(lengths, pd.DataFrame):
        if "words" not in lengths or "split" not in lengths:
            raise ValueError("lengths must be the review_table (columns split and words) or a sequence of word counts")
        groups = [(split, part["words"].to_numpy()) for split, part in lengths.groupby("split", sort=False)]
    else:
        groups = [("all", np.asarray(lengths, dtype=float))]
    rows = []
    for split, values in groups:
        truncated = int((values > max_length).sum())
        rows.append({"split": split, "reviews": int(len(values)), "truncated": truncated,
                     "share": truncated / len(values) if len(values) else 0.0})
    return pd.DataFrame(rows, columns=["split", "reviews", "truncated", "share"])


# --- data quality --------------------------------------------------------------------------

def quality_summary(reviews: pd.DataFrame, short_words: int = SHORT_REVIEW_WORDS) -> pd.DataFrame:
    """Per split: reviews, html (with tags such as <br />), entities, empty (no words),
    short (fewer than `short_words` words, empty ones included)."""
    if short_words < 1:
        raise InputError(f"short_words must be at least 1, got {short_words}")
    grouped = reviews.groupby("split", sort=False)
    return pd.DataFrame(
        {
            "reviews": grouped.size(),
            "html": grouped["html"].sum(),
            "entities": grouped["entities"].sum(),
            "empty": grouped["words"].apply(lambda s: int((s == 0).sum())),
            "short": grouped["words"].apply(lambda s: int((s < short_words).sum())),
        }
    ).reset_index()


def duplicate_reviews(data: Data, reviews: pd.DataFrame | None = None) -> pd.DataFrame:
    """Reviews whose text, after `clean_text`, occurs more than once (in any splits).

    Columns: group (one number per distinct text), split, index, label, words, text (cleaned).
    Candidates come from `text_key`; each is confirmed on its `clean_text`.
    """
    reviews = review_table(data) if reviews is None else reviews
    candidates = reviews[reviews["text_key"].duplicated(keep=False)]
    columns = ["group", "split", "index", "label", "words", "text"]
    if candidates.empty:
        return pd.DataFrame(columns=columns)
    cleaned = []
    for split, part in candidates.groupby("split", sort=False):
        texts = _column(data, split, "text").take(pa.array(part["index"].to_numpy()))
        cleaned.append(pd.Series([clean_text(t or "") for t in texts.to_pylist()], index=part.index))
    found = candidates.assign(text=pd.concat(cleaned))
    found = found[found["text"].duplicated(keep=False)]
    found = found.assign(group=found.groupby("text", sort=False).ngroup())
    return found.sort_values(["group", "split", "index"], key=_split_order)[columns].reset_index(drop=True)


def duplicate_counts(duplicates: pd.DataFrame, splits=SPLITS) -> pd.DataFrame:
    """How many reviews repeat a text seen before: within each split, and for each pair of
    splits, how many reviews of the later split have a text the earlier one holds.

    Columns: scope ("train", "train & test", ...), reviews."""
    splits = list(splits)
    rows = []
    for split in splits:
        part = duplicates[duplicates["split"] == split]
        rows.append({"scope": split, "reviews": int(len(part) - part["group"].nunique())})
    for i, first in enumerate(splits):
        for second in splits[i + 1:]:
            earlier = set(duplicates.loc[duplicates["split"] == first, "group"])
            later = duplicates[duplicates["split"] == second]
            rows.append({"scope": f"{first} & {second}", "reviews": int(later["group"].isin(earlier).sum())})
    return pd.DataFrame(rows, columns=["scope", "reviews"])


# --- ratings --------------------------------------------------------------------------------

def rating_distribution(data: Data) -> pd.DataFrame | None:
    """Reviews per split, rating (1-10 stars) and label, or None when the source has no
    ratings (only aclImdb folders and CSVs with a rating column carry them)."""
    frames = []
    for split in split_names(data):
        if not _has_column(data, split, "rating"):
            continue
        frame = pd.DataFrame({"rating": _column(data, split, "rating").to_numpy(zero_copy_only=False),
                              "label": np.asarray(LABEL_NAMES, dtype=object)[_labels(data, split)]})
        frame = frame[frame["rating"] >= 0]  # a CSV marks a missing rating with -1
        counts = frame.groupby(["rating", "label"]).size().rename("reviews").reset_index()
        frames.append(counts.assign(split=split))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)[["split", "rating", "label", "reviews"]]


# --- words and bigrams ------------------------------------------------------------------

def ngram_log_odds(
    data: Data,
    split: str = "train",
    ngram_range: tuple[int, int] = (1, 2),
    remove_stopwords: bool = False,
    min_count: int = 5,
    prior_scale: float = 1.0,
) -> pd.DataFrame:
    """Counts per class and the log-odds ratio with an informative Dirichlet prior
    (Monroe, Colaresi & Quinn 2008, "Fightin' Words") of every word n-gram in `split`.

    Tokens are the lower-cased words of the cleaned text (punctuation dropped, inner
    apostrophes kept), counted like scikit-learn's `CountVectorizer(token_pattern=r"\\w+(?:'+\\w+)*",
    ngram_range=ngram_range, stop_words=...)`: with `remove_stopwords`, `text.STOP_WORDS` go
    before n-grams are formed (negations such as "not" stay). The prior of each n-gram is
    `prior_scale` times its count in both classes together. z > 0 leans positive.

    Columns: ngram, n, neg, pos (counts), log_odds, z; sorted by z. N-grams seen fewer than
    `min_count` times in all are left out (after the totals are taken).
    """
    low, high = ngram_range
    if not (1 <= low <= high <= MAX_NGRAM):
        raise InputError(f"ngram_range must satisfy 1 <= low <= high <= {MAX_NGRAM}, got {ngram_range}")
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}")
    if prior_scale <= 0:
        raise InputError(f"prior_scale must be positive, got {prior_scale}")
    ids, docs, vocab = _tokens(_column(data, split, "text"))
    if 2 * float(max(len(vocab), 1)) ** high >= 2**63:
        raise InputError(f"{high}-grams of a {len(vocab):,}-word vocabulary do not fit the counter: use a smaller ngram_range")
    if remove_stopwords:
        stop = np.fromiter((word in STOP_WORDS for word in vocab), dtype=bool, count=len(vocab))
        keep = ~stop[ids]
        ids, docs = ids[keep], docs[keep]
    labels = _labels(data, split)
    frames = []
    for n in range(low, high + 1):
        codes, code_docs = _ngram_codes(ids, docs, n, len(vocab))
        distinct, counts = _class_counts(codes, labels[code_docs])
        frames.append(_log_odds(distinct, counts, n, vocab, min_count, prior_scale))
    columns = ["ngram", "n", "neg", "pos", "log_odds", "z"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return table.sort_values("z", ignore_index=True)[columns]


def telling_ngrams(data: Data, split: str = "train", k: int = 15, remove_stopwords: bool = False,
                   ngram_range: tuple[int, int] = (1, 2), min_count: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`top_polarised` and `most_frequent` of the `ngram_log_odds` table of `split`."""
    table = ngram_log_odds(data, split, ngram_range, remove_stopwords, min_count)
    return top_polarised(table, k), most_frequent(table, k)


def top_polarised(table: pd.DataFrame, k: int = 15) -> pd.DataFrame:
    """The `k` most negative and `k` most positive n-grams of each order by z-score.

    Columns: n, side (neg/pos), ngram, z, count (in the class it leans to)."""
    _check_k(k)
    rows = []
    for n, part in table.groupby("n", sort=True):
        negative = part.nsmallest(k, "z").assign(side="neg", count=lambda f: f["neg"])
        positive = part.nlargest(k, "z").assign(side="pos", count=lambda f: f["pos"])
        rows += [negative[negative["z"] < 0], positive[positive["z"] > 0]]
    columns = ["n", "side", "ngram", "z", "count"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def most_frequent(table: pd.DataFrame, k: int = 15) -> pd.DataFrame:
    """The `k` most frequent n-grams of each order in each class: n, label, ngram, count."""
    _check_k(k)
    rows = []
    for n, part in table.groupby("n", sort=True):
        for label in LABEL_NAMES:
            top = part.nlargest(k, label)
            rows.append(pd.DataFrame({"n": n, "label": label, "ngram": top["ngram"], "count": top[label]}))
    columns = ["n", "label", "ngram", "count"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


# --- review browser -----------------------------------------------------------------------

def filter_reviews(
    data: Data,
    reviews: pd.DataFrame,
    split: str,
    label: str | None = None,
    min_words: int | None = None,
    max_words: int | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Reviews of `split` with `label` (neg/pos, None for both), `min_words` <= words <=
    `max_words`, and containing `search` as a whole word (case-insensitive).

    Columns: index, label, words, text. `limit` keeps the first rows only; the number of
    matches before the limit is in `frame.attrs["matches"]`.
    """
    rows = _split_rows(reviews, split)
    if label is not None and label not in LABEL_NAMES:
        raise InputError(f"label must be one of {LABEL_NAMES} or None, got {label!r}")
    if min_words is not None and max_words is not None and min_words > max_words:
        raise InputError(f"min_words ({min_words}) is larger than max_words ({max_words})")
    if limit is not None and limit < 0:
        raise InputError(f"limit must be zero or more, got {limit}")
    keep = np.ones(len(rows), dtype=bool)
    if label is not None:
        keep &= (rows["label"] == label).to_numpy()
    if min_words is not None:
        keep &= (rows["words"] >= min_words).to_numpy()
    if max_words is not None:
        keep &= (rows["words"] <= max_words).to_numpy()
    texts = _column(data, split, "text")
    if len(texts) != len(rows):
        raise ValueError(f"reviews has {len(rows)} rows for {split!r} but the data has {len(texts)}: "
                         "pass the review_table of the same data")
    search = (search or "").strip()
    if search:
        pattern = rf"(?i)(?:^|[^\p{{L}}\p{{N}}_]){re.escape(search)}(?:$|[^\p{{L}}\p{{N}}_])"
        keep &= pc.fill_null(pc.match_substring_regex(texts, pattern), False).to_numpy(zero_copy_only=False)
    found = rows.loc[keep, ["index", "label", "words"]]
    matches = len(found)
    if limit is not None:
        found = found.head(limit)
    found = found.assign(text=texts.take(pa.array(found["index"].to_numpy(), type=pa.int64())).to_pylist())
    found = found.reset_index(drop=True)
    found.attrs["matches"] = matches
    return found


# --- helpers -----------------------------------------------------------------------------

def _check_split(data: Data, split: str) -> None:
    if split not in data:
        raise ValueError(f"unknown split {split!r}: the data has {split_names(data)}")


def arrow_tables(data: Data) -> dict[str, pa.Table]:
    """Each split as one in-memory Arrow table (a Dataset's index mapping applied once): the
    functions here read a column of it without gathering the rows again."""
    return {split: _as_table(data[split]) for split in split_names(data)}


def _as_table(part) -> pa.Table:
    if isinstance(part, pa.Table):
        return part
    if isinstance(part, pd.DataFrame):
        return pa.Table.from_pandas(part, preserve_index=False)
    return part.with_format("arrow")[:]


def _has_column(data: Data, split: str, name: str) -> bool:
    part = data[split]
    return name in (part.columns if isinstance(part, pd.DataFrame) else part.column_names)


def _column(data: Data, split: str, name: str) -> pa.Array:
    """One column of one split as a single Arrow array (a Dataset's index mapping applied)."""
    _check_split(data, split)
    part = data[split]
    if not _has_column(data, split, name):
        raise ValueError(f"the {split} split has no {name!r} column")
    column = _as_table(part)[name]
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _labels(data: Data, split: str) -> np.ndarray:
    labels = np.asarray(_column(data, split, "label").to_numpy(zero_copy_only=False), dtype=np.int64)
    if not ((labels == 0) | (labels == 1)).all():
        raise ValueError(f"labels of {split} must be 0 (neg) or 1 (pos)")
    return labels


def _split_rows(reviews: pd.DataFrame, split: str) -> pd.DataFrame:
    rows = reviews[reviews["split"] == split]
    if rows.empty:
        raise ValueError(f"unknown split {split!r}: the review table has {list(reviews['split'].unique())}")
    return rows


def _split_order(column: pd.Series) -> pd.Series:
    if column.name != "split":
        return column
    order = {name: i for i, name in enumerate(SPLITS)}
    return column.map(lambda s: order.get(s, len(order)))


def _check_k(k: int) -> None:
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")


def _string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0, int64) and the bytes of a string array, without copying the bytes."""
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset: array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return (offsets - offsets[0]).astype(np.int64), data[offsets[0]: offsets[-1]]


def _char_kinds(text_bytes: np.ndarray) -> np.ndarray:
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


def _word_counts(kinds: np.ndarray, offsets: np.ndarray) -> np.ndarray:
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


def _drop_spaces(kinds: np.ndarray, offsets: np.ndarray, text_bytes: np.ndarray) -> pa.Array:
    """Every text with its whitespace (str.isspace) left out."""
    spaces = np.flatnonzero(kinds == _SPACE)
    new_offsets = offsets - np.searchsorted(spaces, offsets)
    kept = text_bytes[kinds != _SPACE]
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(new_offsets), pa.py_buffer(kept))


def _tokens(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower-cased word tokens of all texts in order: token ids, the text each comes from,
    and the vocabulary (id -> word). A token is a run of word characters and apostrophes,
    without the apostrophes at its ends (CountVectorizer's token_pattern r"\\w+(?:'+\\w+)*").
    HTML tags and entities separate words (entities are rare: 11 of the 50,000 IMDB reviews
    have one); lower-casing comes after splitting, which differs only for "İ"."""
    cleaned = pc.replace_substring_regex(pc.fill_null(texts, ""), f"{TAG_PATTERN}|{ENTITY_PATTERN}", " ")
    offsets, text_bytes = _string_buffers(cleaned)
    kinds = _char_kinds(text_bytes)
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


def _ngram_codes(ids: np.ndarray, docs: np.ndarray, n: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
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


def _class_counts(codes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _log_odds(codes: np.ndarray, counts: np.ndarray, n: int, vocab: np.ndarray, min_count: int,
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
