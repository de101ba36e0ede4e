"""Load the IMDB reviews from any supported source into a `datasets.DatasetDict`.

Sources (detected from the value of `IMDB_DATA` or the `source` argument):
- a Hugging Face hub dataset id such as `stanfordnlp/imdb`;
- a folder of parquet files in the hub layout (`train.parquet`/`test.parquet`, or
  `*/train-*.parquet`/`*/test-*.parquet`), columns `text` and `label` (0 = neg, 1 = pos);
- an `aclImdb` folder as the Stanford tarball unpacks (`train/pos/<id>_<rating>.txt`);
- a CSV file with `review` and `sentiment` (positive/negative) columns, the Kaggle 50k
  layout. An optional `split` column (train/test) is honoured; without one the rows are
  split 50/50 into train and test, stratified and seeded, like the original dataset.

Every source returns `train`, `validation` (split off train, stratified, seeded) and `test`
with features `text`, `label` (`ClassLabel(names=["neg", "pos"])`) and `rating` when known.
"""

from __future__ import annotations

import hashlib
import math
import re
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import datasets
import numpy as np
import pandas as pd

from sentiment_core.core.errors import DataSourceError, SettingsError
from sentiment_core.core.settings import get_settings

LABEL_NAMES = ["neg", "pos"]
SPLITS = ("train", "validation", "test")
HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
ACL_FILE_PATTERN = re.compile(r"^\d+_(\d+)\.txt$")
CSV_LABELS = {"positive": 1, "pos": 1, "1": 1, "negative": 0, "neg": 0, "0": 0}


def load_imdb(
    source: str | Path | None = None,
    validation_fraction: float | None = None,
    seed: int | None = None,
) -> datasets.DatasetDict:
    """Load IMDB as `train` / `validation` / `test` (cached per source, fraction and seed)."""
    settings = get_settings()
    source = str(source if source is not None else settings.imdb_data).strip()
    fraction = settings.validation_fraction if validation_fraction is None else validation_fraction
    seed = settings.seed if seed is None else seed
    if not source:
        raise DataSourceError(source, "the source is empty.")
    if not 0.0 < fraction < 1.0:
        raise SettingsError(
            f"validation_fraction must be between 0 and 1 (exclusive), got {fraction}: "
            "set SENTIMENT_VALIDATION_FRACTION to e.g. 0.1."
        )
    return _load_cached(source, _source_stamp(source), float(fraction), int(seed))


def describe_source(source: str | Path | None = None) -> str:
    """Name the kind of source, e.g. 'parquet folder ~/data/imdb'."""
    source = str(source if source is not None else get_settings().imdb_data).strip()
    return f"{_detect_kind(source)} {source}"


def source_record(source: str | Path | None = None) -> dict:
    """What a run, a comparison or an export records about its data: the source as resolved (IMDB_DATA
    when none was given), its kind, and per split the rows and a fingerprint (sha256 of the texts and
    labels, first 16 hex digits), so a model card names the data and a later run can tell it is the same."""
    settings = get_settings()
    resolved = str(source if source is not None else settings.imdb_data).strip()
    dataset = load_imdb(resolved)
    kind = _detect_kind(resolved)
    where = resolved if kind == "hub id" else str(Path(resolved).expanduser().resolve())
    return {"source": where, "kind": kind, "validation_fraction": settings.validation_fraction, "seed": settings.seed,
            "splits": {split: {"rows": dataset[split].num_rows, "fingerprint": _fingerprint(dataset[split])}
                       for split in SPLITS}}


