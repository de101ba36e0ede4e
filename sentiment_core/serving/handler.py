"""SageMaker-style inference handler, over an exported model folder (`sentiment_core.export`).

A SageMaker PyTorch serving container calls, for every request:

    model = model_fn(model_dir)                       # once, at start-up
    data = input_fn(request_body, content_type)       # application/json, text/plain, text/csv
    prediction = predict_fn(data, model)
    body = output_fn(prediction, accept)              # application/json (also for */*), text/csv
                                                      # (rows label,probability,truncated; no header)

An export's `code/inference.py` re-exports these four functions, so `model.tar.gz` of an export
folder deploys as it is. Inputs:
- application/json: `{"texts": [...]}`, `{"text": "..."}`, `{"inputs": ... }`, a list of strings
  or one string;
- text/plain: the whole body is one review;
- text/csv: with a header row naming a `text` or `review` column, that column (any other columns are
  ignored; fields with commas must be quoted, as CSV has it); without one (SageMaker batch transform
  sends bare rows), one review per row: a quoted field is unquoted, and an unquoted row is the review
  as it is, commas included. A headerless row of several quoted fields is ambiguous and refused.
Each text must be non-blank and at most SENTIMENT_MAX_CHARS characters, at most
SENTIMENT_MAX_TEXTS texts per request; anything else raises a SentimentError saying what to fix.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sentiment_core.core.errors import InputError, LimitError, ModelSourceError, UnsupportedFormatError
from sentiment_core.core.settings import get_settings

CONTENT_TYPES = ("application/json", "text/plain", "text/csv")
ACCEPTS = ("application/json", "text/csv")
CSV_COLUMNS = ("label", "probability", "truncated")
_TEXT_HEADERS = ("text", "review")


def model_fn(model_dir, context=None):
    """Load the exported model in `model_dir` -> a `Predictor` (on SENTIMENT_DEVICE, default auto)."""
    from sentiment_core.inference.checkpoints import load_checkpoint  # torch loads with the model, not on import
    from sentiment_core.serving.export.folder import EXPORT_FILE

    folder = Path(model_dir)
    meta_file = folder / EXPORT_FILE
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelSourceError(f"{meta_file} is corrupted ({error}): export the run again.") from None
    predictor = load_checkpoint(folder, family=meta.get("family"), max_length=meta.get("max_length"),
                                run_id=meta.get("run_id"), labels=meta.get("label_map"))
    return predictor.with_reading(meta.get("long_text") or "truncate", meta.get("head_tokens"),
                                  meta.get("window_stride"))


def _media_type(header: str | None, default: str) -> str:
    return (header or default).split(";")[0].strip().lower() or default


def input_fn(input_data, content_type: str = "application/json", context=None) -> list[str]:
    """Request body (bytes or str) -> the list of review texts to predict."""
    media = _media_type(content_type, "application/json")
    if media not in CONTENT_TYPES:
        raise UnsupportedFormatError(
            f"Unsupported content type {content_type!r}: send one of {', '.join(CONTENT_TYPES)}.")
    if isinstance(input_data, (bytes, bytearray, memoryview)):
        try:
            body = bytes(input_data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"The request body is not valid UTF-8 (position {error.start}): "
                             "encode it as UTF-8.") from None
    elif isinstance(input_data, str):
        body = input_data
    else:
        raise InputError(f"The request body must be bytes or text, got {type(input_data).__name__}.")
    if media == "application/json":
        texts = _json_texts(body)
    elif media == "text/plain":
        texts = [body]
    else:
        texts = _csv_texts(body)
    return _checked(texts)


def _json_texts(body: str) -> list:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as error:
        raise InputError(f"The body is not valid JSON ({error.msg} at character {error.pos}): send "
                         '{"texts": ["..."]}.') from None
    if isinstance(payload, dict):
        known = [key for key in ("texts", "text", "inputs") if key in payload]
        if not known:
            raise InputError(f"The JSON object has no 'texts', 'text' or 'inputs' key (keys: "
                             f"{', '.join(map(str, list(payload)[:5])) or 'none'}): send {{\"texts\": [\"...\"]}}.")
        payload = payload[known[0]]
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, list):
        return payload
    raise InputError(f"Expected a list of review texts, got {type(payload).__name__}: send {{\"texts\": [\"...\"]}}.")


def _csv_rows(body: str):
    """CSV rows with the raw text each came from: (fields, raw line(s)). Quoted fields may span lines."""
    consumed: list[str] = []

    def lines():
        for line in io.StringIO(body, newline=""):
            consumed.append(line)
            yield line

    try:
        for fields in csv.reader(lines()):
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            yield fields, raw
    except csv.Error as error:
        raise InputError(f"The body is not valid CSV ({error}): send one review per row, quoted when it "
                         "holds quotes or line breaks.") from None


def _csv_texts(body: str) -> list[str]:
    rows = [(fields, raw) for fields, raw in _csv_rows(body) if raw.strip()]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0][0]]
    column = next((header.index(name) for name in _TEXT_HEADERS if name in header), None)
    if column is not None:
        return [fields[column] if column < len(fields) else "" for fields, _ in rows[1:]]
    texts = []
    for number, (fields, raw) in enumerate(rows, start=1):
        if len(fields) == 1:
            texts.append(fields[0])
        elif '"' not in raw:  # a bare review with commas in it: keep it whole
            texts.append(raw)
        else:
            raise InputError(
                f"CSV row {number} has {len(fields)} quoted columns and no header names the review column: "
                "send one review per row (quote a review that holds quotes or line breaks), or start the "
                "body with a header row naming the `text` (or `review`) column.")
    return texts


def _checked(texts: list) -> list[str]:
    settings = get_settings()
    if not texts:
        raise InputError("No review texts in the request: send at least one.")
    if len(texts) > settings.max_texts:
        raise LimitError(f"{len(texts)} texts in one request; the limit is {settings.max_texts} "
                         "(SENTIMENT_MAX_TEXTS): split them over several requests.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"texts[{index}] is a {type(text).__name__}, not text: send strings.")
        if len(text) > settings.max_chars:
            raise LimitError(f"texts[{index}] has {len(text)} characters; the limit is {settings.max_chars} "
                             "(SENTIMENT_MAX_CHARS): shorten it.")
        if not text.strip():
            raise InputError(f"texts[{index}] is empty: send the text of a review.")
    return list(texts)


def predict_fn(data: list[str], model) -> list[dict]:
    """Texts -> one dict per text: label, probability (of positive), truncated, tokens, notes."""
    try:
        return [prediction.to_dict() for prediction in model.predict(data)]
    except InputError:
        for index, text in enumerate(data):  # name the text the model cannot read
            try:
                model.encode(text)
            except InputError as error:
                raise InputError(f"texts[{index}]: {error}") from None
        raise


def output_fn(prediction: list[dict], accept: str | None = "application/json") -> str:
    """Predictions -> the response body in the first supported type of `accept` (JSON for */*)."""
    wanted = [_media_type(part, "application/json") for part in (accept or "application/json").split(",")]
    media = next((m if m in ACCEPTS else "application/json" for m in wanted
                  if m in ACCEPTS or m in ("*/*", "application/*")), None)
    if media is None:
        raise UnsupportedFormatError(f"Unsupported accept type {accept!r}: ask for one of {', '.join(ACCEPTS)}.")
    if media == "application/json":
        return json.dumps({"predictions": prediction})
    out = io.StringIO()
    # no header: one output row per input row, as batch transform joins them
    writer = csv.writer(out, lineterminator="\n")
    for row in prediction:
        writer.writerow([row["label"], f"{row['probability']:.6f}", str(bool(row["truncated"])).lower()])
    return out.getvalue()
