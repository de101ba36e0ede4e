"""Reviews in files: a CSV's review column in, one prediction record (or table row) per review out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sentiment_core.core.errors import InputError
from sentiment_core.inference.predictor import Predictor

if TYPE_CHECKING:  # pandas loads on first use
    import pandas as pd


TEXT_COLUMNS = ("text", "review")


def read_reviews_csv(source) -> tuple["pd.DataFrame", str]:
    """A CSV (path or file object) and the name of its review column (`text` or `review`, any case)."""
    import pandas as pd

    if isinstance(source, (str, Path)) and not Path(source).is_file():
        problem = "is a folder" if Path(source).is_dir() else "does not exist"
        raise InputError(f"The file {source} {problem}: give the path of a CSV with a 'text' or 'review' column.")
    try:
        frame = pd.read_csv(source)
    except UnicodeDecodeError as error:
        raise InputError(f"The file is not UTF-8 text (byte 0x{error.object[error.start]:02x} at position "
                         f"{error.start}): save it as UTF-8 CSV with a 'text' or 'review' column.") from None
    except (ValueError, pd.errors.ParserError) as error:
        raise InputError(f"Cannot read the file as CSV ({error}): upload a UTF-8 CSV with a 'text' or "
                         "'review' column.") from None
    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    column = next((by_lower[name] for name in TEXT_COLUMNS if name in by_lower), None)
    if column is None:
        found = ", ".join(map(str, frame.columns[:10])) or "none"
        raise InputError(f"The file has no 'text' or 'review' column (columns: {found}): "
                         "rename the column holding the reviews.")
    return frame, column


EMPTY_NOTE = "empty review: no words the model can read"


def predict_records(predictor: Predictor, texts: Sequence[str], batch_size: int = 64,
                    progress: Callable[[int, int], None] | None = None, batch: bool = False) -> list[dict]:
    """One record per text, with the same keys for every text (Prediction's fields); a text that is empty
    or has no word the model can read gets label and probability None and a note saying so, instead of
    failing the others."""
    readable = []
    for index, text in enumerate(texts):
        try:
            predictor.encode(text)
            readable.append(index)
        except InputError:
            pass
    predictions = predictor.predict([texts[i] for i in readable], batch_size=batch_size, progress=progress, batch=batch)
    empty = {"label": None, "probability": None, "truncated": False, "tokens_read": 0, "total_tokens": 0,
             "read_until": 0, "notes": [EMPTY_NOTE], "class_probabilities": {}, "unread": [], "windows": 0}
    records = [dict(empty) for _ in texts]
    for index, prediction in zip(readable, predictions):
        records[index] = prediction.to_dict()
    return records


def predict_table(predictor: Predictor, frame: "pd.DataFrame", column: str, batch_size: int = 64,
                  progress: Callable[[int, int], None] | None = None) -> "pd.DataFrame":
    """The frame with label, probability (of positive), truncated and note columns added, and
    `P(<class>)` per class for a model with more than two classes.

    Rows whose text is empty or has no readable word get no label and a note instead of failing the batch.
    """
    texts = frame[column].fillna("").astype(str).tolist()
    records = predict_records(predictor, texts, batch_size=batch_size, progress=progress, batch=True)
    out = frame.copy()
    out["label"] = [r["label"] for r in records]
    out["probability"] = [np.nan if r["probability"] is None else r["probability"] for r in records]
    out["truncated"] = [r["truncated"] for r in records]
    out["note"] = [" ".join(r["notes"]) for r in records]
    names = predictor.label_map.class_names
    if len(names) > 2:
        for name in names:
            out[f"P({name})"] = [r["class_probabilities"].get(name, np.nan) for r in records]
    return out