def _fingerprint(split: datasets.Dataset) -> str:
    """sha256 of a split's texts and labels in order (first 16 hex digits)."""
    digest = hashlib.sha256()
    table = split.with_format("arrow")[:]
    for text in table["text"].to_pylist():
        digest.update(text.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    digest.update(np.asarray(table["label"].to_numpy(zero_copy_only=False), dtype=np.int8).tobytes())
    return digest.hexdigest()[:16]


def split_counts(dataset: datasets.DatasetDict) -> pd.DataFrame:
    """Rows per split and label: columns split, rows, neg, pos."""
    rows = []
    for split in SPLITS:
        labels = pd.Series(column(dataset[split], "label"))
        counts = labels.value_counts()
        rows.append(
            {
                "split": split,
                "rows": int(len(labels)),
                **{name: int(counts.get(i, 0)) for i, name in enumerate(LABEL_NAMES)},
            }
        )
    return pd.DataFrame(rows)


def data_info(source: str | Path | None = None) -> dict:
    """What `data info` prints: the source and, per split, rows and the count of each label."""
    dataset = load_imdb(source)
    counts = split_counts(dataset)
    return {
        "source": describe_source(source),
        "features": sorted(dataset["train"].features),
        "splits": {
            row.split: {"rows": row.rows, **{name: getattr(row, name) for name in LABEL_NAMES}}
            for row in counts.itertuples()
        },
    }


# --- detection -------------------------------------------------------------------------

def _looks_like_path(source: str) -> bool:
    return (
        source.startswith((".", "/", "~", "\\"))
        or source.lower().endswith((".csv", ".parquet"))
        or Path(source).expanduser().exists()
        or source.count("/") > 1
        or not HUB_ID_PATTERN.match(source)
    )


def _detect_kind(source: str) -> str:
    if not _looks_like_path(source):
        return "hub dataset"
    path = Path(source).expanduser()
    if path.is_file():
        return "CSV file" if path.suffix.lower() == ".csv" else "file"
    if _acl_root(path) is not None:
        return "aclImdb folder"
    return "parquet folder" if path.is_dir() else "path"


def _source_stamp(source: str) -> float:
    """Modification time of a local source, so the cache notices a changed file."""
    path = Path(source).expanduser()
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=8)
def _load_cached(source: str, stamp: float, fraction: float, seed: int) -> datasets.DatasetDict:
    raw = _load_train_test(source, seed)
    raw = datasets.DatasetDict(
        {split: _standardise(ds, source) for split, ds in raw.items()}
    )
    _check_not_empty(raw, source)
    try:
        train, validation = stratified_split(raw["train"], fraction, seed)
    except ValueError as error:
        raise DataSourceError(
            source,
            f"the train split ({raw['train'].num_rows} rows) is too small to hold out a "
            f"stratified validation share of {fraction} ({error}).",
            "Use a larger dataset or change SENTIMENT_VALIDATION_FRACTION.",
        ) from None
    return datasets.DatasetDict({"train": train, "validation": validation, "test": raw["test"]})


def column(dataset: datasets.Dataset, name: str) -> list:
    """One column as a list, read in one go (iterating `dataset[name]` converts it row by row)."""
    return dataset.with_format("arrow")[:][name].to_pylist()


def seeded_subset(dataset: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset of `n` rows (the whole split when `n` is None or not smaller): the rows a run
    with `--max-*-samples n --seed seed` trains, validates or tests on."""
    if n is None or n >= dataset.num_rows:
        return dataset
    return dataset.shuffle(seed=seed).select(range(n))


def stratified_split(dataset: datasets.Dataset, fraction: float,
                     seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """The rows `dataset.train_test_split(test_size=fraction, stratify_by_column="label", seed=seed)`
    gives (train, held out), without its slow row-by-row read of the labels."""
    from datasets.utils.stratify import stratified_shuffle_split_generate_indices

    labels = np.asarray(column(dataset, "label"))
    n_test = math.ceil(fraction * len(labels))
    n_train = len(labels) - n_test
    if n_train == 0 or n_test == 0:
        raise ValueError(f"{len(labels)} rows leave {n_train} to train on and {n_test} to hold out")
    try:
        train, held_out = next(stratified_shuffle_split_generate_indices(
            labels, n_train, n_test, rng=np.random.default_rng(seed)))
    except ValueError as error:
        raise ValueError(f"a class has too few rows to split ({error})") from None
    return dataset.select(train), dataset.select(held_out)


def _load_train_test(source: str, seed: int) -> dict[str, datasets.Dataset]:
    if not _looks_like_path(source):
        return _load_hub(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataSourceError(source, "this path does not exist.")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataSourceError(
                source, f"a single {path.suffix or 'extension-less'} file is not a supported source."
            )
        return _load_csv(path, source, seed)
    acl_root = _acl_root(path)
    if acl_root is not None:
        return _load_acl(acl_root, source)
    return _load_parquet_folder(path, source)


# --- loaders ---------------------------------------------------------------------------

def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers (one socket connect, `timeout` seconds at most), so an offline
    machine fails at once instead of after minutes of retries; True under HF_HUB_OFFLINE=1 (the local cache
    is then used on purpose)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True  # the user asked for the local cache: let datasets try it
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_cache_hint(what: str) -> str:
    """The last sentence of an offline error: read `what` from the Hugging Face cache with HF_HUB_OFFLINE=1, or,
    when that is already set, what it means that it failed."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return (f"HF_HUB_OFFLINE is set, and {what} is not in your Hugging Face cache ({constants.HF_HUB_CACHE}): "
                "unset HF_HUB_OFFLINE on a machine with internet to download it there.")
    return f"If {what} is already in your Hugging Face cache, set HF_HUB_OFFLINE=1 to read it from there."


