"""Explanations of whole files: a CSV of reviews -> one JSON line per row -> a self-contained HTML report.

The CSV is read in chunks (never whole); its review column is `text` or `review` (any case), as for
batch predictions. Each output line is one row, in file order:

    {"row": 0, "text": "...", "method": "integrated_gradients", "label": "positive", "probability": 0.93,
     "target": "positive", "delta": 0.001, "output": 2.6, "baseline_output": 0.1, "truncated": false,
     "read_until": 812, "notes": [], "words": [{"word": "great", "start": 4, "end": 9, "score": 0.8}, ...]}

`row` counts data rows from 0 (the header is not a row); `probability` is P(positive); word scores push
toward `target` (the predicted class), in log-odds, as in `explain.explain`. A row with no readable word
has null label, probability, target, delta and words, and a note. No NaN (null instead), UTF-8.

What was asked (method, target, options, model, weights and source file fingerprints) is kept in a
sidecar, `<out>.meta.json`. Each line is flushed as written; an interrupted export started again with
the same settings continues after the last complete line (a partial last line is cut off), so no row is
missing or repeated; other settings are refused.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from sentiment_core.core.errors import InputError, UnsupportedFormatError
from sentiment_core.core.jsonio import dumps, write_json
from sentiment_core.data import LABELS
from sentiment_core.explain import render
from sentiment_core.explain.attribution import Explanation, WordScore, explain
from sentiment_core.explain.methods import (
    METHODS,
    check_baseline,
    check_steps,
    check_target,
    default_method,
    get_method,
)
from sentiment_core.inference.files import read_reviews_csv
from sentiment_core.inference.predictor import Predictor

FORMAT_VERSION = 1
META_SUFFIX = ".meta.json"
CHUNK_ROWS = 256  # CSV rows read at a time
REPORT_ROWS = 200  # rows highlighted in the HTML report
REPORT_WORDS = 20  # words listed toward each class
_HAS_LETTER = re.compile(r"\w")


@dataclass
class FileExplanation:
    """What `explain_file` did."""

    out_path: Path
    meta_path: Path
    rows: int  # data rows in the CSV (= lines in the output once done)
    resumed_at: int  # rows already written when this call started (0: a fresh export)
    explained: int  # rows explained by this call
    empty: int  # rows of this call with no readable word (null result)
    html_path: Path | None

    def to_dict(self) -> dict:
        return asdict(self)


def meta_path_for(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + META_SUFFIX)


# --- the source CSV ----------------------------------------------------------------------

def _text_column(csv_path: Path) -> str:
    """The review column, found by `inference.read_reviews_csv` on the header alone (the file is not loaded)."""
    import pandas as pd

    if not csv_path.is_file():
        raise InputError(f"No file {str(csv_path)!r}: give the path of a CSV with a 'text' or 'review' column.")
    try:
        header = pd.read_csv(csv_path, nrows=0)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise UnsupportedFormatError(
            f"Cannot read {csv_path.name!r} as CSV ({error}): give a UTF-8 CSV with a 'text' or 'review' column."
        ) from None
    try:
        _, column = read_reviews_csv(io.StringIO(header.to_csv(index=False)))
    except ValueError as error:
        raise InputError(f"{csv_path.name!r}: {error}") from None
    return str(column)


def _texts(csv_path: Path, column: str, chunk_rows: int) -> Iterator[str]:
    """The review column, row by row, read `chunk_rows` at a time (empty cells as '')."""
    import pandas as pd

    try:
        reader = pd.read_csv(csv_path, usecols=[column], dtype=str, keep_default_na=False, chunksize=chunk_rows)
        for chunk in reader:
            yield from chunk[column].tolist()
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise UnsupportedFormatError(
            f"Cannot read {csv_path.name!r} as CSV ({error}): fix the file (UTF-8, one review per row) and start again."
        ) from None


def _fingerprint(csv_path: Path) -> dict:
    digest = hashlib.sha256()
    with open(csv_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"name": csv_path.name, "bytes": csv_path.stat().st_size, "sha256": digest.hexdigest()}


def _weights_fingerprint(predictor: Predictor) -> str:
    """A hash of the model's weights, so a resume with another (or retrained) model is refused."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(predictor.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# --- rows ------------------------------------------------------------------------------------

