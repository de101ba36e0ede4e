"""Exploratory data analysis of the IMDB reviews: pure functions returning pandas DataFrames.

Every function takes the `datasets.DatasetDict` from `data.imdb.load_imdb` (or a
plain mapping of split name -> `datasets.Dataset`, `pyarrow.Table` or `pandas.DataFrame` with
`text`, `label` and optionally `rating`; `arrow_tables` makes the fastest), or the per-review
table `review_table` returns.

Lengths are words as `sentiment_core.text.words` splits them. On the full dataset the per-review
pass and the n-gram counts run on Arrow compute kernels and NumPy over the bytes of all texts at
once (seconds for 50,000 reviews, where Python loops take tens of seconds): every byte gets the
class Python's `re` gives its character (`char_kinds`). The few texts this cannot follow exactly
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
from sentiment_core.core.metrics import assign_buckets, length_bucket_edges
from sentiment_core.data import eda_kernels as kernels
from sentiment_core.data.imdb import LABEL_NAMES, SPLITS
from sentiment_core.data.text import STOP_WORDS, TAG_PATTERN, WORD_PATTERN, clean_text

SHORT_REVIEW_WORDS = 10  # a review with fewer words counts as "very short"
_WORD_RE = re.compile(WORD_PATTERN)

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
        offsets, text_bytes = kernels.string_buffers(stripped)
        kinds = kernels.char_kinds(text_bytes)
        word_counts = kernels.word_counts(kinds, offsets)
        split_keys = kernels.drop_spaces(kinds, offsets, text_bytes).to_numpy(zero_copy_only=False)
        python = pc.match_substring_regex(texts, kernels.NEEDS_PYTHON).to_numpy(zero_copy_only=False)
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
                "entities": pc.match_substring_regex(texts, kernels.ENTITY_PATTERN).to_numpy(zero_copy_only=False),
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
    if not (1 <= low <= high <= kernels.MAX_NGRAM):
        raise InputError(f"ngram_range must satisfy 1 <= low <= high <= {kernels.MAX_NGRAM}, got {ngram_range}")
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}")
    if prior_scale <= 0:
        raise InputError(f"prior_scale must be positive, got {prior_scale}")
    ids, docs, vocab = kernels.tokens(_column(data, split, "text"))
    if 2 * float(max(len(vocab), 1)) ** high >= 2**63:
        raise InputError(f"{high}-grams of a {len(vocab):,}-word vocabulary do not fit the counter: "
                         "use a smaller ngram_range")
    if remove_stopwords:
        stop = np.fromiter((word in STOP_WORDS for word in vocab), dtype=bool, count=len(vocab))
        keep = ~stop[ids]
        ids, docs = ids[keep], docs[keep]
    labels = _labels(data, split)
    frames = []
    for n in range(low, high + 1):
        codes, code_docs = kernels.ngram_codes(ids, docs, n, len(vocab))
        distinct, counts = kernels.class_counts(codes, labels[code_docs])
        frames.append(kernels.log_odds(distinct, counts, n, vocab, min_count, prior_scale))
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
    for _n, part in table.groupby("n", sort=True):
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