def _load_hub(source: str) -> dict[str, datasets.Dataset]:
    offline_fix = (
        "Download the dataset where you have internet (e.g. the aclImdb tarball from "
        "https://ai.stanford.edu/~amaas/data/sentiment/, or `datasets.load_dataset('stanfordnlp/imdb')` "
        "saved with `.to_parquet`) and point IMDB_DATA at the local copy (an aclImdb folder, or a folder "
        f"with train.parquet and test.parquet). {hub_cache_hint('the dataset')}"
    )
    if not hub_reachable():
        raise DataSourceError(
            source, "the Hugging Face hub is unreachable from this machine (no network).", offline_fix
        )
    try:
        loaded = datasets.load_dataset(source)
    except (ConnectionError, OSError) as error:
        raise DataSourceError(
            source, f"the Hugging Face hub could not be reached ({error}).", offline_fix
        ) from None
    except Exception as error:  # datasets raises many types for a bad id
        raise DataSourceError(
            source, f"the hub could not provide this dataset ({type(error).__name__}: {error})."
        ) from None
    missing = {"train", "test"} - set(loaded)
    if missing:
        raise DataSourceError(
            source, f"the hub dataset has no {', '.join(sorted(missing))} split (it has {sorted(loaded)})."
        )
    return {"train": loaded["train"], "test": loaded["test"]}


def _find_parquet(folder: Path, split: str) -> list[Path]:
    direct = folder / f"{split}.parquet"
    if direct.is_file():
        return [direct]
    return sorted(folder.rglob(f"{split}-*.parquet")) + sorted(
        p for p in folder.rglob(f"{split}.parquet") if p != direct
    )


def _load_parquet_folder(folder: Path, source: str) -> dict[str, datasets.Dataset]:
    if not any(folder.iterdir()):
        raise DataSourceError(source, "the folder is empty.")
    files = {split: _find_parquet(folder, split) for split in ("train", "test")}
    missing = [split for split, found in files.items() if not found]
    if missing:
        raise DataSourceError(
            source,
            f"the folder has no parquet file for {' and '.join(missing)} "
            "(expected train.parquet and test.parquet, or an aclImdb tree with train/pos).",
        )
    try:
        loaded = datasets.load_dataset(
            "parquet", data_files={k: [str(p) for p in v] for k, v in files.items()}
        )
    except Exception as error:
        raise DataSourceError(
            source, f"the parquet files could not be read ({type(error).__name__}: {error})."
        ) from None
    return {split: loaded[split] for split in ("train", "test")}


def _acl_root(path: Path) -> Path | None:
    for root in (path, path / "aclImdb"):
        if (root / "train" / "pos").is_dir() or (root / "train" / "neg").is_dir():
            return root
    return None


def _load_acl(root: Path, source: str) -> dict[str, datasets.Dataset]:
    splits = {}
    for split in ("train", "test"):
        rows: dict[str, list] = {"text": [], "label": [], "rating": []}
        for label, name in enumerate(LABEL_NAMES):
            folder = root / split / name
            if not folder.is_dir():
                continue
            for file in sorted(folder.iterdir()):
                match = ACL_FILE_PATTERN.match(file.name)
                if not match:
                    continue
                rows["text"].append(file.read_text(encoding="utf-8", errors="replace"))
                rows["label"].append(label)
                rows["rating"].append(int(match.group(1)))
        if not rows["text"]:
            raise DataSourceError(
                source,
                f"the aclImdb folder {root} has no reviews in {split}/pos or {split}/neg "
                "(files named <id>_<rating>.txt).",
                "Unpack the full Stanford tarball (aclImdb_v1.tar.gz) and point IMDB_DATA at it.",
            )
        splits[split] = datasets.Dataset.from_dict(rows)
    return splits


