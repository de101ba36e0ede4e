"""Evaluation on paired edits: reviews beside their edited twins (contrast sets, counterfactual edits).

A pairs file (CSV or TSV) has the columns `pair` (an id shared by an original and its edited twin; the first row
of a pair is the original), `text` (or `review`), `label` (negative/positive, neg/pos or 0/1, any case) and
optionally `kind` (what the edit does: negation, ...). `read_pairs` checks it before any model loads;
`score_pairs` predicts both texts of each pair in batches and reports accuracy on the originals, on the edits,
and consistency (the share of pairs with both right), overall and per kind, with the first inconsistent pairs;
`pairs_for_run` scores a finished run's model and keeps the result in the run's `pairs.json`, one entry per
pairs file (by name; scoring a file of the same name again replaces its entry, the others stay).
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError, RunError, RunNotFoundError
from sentiment_core.data import LABELS
from sentiment_core.evaluation.behaviour.runner import run_fingerprint

if TYPE_CHECKING:  # pandas loads on first use
    import pandas as pd

PAIRS_FILE = "pairs.json"  # in a run's folder
PAIRS_VERSION = 1
MAX_LISTED = 20  # inconsistent pairs kept (with their texts) per file and run
MAX_NAMED = 10  # pair ids or values an error message names
TSV_SUFFIXES = (".tsv", ".tab")
FORMAT_HINT = ("columns pair (an id shared by an original and its edited twin, the original first), text, label "
               "(negative/positive or 0/1) and optionally kind")
RATE_NAMES = {"original_accuracy": "originals", "edit_accuracy": "edits", "consistency": "consistency"}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Pair:
    """An original review and its edited twin; labels are 0 (negative) or 1 (positive)."""

    pair: str
    original: str
    edit: str
    original_label: int
    edit_label: int
    kind: str | None = None


@dataclass
class PairSet:
    """A checked pairs file. name: what results are kept under (the file's name without its extension);
    file: its path, or an upload's name; sha256: of its bytes; has_kinds: it has a kind column."""

    name: str
    file: str
    sha256: str
    pairs: list[Pair]
    has_kinds: bool = False


@dataclass
class PairsResult:
    """One pairs file scored by one model.

    all and each entry of kinds: pairs, original_correct, edit_correct, consistent (both right), label_kept
    (pairs whose edit keeps the original's label) and the three rates; kinds: [] without a kind column.
    inconsistent: the first `MAX_LISTED` pairs not both right (of inconsistent_count), with texts and answers.
    fingerprint: the run's model when scored (`behaviour.run_fingerprint`), to tell a stale result.
    """

    name: str
    file: str
    sha256: str
    model: str
    all: dict
    kinds: list[dict]
    inconsistent_count: int
    inconsistent: list[dict]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    scored: str = ""
    fingerprint: str | None = None

    @property
    def consistency(self) -> float:
        return self.all["consistency"]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> PairsResult:
        return cls(**{name: payload[name] for name in cls.__dataclass_fields__ if name in payload})


# --- reading ----------------------------------------------------------------------------

def read_pairs(source, name: str | None = None) -> PairSet:
    """Read and check a pairs file: a path, or a file object with a `name` (an upload). CSV or TSV by the
    extension (.csv, .tsv/.tab), else by which of comma and tab the header holds more of. Every problem is an
    InputError naming it (the pair ids where it is) and the fix."""
    raw, shown = _read_bytes(source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"The pairs file {shown} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
                         f"position {error.start}): save it as UTF-8 CSV or TSV.") from None
    if not text.strip():
        raise InputError(f"The pairs file {shown} is empty: it needs a header row and two rows per pair, with "
                         f"{FORMAT_HINT}.")
    frame = _parse(text, _separator(shown, text), shown)
    columns = _columns(frame, shown)
    return _pair_set(frame, columns, shown, raw, name)


def _read_bytes(source) -> tuple[bytes, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            problem = "is a folder" if path.is_dir() else "does not exist"
            raise InputError(f"The pairs file {source} {problem}: give the path of a CSV or TSV with {FORMAT_HINT}.")
        return path.read_bytes(), str(source)
    raw = source.getvalue() if hasattr(source, "getvalue") else source.read()
    return (raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)), str(getattr(source, "name", "(upload)"))


def _separator(shown: str, text: str) -> str:
    suffix = Path(shown).suffix.lower()
    if suffix in TSV_SUFFIXES:
        return "\t"
    if suffix == ".csv":
        return ","
    header = text.lstrip().split("\n", 1)[0]
    return "\t" if header.count("\t") > header.count(",") else ","


def _parse(text: str, separator: str, shown: str) -> pd.DataFrame:
    # Read as the review files are read (twin: inference.files.read_reviews_csv), with the separator chosen and
    # every cell kept as text: pair ids such as 007 stay themselves, an empty cell is "" (not NaN).
    import pandas as pd

    kind = "TSV" if separator == "\t" else "CSV"
    try:
        return pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise InputError(f"Cannot read the pairs file {shown} as {kind} ({str(error).strip()}): save it as a UTF-8 "
                         f"{kind} with {FORMAT_HINT}.") from None


def _columns(frame: pd.DataFrame, shown: str) -> dict[str, str | None]:
    from sentiment_core.inference.files import TEXT_COLUMNS  # torch loads with a model, not with the page

    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    found = {"pair": by_lower.get("pair"), "label": by_lower.get("label"), "kind": by_lower.get("kind"),
             "text": next((by_lower[c] for c in TEXT_COLUMNS if c in by_lower), None)}
    missing = [name for name in ("pair", "text", "label") if found[name] is None]
    if missing:
        listed = ", ".join(map(str, frame.columns[:10])) or "none"
        header = str(frame.columns[0]) if len(frame.columns) == 1 else ""
        hint = next((f"; the header holds {what}: if the file is {kind}-separated, name it {suffix}"
                     for mark, what, kind, suffix in (("\t", "tabs", "tab", ".tsv"), (",", "commas", "comma", ".csv"))
                     if mark in header), "")
        names = " or ".join(missing) if len(missing) < 3 else "pair, text or label"
        raise InputError(f"The pairs file {shown} has no {names} column (columns: {listed}{hint}): it needs "
                         f"{FORMAT_HINT}.")
    if frame.empty:
        raise InputError(f"The pairs file {shown} has a header but no rows: add two rows per pair, the original "
                         "then its edit.")
    return found


def _named(values: Sequence) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_NAMED])
    return shown + (f" and {len(values) - MAX_NAMED} more" if len(values) > MAX_NAMED else "")