def _row(index: int, explanation: Explanation) -> dict:
    """One JSON line (`jsonio.dumps` writes NaN and infinities as null)."""
    return {
        "row": index, "text": explanation.text, "method": explanation.method,
        "label": explanation.predicted_label, "probability": explanation.probability,
        "target": explanation.target_label, "delta": explanation.delta,
        "output": explanation.output, "baseline_output": explanation.baseline_output,
        "truncated": bool(explanation.truncated), "read_until": int(explanation.read_until),
        "unread": [list(span) for span in explanation.unread], "notes": list(explanation.notes),
        "words": [{"word": w.word, "start": w.start, "end": w.end, "score": w.score} for w in explanation.words],
    }


def _empty_row(index: int, text: str, method: str, note: str) -> dict:
    return {
        "row": index, "text": text, "method": method, "label": None, "probability": None, "target": None,
        "delta": None, "output": None, "baseline_output": None, "truncated": False, "read_until": 0,
        "unread": [], "notes": [note], "words": None,
    }


def explanation_from_row(row: Mapping) -> Explanation | None:
    """The Explanation a JSON line holds (None for a row with no result)."""
    if row.get("words") is None:
        return None
    words = [WordScore(w["word"], int(w["start"]), int(w["end"]), w["score"] or 0.0) for w in row["words"]]
    return Explanation(
        text=row["text"], method=row["method"], target=LABELS.index(row["target"]),
        predicted=LABELS.index(row["label"]), probability=row["probability"], words=words, delta=row["delta"],
        output=row["output"] or 0.0, baseline_output=row["baseline_output"] or 0.0,
        truncated=bool(row["truncated"]), read_until=int(row["read_until"]), notes=list(row.get("notes") or []),
        unread=[tuple(span) for span in row.get("unread") or []],
    )