def _load_csv(path: Path, source: str, seed: int) -> dict[str, datasets.Dataset]:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise DataSourceError(
            source, f"the CSV could not be read ({type(error).__name__}: {error})."
        ) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    text_col = next((c for c in ("review", "text") if c in frame.columns), None)
    label_col = next((c for c in ("sentiment", "label") if c in frame.columns), None)
    if text_col is None or label_col is None:
        raise DataSourceError(
            source,
            f"the CSV needs a 'review' and a 'sentiment' column; it has {list(frame.columns)}.",
            "Rename the columns (the Kaggle IMDB 50k layout is review,sentiment) or point IMDB_DATA elsewhere.",
        )
    if frame.empty:
        raise DataSourceError(source, "the CSV has a header but no rows.")
    raw_labels = frame[label_col].str.strip().str.lower()
    unknown = sorted(set(raw_labels) - set(CSV_LABELS))
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise DataSourceError(
            source,
            f"the '{label_col}' column holds values other than positive/negative: {shown}.",
            "Keep only rows labelled positive or negative (pos/neg and 1/0 are accepted too).",
        )
    table = pd.DataFrame({"text": frame[text_col], "label": raw_labels.map(CSV_LABELS).astype("int64")})
    if "rating" in frame.columns:
        table["rating"] = pd.to_numeric(frame["rating"], errors="coerce").fillna(-1).astype("int64")
    if "split" in frame.columns:
        split = frame["split"].str.strip().str.lower()
        bad = sorted(set(split) - {"train", "test"})
        if bad:
            raise DataSourceError(
                source, f"the 'split' column holds values other than train/test: {bad[:5]}.",
                "Use train or test in the split column, or drop it to split 50/50.",
            )
        return {
            name: datasets.Dataset.from_pandas(table[split == name], preserve_index=False)
            for name in ("train", "test")
        }
    whole = _standardise(datasets.Dataset.from_pandas(table, preserve_index=False), source)
    try:
        halves = whole.train_test_split(test_size=0.5, stratify_by_column="label", seed=seed)
    except ValueError as error:
        raise DataSourceError(
            source, f"the CSV has too few rows ({len(table)}) to split into train and test ({error})."
        ) from None
    return {"train": halves["train"], "test": halves["test"]}


# --- normalisation ---------------------------------------------------------------------

def _standardise(dataset: datasets.Dataset, source: str) -> datasets.Dataset:
    """Keep text, label (ClassLabel neg/pos) and rating; cast types; check labels."""
    missing = {"text", "label"} - set(dataset.column_names)
    if missing:
        raise DataSourceError(
            source,
            f"the data has no {', '.join(sorted(missing))} column (columns: {dataset.column_names}).",
        )
    keep = [c for c in ("text", "label", "rating") if c in dataset.column_names]
    dataset = dataset.select_columns(keep)
    label_feature = dataset.features["label"]
    if not isinstance(label_feature, datasets.ClassLabel):
        values = set(dataset.unique("label"))
        if not values <= {0, 1}:
            raise DataSourceError(
                source,
                f"labels must be 0 (neg) or 1 (pos); found {sorted(values, key=str)[:5]}.",
            )
    elif label_feature.names != LABEL_NAMES:
        raise DataSourceError(
            source, f"labels are {label_feature.names}, expected {LABEL_NAMES}."
        )
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=LABEL_NAMES),
            **({"rating": datasets.Value("int64")} if "rating" in keep else {}),
        }
    )
    return dataset.cast(features)


def _check_not_empty(raw: datasets.DatasetDict, source: str) -> None:
    for split, dataset in raw.items():
        if dataset.num_rows == 0:
            raise DataSourceError(source, f"the {split} split has no rows.")