def _pairs(ids: Sequence, verb: str = "") -> str:
    """'pair 3 has' or 'pairs 3, 5 have' (verb 'has'), naming at most MAX_NAMED."""
    one = len(ids) == 1
    verbs = {"has": "has" if one else "have", "": ""}
    return " ".join(filter(None, ["pair" if one else "pairs", _named(ids), verbs[verb]]))


def _pair_set(frame: pd.DataFrame, columns: dict, shown: str, raw: bytes, name: str | None) -> PairSet:
    from sentiment_core.data.imdb import CSV_LABELS  # the labels a data CSV takes; datasets loads on first use

    ids = frame[columns["pair"]].str.strip()
    blank = [index + 1 for index in frame.index[ids == ""]]
    if blank:
        raise InputError(f"The pairs file {shown} has rows without a pair id (row {_named(blank)} after the header): "
                         "give every row the id of its pair.")
    sizes = ids.value_counts(sort=False)
    odd = [f"{pair} ({count} row{'s' if count != 1 else ''})" for pair, count in sizes.items() if count != 2]
    if odd:
        raise InputError(f"In the pairs file {shown}, every pair needs exactly 2 rows (the original, then its edit): "
                         f"{_pairs(odd)}. Fix or drop those pairs.")
    texts = frame[columns["text"]]
    empty = list(dict.fromkeys(ids[texts.str.strip() == ""]))
    if empty:
        raise InputError(f"In the pairs file {shown}, {_pairs(empty, 'has')} an empty text: every original and "
                         "every edit needs its review text.")
    raw_labels = frame[columns["label"]].str.strip().str.lower()
    unknown = list(dict.fromkeys(raw_labels[~raw_labels.isin(list(CSV_LABELS))]))
    if unknown:
        where = list(dict.fromkeys(ids[~raw_labels.isin(list(CSV_LABELS))]))
        raise InputError(f"In the pairs file {shown}, the label column holds {_named([repr(v) for v in unknown])} "
                         f"({_pairs(where)}): use negative or positive (neg/pos and 0/1 are accepted too).")
    labels = raw_labels.map(CSV_LABELS)
    kinds = frame[columns["kind"]].str.strip() if columns["kind"] is not None else None
    rows: dict[str, list[int]] = {}
    for index, pair in zip(frame.index, ids):
        rows.setdefault(pair, []).append(index)
    pairs = []
    for pair, (first, second) in rows.items():
        kind = (kinds[second] or kinds[first] or None) if kinds is not None else None  # the edit's, else the original's
        pairs.append(Pair(pair, str(texts[first]), str(texts[second]), int(labels[first]), int(labels[second]), kind))
    return PairSet(name=name or Path(shown).stem or "pairs", file=shown, sha256=hashlib.sha256(raw).hexdigest(),
                   pairs=pairs, has_kinds=kinds is not None)


