"""Example reviews the Predict page offers: hand-written ones, and typical reviews of the test split."""

from __future__ import annotations

import functools

from sentiment_core.core.errors import SentimentError
from sentiment_core.data import LABELS

HAND_WRITTEN_EXAMPLES = {
    "Hand-written: warm praise": "What a wonderful film! The acting is superb, the story is moving and the "
    "soundtrack stayed with me for days. I loved every minute of it.",
    "Hand-written: a stinker": "Two hours I will never get back. The plot makes no sense, the dialogue is "
    "awful and the lead looks bored in every scene. Avoid.",
    "Hand-written: mixed feelings": "The cinematography is beautiful and the first half is genuinely gripping, "
    "but the ending is a lazy mess and the villain is laughable. Not terrible, not good either.",
    "Hand-written: not in English": "Ce film est une merveille : les acteurs sont formidables et la musique "
    "est magnifique. Je le recommande à tous.",
}


@functools.lru_cache(maxsize=2)
def split_examples(source: str | None = None) -> dict[str, str]:
    """A typical positive, a typical negative and a long review from the test split ({} if unreadable)."""
    from sentiment_core.data.imdb import load_imdb

    try:
        test = load_imdb(source)["test"].to_pandas()
    except SentimentError:
        return {}
    test["words"] = test["text"].str.split().str.len()
    median = test["words"].median()
    examples = {}
    for label in (1, 0):
        rows = test[test["label"] == label]
        row = rows.iloc[(rows["words"] - median).abs().argsort().iloc[0]]
        examples[f"Test split: a typical {LABELS[label]} review ({row['words']} words)"] = row["text"]
    long = test.iloc[(test["words"] - test["words"].quantile(0.97)).abs().argsort().iloc[0]]
    examples[f"Test split: a long {LABELS[long['label']]} review ({long['words']} words)"] = long["text"]
    return examples
