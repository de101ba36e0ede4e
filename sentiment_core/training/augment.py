"""Counterfactual augmentation of a run's data: for a seeded share of the training reviews and every review that
writes a score, a minimal pair cut from the review (`data.augment.flip_review`: one of its sentences as written
with the review's label, and turned over with the flipped label), added after the originals.

The edits are cached per (data source, lexicon, seed) under SENTIMENT_CACHE_DIR/augment/: one file per source and
seed, each review's pair under its label and a hash of its text, so a second run (another share, another subset, a
resume) only generates what is missing; a file made with another lexicon or held-out split is ignored and rewritten. The
validation split is augmented only when asked; the test split never is (this module is never given it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sentiment_core.data import heldout
from sentiment_core.data.augment import (
    AUGMENT_KINDS,
    EXCERPT_SENTENCES,
    PROTECTED_WORDS,
    SKIP_REASONS,
    Flip,
    flip_review,
    has_score,
    lexicon_fingerprint,
)
from sentiment_core.data.text import vocabulary_ids

AUGMENTATIONS = ("none", "counterfactual")
WORD_DROPOUT_FAMILIES = ("lstm", "transformer")  # their word dropout keeps PROTECTED_WORDS in an augmented run
DEFAULT_SHARE = 0.5
CACHE_FOLDER = "augment"
Progress = Callable[[int, int], None]


def chosen_rows(n: int, share: float, seed: int) -> np.ndarray:
    """The rows of a split of `n` reviews drawn for a pair: a seeded random `share` of them, in row order."""
    count = min(n, max(1, round(share * n))) if n else 0
    return np.sort(np.random.default_rng([seed, 0xA06]).choice(n, size=count, replace=False))


def rows_to_pair(texts: list[str], share: float, seed: int) -> tuple[np.ndarray, int]:
    """The drawn rows (`chosen_rows`) and every review that writes a score (about 9% of IMDB's: the only place
    a model sees a score decide), in row order, and how many the scores added."""
    drawn = chosen_rows(len(texts), share, seed)
    scored = np.array([i for i, text in enumerate(texts) if has_score(text)], dtype=drawn.dtype)
    rows = np.union1d(drawn, scored)
    return rows, len(rows) - len(drawn)


def review_key(text: str, label: int) -> str:
    return f"{int(label)}:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def cache_path(source: str, seed: int) -> Path:
    """SENTIMENT_CACHE_DIR/augment/<hash of the source>-s<seed>.json"""
    from sentiment_core.core.settings import cache_dir

    name = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    return cache_dir() / CACHE_FOLDER / f"{name}-s{seed}.json"


def read_cache(path: Path, source: str, seed: int) -> dict[str, dict]:
    """The cached edits (review key -> `Flip.to_dict()`), or {} when the file is missing, unreadable, or was
    made for another source, seed or lexicon (then it is rewritten)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    header = {"source": str(source), "seed": seed, "lexicon": lexicon_fingerprint()}
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in header.items()):
        return {}
    flips = payload.get("flips")
    return flips if isinstance(flips, dict) else {}