# --- scoring ----------------------------------------------------------------------------

def check_readable(predictor, pair_set: PairSet) -> None:
    """An InputError naming the pairs with a text this model reads no word of (before anything is predicted)."""
    unreadable = []
    for pair in pair_set.pairs:
        try:
            predictor.encode(pair.original)
            predictor.encode(pair.edit)
        except InputError:
            unreadable.append(pair.pair)
    if unreadable:
        raise InputError(f"In the pairs file {pair_set.file}, {_pairs(unreadable, 'has')} a text with no word this "
                         "model can read (invisible characters only?): fix or drop those pairs.")


def _group(rows: list[tuple[Pair, bool, bool]]) -> dict:
    n = len(rows)
    originals, edits = sum(r[1] for r in rows), sum(r[2] for r in rows)
    consistent = sum(r[1] and r[2] for r in rows)
    return {"pairs": n, "original_correct": originals, "edit_correct": edits, "consistent": consistent,
            "label_kept": sum(r[0].original_label == r[0].edit_label for r in rows),
            "original_accuracy": originals / n, "edit_accuracy": edits / n, "consistency": consistent / n}


def score_pairs(predictor, pair_set: PairSet, batch_size: int = 64, progress: Progress | None = None,
                model: str | None = None, fingerprint: str | None = None) -> PairsResult:
    """Predict both texts of every pair (one batched pass, `progress(done, total)` in texts) and score them.

    predictor: an `inference.Predictor`, or anything with its `encode(text)` and
    `predict(texts, batch_size=, progress=, batch=)`.
    """
    check_readable(predictor, pair_set)
    texts = [text for pair in pair_set.pairs for text in (pair.original, pair.edit)]
    started = time.perf_counter()
    predictions = predictor.predict(texts, batch_size=batch_size, progress=progress, batch=True)
    seconds = time.perf_counter() - started
    rows, inconsistent = [], []
    for index, pair in enumerate(pair_set.pairs):
        first, second = predictions[2 * index], predictions[2 * index + 1]
        original_right = first.label == LABELS[pair.original_label]
        edit_right = second.label == LABELS[pair.edit_label]
        rows.append((pair, original_right, edit_right))
        if not (original_right and edit_right):
            inconsistent.append({"pair": pair.pair, "kind": pair.kind, "original": _answer(pair.original,
                                 pair.original_label, first), "edit": _answer(pair.edit, pair.edit_label, second)})
    kinds = []
    if pair_set.has_kinds:
        for kind in dict.fromkeys(r[0].kind for r in rows):
            kinds.append({"kind": kind, **_group([r for r in rows if r[0].kind == kind])})
    overall = _group(rows)
    notes = []
    if overall["label_kept"]:
        notes.append(f"{overall['label_kept']} of {overall['pairs']} pairs keep the original's label (their edit "
                     "does not flip it): they count like the others, and a model that ignores the edit gets them "
                     "right.")
    if any(k["kind"] is None for k in kinds):
        notes.append("Pairs with an empty kind are counted under kind none.")
    return PairsResult(name=pair_set.name, file=pair_set.file, sha256=pair_set.sha256,
                       model=model or getattr(predictor, "name", None) or type(predictor).__name__, all=overall,
                       kinds=kinds, inconsistent_count=len(inconsistent), inconsistent=inconsistent[:MAX_LISTED],
                       notes=notes, seconds=round(seconds, 3), scored=runs.now_iso(), fingerprint=fingerprint)