def read_rows(jsonl_path: str | Path) -> Iterator[dict]:
    """The rows of an explanation file, one at a time (a partial last line is skipped)."""
    with open(jsonl_path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            yield json.loads(line)


# --- resuming --------------------------------------------------------------------------------

def _complete_rows(out_path: Path) -> tuple[int, int]:
    """(rows, bytes) of the valid prefix: complete JSON lines numbered 0, 1, 2, ... in order."""
    rows = size = 0
    with open(out_path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                if json.loads(line).get("row") != rows:
                    break
            except (ValueError, AttributeError):
                break
            rows += 1
            size += len(line)
    return rows, size


def _check_resumable(out_path: Path, meta_path: Path, asked: dict) -> int:
    """Rows already written for the same request (the file is cut after them), or refuse."""
    if not meta_path.is_file():
        raise InputError(f"{out_path.name!r} exists and is not an explanation export of this tool (no "
                         f"{meta_path.name!r} beside it): delete it or choose another output path.")
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("asked", {})
    except (ValueError, AttributeError):
        recorded = {}
    if recorded != asked:
        changed = sorted(k for k in set(asked) | set(recorded) if asked.get(k) != recorded.get(k)) or ["format"]
        raise InputError(
            f"{out_path.name!r} holds explanations made with other settings ({', '.join(changed)} differ): "
            "resume with the same file, model and method, or delete it (and its .meta.json) or choose another "
            "output path."
        )
    rows, size = _complete_rows(out_path)
    with open(out_path, "r+b") as handle:
        handle.truncate(size)
    return rows


def _options(method: str, steps: int | None, baseline: str) -> dict:
    """What was asked, as the sidecar records it: the method's option with its default filled in (no steps and
    the default number of steps are the same request), and the baseline when it is not the empty review."""
    chosen = get_method(method)
    options = {chosen.option: steps or chosen.default} if chosen.option else {}
    if baseline != "empty":
        options["baseline"] = baseline
    return dict(sorted(options.items()))


# --- the export --------------------------------------------------------------------------------

def explain_file(predictor: Predictor, csv_path: str | Path, out_jsonl: str | Path,
                 method: str | None = None, target: int | str | None = None, steps: int | None = None,
                 baseline: str = "empty", html_path: str | Path | None = None,
                 progress: Callable[[int, int], None] | None = None, chunk_rows: int = CHUNK_ROWS,
                 model: str | None = None) -> FileExplanation:
    """Explain every row of a CSV into `out_jsonl` (one JSON line per row), resuming an interrupted export.

    method, target, steps, baseline: as for `explain.attribution.explain`. html_path: also write
    `write_html_report` there. progress(done, total): called after each row (done counts rows written by
    earlier calls too). model: the model's name recorded in the sidecar (default: the predictor's run id).
    """
    method = get_method(method or default_method(predictor.family)).name
    steps, target = check_steps(steps, method), check_target(target)
    check_baseline(baseline)
    if html_path and Path(html_path).resolve() == Path(csv_path).resolve():
        raise InputError("The output path is the input file: choose another output path.")
    asked = {"method": method, "target": LABELS[target] if isinstance(target, int) else target,
             "options": _options(method, steps, baseline)}

    def row_for(index: int, text: str) -> dict:
        (explanation,) = explain(predictor, text, method=method, target=target, baseline=baseline, steps=steps)
        return _row(index, explanation)

    done = export_rows(predictor, csv_path, out_jsonl, asked, row_for,
                       lambda index, text, note: _empty_row(index, text, method, note), progress, chunk_rows, model)
    done.html_path = write_html_report(done.out_path, html_path) if html_path else None
    return done


def export_rows(predictor: Predictor, csv_path: str | Path, out_jsonl: str | Path, asked: dict,
                row_for: Callable[[int, str], dict], empty_row: Callable[[int, str, str], dict],
                progress: Callable[[int, int], None] | None = None, chunk_rows: int = CHUNK_ROWS,
                model: str | None = None) -> FileExplanation:
    """One JSON line per row of a CSV, `row_for(row, text)`, or `empty_row(row, text, note)` for a review with no
    word the model reads; resumes an interrupted export of the same request (`asked`, with the model, its weights
    and the file's fingerprint added) and refuses another."""
    if chunk_rows < 1:
        raise InputError(f"chunk_rows must be at least 1, got {chunk_rows}.")
    csv_path, out_path = Path(csv_path), Path(out_jsonl)
    column = _text_column(csv_path)
    if out_path.resolve() == csv_path.resolve():
        raise InputError("The output path is the input file: choose another output path.")
    total = count_rows(csv_path)  # parses (and checks) the whole file once, in chunks
    asked = {"format": FORMAT_VERSION, **asked, "model": model if model is not None else predictor.run_id,
             "weights": _weights_fingerprint(predictor), "source": _fingerprint(csv_path), "column": column}
    meta_path = meta_path_for(out_path)
    if out_path.exists():
        done = _check_resumable(out_path, meta_path, asked)
    else:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.touch()
        done = 0
    write_json(meta_path, {"asked": asked, "rows": total, "state": "running", "pid": os.getpid()})
    resumed_at, written, empty = done, 0, 0
    if progress:
        progress(done, total)
    with open(out_path, "a", encoding="utf-8", newline="\n") as out:
        for index, text in enumerate(_texts(csv_path, column, chunk_rows)):
            if index < done:
                continue
            try:
                predictor.encode(text)
                readable = True
            except InputError as error:  # no word the model can read
                row, readable, empty = empty_row(index, text, str(error)), False, empty + 1
            if readable:
                row = row_for(index, text)
            out.write(dumps(row) + "\n")
            out.flush()
            done, written = done + 1, written + 1
            if progress:
                progress(done, total)
    if done != total:
        raise InputError(f"{csv_path.name!r} changed while it was read ({done} rows, expected {total}): start again.")
    write_json(meta_path, {"asked": asked, "rows": total, "state": "finished", "pid": None})
    return FileExplanation(out_path, meta_path, total, resumed_at, written, empty, None)


def export_state(out_path: str | Path) -> dict:
    """Where an explanation export stands: state (running, finished, or failed when the process that was
    writing it is gone: killed or crashed; `explain_file` with the same settings continues it), rows written
    and rows in all."""
    from sentiment_core.core.runs import pid_alive

    meta_path = meta_path_for(out_path)
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    written = sum(1 for _ in read_rows(out_path)) if Path(out_path).is_file() else 0
    state = meta.get("state", "finished" if meta and written == meta.get("rows") else "unknown")
    if state == "running" and not pid_alive(meta.get("pid")):
        state = "failed"
    return {"state": state, "rows_written": written, "rows": meta.get("rows")}


def count_rows(csv_path: str | Path, chunk_rows: int = 4096) -> int:
    """Data rows of a reviews CSV (read in chunks; a review spanning several lines counts once)."""
    csv_path = Path(csv_path)
    return sum(1 for _ in _texts(csv_path, _text_column(csv_path), chunk_rows))


# --- the HTML report ---------------------------------------------------------------------------

@dataclass
class _FileSummary:
    words: dict[str, list]  # word -> [summed score toward positive, count]
    labels: dict  # label (None: no result) -> rows
    strongest: list[float]  # per explained row, its largest |score|

    @property
    def rows(self) -> int:
        return sum(self.labels.values())


def _summarize(jsonl_path: Path) -> _FileSummary:
    summary = _FileSummary({}, {"negative": 0, "positive": 0, None: 0}, [])
    for row in read_rows(jsonl_path):
        summary.labels[row.get("label")] = summary.labels.get(row.get("label"), 0) + 1
        explanation = explanation_from_row(row)
        if explanation is None:
            continue
        scores = explanation.positive_scores()
        summary.strongest.append(max((abs(s) for s in scores), default=0.0))
        for word, score in zip(explanation.words, scores):
            key = word.word.lower()
            if _HAS_LETTER.search(key):
                entry = summary.words.setdefault(key, [0.0, 0])
                entry[0] += score
                entry[1] += 1
    return summary


def _top_words(summary: _FileSummary, k: int):
    import pandas as pd

    frame = pd.DataFrame([(w, s, c) for w, (s, c) in summary.words.items()], columns=["word", "score", "count"])
    frame["mean"] = frame["score"] / frame["count"].clip(lower=1)
    positive = frame[frame["score"] > 0].nlargest(k, "score")
    negative = frame[frame["score"] < 0].nsmallest(k, "score")
    return pd.concat([negative, positive]).sort_values("score").reset_index(drop=True)


def file_top_words(jsonl_path: str | Path, k: int = REPORT_WORDS):
    """The words that pushed most toward each class across an explanation file.

    A word's score is its scores toward positive summed over every row (case folded; punctuation left
    out). -> DataFrame: word, score, count, mean; the k most negative first, then the k most positive.
    """
    return _top_words(_summarize(Path(jsonl_path)), k)


def write_html_report(jsonl_path: str | Path, html_path: str | Path, max_rows: int = REPORT_ROWS,
                      top_k: int = REPORT_WORDS, title: str | None = None) -> Path:
    """A self-contained HTML report of an explanation file (two streaming passes over it).

    Counts per label, the words that pushed most toward each class across the file, a legend, and the
    first `max_rows` rows highlighted on one colour scale (the 95th percentile of each row's strongest
    word), reviews escaped: a review holding tags shows them as text.
    """
    jsonl_path, html_path = Path(jsonl_path), Path(html_path)
    if not jsonl_path.is_file():
        raise InputError(f"No explanation file {jsonl_path.name!r}: run the export first.")
    meta_path = meta_path_for(jsonl_path)
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    asked = meta.get("asked", {})
    summary = _summarize(jsonl_path)
    scale = float(np.percentile(summary.strongest, 95)) if summary.strongest else 0.0
    rows = []
    for row in itertools.islice(read_rows(jsonl_path), max_rows):
        explanation = explanation_from_row(row)
        head = (f"Row {row['row']}: no result" if explanation is None else
                f"Row {row['row']} · {explanation.predicted_label}, P(positive) = {explanation.probability:.3f}")
        rows.append(render.ReportRow(head, list(row.get("notes") or []), explanation, row.get("text") or ""))
    method, source = asked.get("method"), (asked.get("source") or {}).get("name")
    about = " · ".join(part for part in (
        f"method: {METHODS[method].title if method in METHODS else method}" if method else "",
        f"model: {asked['model']}" if asked.get("model") else "",
    ) if part)
    expected, labels = meta.get("rows"), summary.labels
    unfinished = (f" (the export is not finished: {expected} rows in the file)"
                  if isinstance(expected, int) and expected > summary.rows else "")
    counts = (f"{summary.rows} rows{unfinished}: {labels['positive']} predicted positive, {labels['negative']} negative"
              + (f", {labels[None]} with no readable words" if labels[None] else "") + ".")
    capped = (f"The first {max_rows} of {summary.rows} rows are highlighted; every row is in the JSON lines file."
              if summary.rows > max_rows else "")
    document = render.file_report_html(title or f"Explanations of {source or jsonl_path.name}", about, counts,
                                       _top_words(summary, top_k), scale, rows, capped)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(document, encoding="utf-8")
    return html_path