def write_cache(path: Path, source: str, seed: int, flips: dict[str, dict]) -> None:
    """Atomically (temp file + rename): two runs writing at once leave one complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"source": str(source), "seed": seed, "lexicon": lexicon_fingerprint(),
               "held_out_split": heldout.fingerprint(), "flips": flips}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def counterfactuals(texts: list[str], labels: list[int], rows: np.ndarray, seed: int, source: str,
                    progress: Progress | None = None) -> tuple[list[Flip], dict]:
    """The pairs of texts[rows] (cached ones read, the others generated and added to the cache) and how many
    came from each: {"cached", "generated", "seconds", "cache_file"}."""
    started = time.perf_counter()
    path = cache_path(source, seed)
    cache = read_cache(path, source, seed)
    flips, generated = [], 0
    total = len(rows)
    for done, row in enumerate(rows, start=1):
        key = review_key(texts[row], labels[row])
        stored = cache.get(key)
        if stored is None:
            flip = flip_review(texts[row], seed, label=int(labels[row]))
            cache[key] = flip.to_dict()
            generated += 1
        else:
            flip = Flip.from_dict(stored)
        flips.append(flip)
        if progress and (done == total or done % 100 == 0):
            progress(done, total)
    if generated:
        write_cache(path, source, seed, cache)
    if progress and not total:
        progress(0, 0)
    return flips, {"cached": total - generated, "generated": generated,
                   "seconds": round(time.perf_counter() - started, 2), "cache_file": str(path)}


def augment_split(dataset, share: float, seed: int, source: str, progress: Progress | None = None):
    """`dataset` (columns text and label) with the minimal pairs of a seeded `share` of its reviews added after
    the originals: the excerpt as written (label) and turned over (1 - label). -> (dataset, record of what was
    done)."""
    import datasets

    from sentiment_core.data.imdb import column

    texts, labels = column(dataset, "text"), column(dataset, "label")
    rows, for_scores = rows_to_pair(texts, share, seed)
    flips, cache = counterfactuals(texts, labels, rows, seed, source, progress)
    paired = [(row, flip) for row, flip in zip(rows, flips) if flip.text is not None]
    edited = [(flip.text, 1 - int(labels[row])) for row, flip in paired]
    excerpts = [(flip.original, int(labels[row])) for row, flip in paired]
    kinds: Counter = Counter()
    for _, flip in paired:
        kinds.update(flip.kinds)
    skipped = Counter(flip.reason for flip in flips if flip.text is None)
    originals = dataset.select_columns(["text", "label"])
    rows_added = [pair for both in zip(excerpts, edited) for pair in both]  # each excerpt, then its edit
    added = datasets.Dataset.from_dict({"text": [t for t, _ in rows_added], "label": [y for _, y in rows_added]},
                                       features=originals.features)
    combined = datasets.concatenate_datasets([originals, added]) if edited else originals
    record = {
        "reviews": len(texts), "chosen": len(rows), "chosen_for_a_score": for_scores, "added": len(edited),
        "skipped": {reason: skipped[reason] for reason in SKIP_REASONS if skipped[reason]},
        "edits": {kind: kinds[kind] for kind in AUGMENT_KINDS if kinds[kind]},
        "edits_per_review": round(sum(kinds.values()) / len(edited), 2) if edited else 0.0,
        "sentences_left_out": sum(flip.left_out for _, flip in paired),
        "sentences": sum(flip.sentences for _, flip in paired),
        "rows_added": len(rows_added),
        "words_per_excerpt": round(float(np.mean([len(t.split()) for t, _ in excerpts])), 1) if excerpts else 0.0,
        "labels_added": {"negative": sum(label == 0 for _, label in edited),
                         "positive": sum(label == 1 for _, label in edited)},
        **cache,
    }
    return combined, record


def protected_ids(tokenizer) -> list[int]:
    """The ids of `data.augment.PROTECTED_WORDS` in a word tokenizer's vocabulary (word dropout keeps them)."""
    return vocabulary_ids(tokenizer, PROTECTED_WORDS)


def describe(config) -> dict:
    """What run.json records of a run's augmentation before its counts are known."""
    return {"method": config.augment, "share": config.augment_share, "seed": config.seed,
            "kinds": list(AUGMENT_KINDS), "lexicon": lexicon_fingerprint(), "held_out_split": heldout.fingerprint(),
            "held_out_words": len(heldout.HELD_OUT_WORDS), "excerpt_sentences": EXCERPT_SENTENCES,
            "kept_from_word_dropout": sorted(PROTECTED_WORDS) if config.model in WORD_DROPOUT_FAMILIES else [],
            "train": None, "validation": None, "test": "never augmented"}


def summary(record: dict) -> str:
    """One line for a log or a card: '6,750 of 22,500 training reviews chosen, 5,410 minimal pairs added (...'."""
    train = record.get("train") or {}
    if not train:
        return "no augmentation"
    edits = ", ".join(f"{kind} {count:,}" for kind, count in train.get("edits", {}).items())
    skipped = ", ".join(f"{reason} {count:,}" for reason, count in train.get("skipped", {}).items())
    return (f"{train['chosen']:,} of {train['reviews']:,} training reviews chosen (share {record.get('share')}, "
            f"seed {record.get('seed')}), {train['added']:,} minimal pairs added (excerpt as written and turned over; "
            f"{edits or 'no edits'}"
            f"{'; skipped: ' + skipped if skipped else ''})")