def _answer(text: str, label: int, prediction) -> dict:
    return {"text": text, "label": LABELS[label], "predicted": prediction.label,
            "probability": float(prediction.probability)}


# --- a run's pairs.json -----------------------------------------------------------------

def run_pairs(run_id: str) -> list[PairsResult]:
    """The pairs files scored on a run (its `pairs.json`), in the order they were first scored; [] when none."""
    path = runs.run_path(run_id) / PAIRS_FILE
    try:
        payload = runs.read_json(path) or {}
    except RunError:
        raise RunError(f"{path} is corrupted: delete it (the run's other files do not depend on it) and score the "
                       "pairs again.") from None
    return [PairsResult.from_dict(entry) for entry in payload.get("sets", [])]


def save_pairs(run_dir: Path, result: PairsResult) -> Path:
    """Add `result` to the run's pairs.json (replacing an entry of the same name), atomically."""
    run_dir = Path(run_dir)
    kept = [entry for entry in run_pairs(run_dir.name) if entry.name != result.name]
    path = run_dir / PAIRS_FILE
    runs.write_json(path, {"version": PAIRS_VERSION, "sets": [e.to_dict() for e in [*kept, result]]})
    return path


def pairs_for_run(run_id: str, pair_set: PairSet, progress: Progress | None = None,
                  batch_size: int = 64) -> PairsResult:
    """Score a checked pairs file with a finished run's model (as the run reads: its label mapping and long-text
    setting) and keep the result in the run's pairs.json; nothing else in the run changes."""
    from sentiment_core.inference.sources import load_run  # torch loads only when a model does

    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise RunNotFoundError(f"No run {run_id!r} in {runs.models_dir()}: pick one from "
                               "`python -m sentiment_core runs list`.")
    state = runs.effective_status(run_dir).get("state", "unknown")
    if state != "finished":
        raise RunError(f"Run {run_id!r} is {state}: paired edits are scored with a finished run's model; wait for "
                       "it to finish, or pick another run.")
    run_pairs(run_id)  # a corrupted pairs.json is refused before the model loads
    predictor = load_run(run_id)
    result = score_pairs(predictor, pair_set, batch_size=batch_size, progress=progress, model=run_id,
                         fingerprint=run_fingerprint(run_id))
    save_pairs(run_dir, result)
    return result


def is_stale(result: PairsResult, run_id: str) -> bool:
    """The run's model changed since `result` was scored (a resumed or retrained run)."""
    return result.fingerprint is not None and result.fingerprint != run_fingerprint(run_id)


def summary(result: PairsResult) -> dict:
    """What the command line prints: the rates overall and per kind, rounded, and the inconsistent pair ids."""
    def rates(group: dict) -> dict:
        return {"pairs": group["pairs"], **{k: round(group[k], 4) for k in
                                            ("original_accuracy", "edit_accuracy", "consistency")}}

    shown = {"set": result.name, **rates(result.all), "label_kept": result.all["label_kept"]}
    if result.kinds:
        shown["per_kind"] = {str(k["kind"]) if k["kind"] is not None else "none": rates(k) for k in result.kinds}
    shown["inconsistent_pairs"] = [entry["pair"] for entry in result.inconsistent]
    if result.inconsistent_count > len(result.inconsistent):
        shown["inconsistent_pairs_total"] = result.inconsistent_count
    return shown



def pairs_table(results: Mapping[str, PairsResult]) -> pd.DataFrame:
    """One pairs file on one or more runs: a row for all pairs, then one per kind (in file order); pairs and
    label_kept (from the first run), then per run its accuracy on the originals, on the edits, and consistency (columns
    `originals (<run>)`, `edits (<run>)`, `consistency (<run>)`)."""
    import pandas as pd

    table = None
    for run_id, result in results.items():
        rows = [{"kind": "all pairs", **result.all}] + [
            {**k, "kind": "none" if k["kind"] is None else k["kind"]} for k in result.kinds]
        frame = pd.DataFrame(rows).set_index("kind")
        rates = frame[list(RATE_NAMES)].rename(columns={k: f"{name} ({run_id})" for k, name in RATE_NAMES.items()})
        table = frame[["pairs", "label_kept"]].join(rates) if table is None else table.join(rates)
    return table.reset_index()
