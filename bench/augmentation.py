"""Counterfactual augmentation on real reviews: how fast it is, what it edits, what it skips (docs/results.md).

    python bench/augmentation.py [--data SRC] [--n 2000] [--seed 42] [--examples 2] [--json]

Reads a seeded sample of n training reviews of the data source (default IMDB_DATA), cuts each one's minimal pair
with `data.augment.flip_review` (no cache: the generation itself is timed) and prints reviews/s, how many were
paired or skipped (by reason), the edits of each kind, the sentences left out of the excerpts and a few examples.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiment_core.core.jsonio import dumps  # noqa: E402
from sentiment_core.data.augment import AUGMENT_KINDS, SKIP_REASONS, flip_review  # noqa: E402
from sentiment_core.data.opposites import DISTANT_NEGATIONS  # noqa: E402


def summarize(flips, seconds: float) -> dict:
    """Counts and rates of a list of `Flip`s generated in `seconds`."""
    edited = [f for f in flips if f.text is not None]
    kinds = Counter()
    for flip in edited:
        kinds.update(flip.kinds)
    total_edits = sum(kinds.values())
    sentences = sum(f.sentences for f in edited)
    return {
        "reviews": len(flips), "seconds": round(seconds, 2),
        "reviews_per_second": round(len(flips) / seconds, 1) if seconds else None,
        "edited": len(edited), "edited_share": round(len(edited) / len(flips), 4) if flips else 0.0,
        "skipped": {reason: sum(f.reason == reason for f in flips) for reason in SKIP_REASONS},
        "edits": {kind: kinds[kind] for kind in AUGMENT_KINDS},
        "edit_shares": {kind: round(kinds[kind] / total_edits, 4) if total_edits else 0.0 for kind in AUGMENT_KINDS},
        "edits_per_edited_review": round(total_edits / len(edited), 2) if edited else 0.0,
        "distant_negations": sum(any(e.new.startswith(DISTANT_NEGATIONS) for e in f.edits) for f in edited),
        "sentences_left_out_share": round(sum(f.left_out for f in edited) / sentences, 4) if sentences else 0.0,
        "mean_kept_share": round(sum(f.kept_share for f in edited) / len(edited), 4) if edited else 0.0,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="IMDB source (default: IMDB_DATA)")
    parser.add_argument("--n", type=int, default=2000, help="training reviews to turn over (default 2000)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the sample and of the edits (default 42)")
    parser.add_argument("--examples", type=int, default=2, help="edited reviews to print (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)

    from sentiment_core.data.imdb import column, load_imdb, seeded_subset

    sample = seeded_subset(load_imdb(args.data)["train"], args.n, args.seed)
    texts, labels = column(sample, "text"), column(sample, "label")
    started = time.perf_counter()
    flips = [flip_review(text, args.seed, label=label) for text, label in zip(texts, labels)]
    figures = summarize(flips, time.perf_counter() - started)
    print(dumps(figures, indent=2))
    if not args.json:
        for text, flip in [(t, f) for t, f in zip(texts, flips) if f.text is not None][:args.examples]:
            print(f"\n--- review ({len(text)} characters)\n{text[:600]}\n--- excerpt as written\n{flip.original}"
                  f"\n--- turned over ({flip.kinds})\n{flip.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
