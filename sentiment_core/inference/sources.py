"""Model sources: a run id, a local checkpoint folder or a hub id -> a cached `Predictor`.

A source is written one of three ways:
- a run id under SENTIMENT_MODELS_DIR (`bow-bce-20250101-120000-000`): the run's `best/` model;
- a local folder holding a saved sequence-classification checkpoint (`config.json`, safetensors
  weights, tokenizer): an export of this project, a run's `best/` folder, or any Hugging Face
  model fine-tuned anywhere (`~/models/my-bert-imdb`);
- a Hugging Face hub id `org/name`, optionally `@revision` (a branch, tag or commit):
  downloaded once into the normal Hugging Face cache, then read from there.
An existing run or folder wins over a hub id of the same spelling.

`load_predictor` is what every surface calls. Loaded models stay resident, at most
SENTIMENT_MAX_LOADED_MODELS of them, the least recently used dropped first; the cache key holds
the files' modification times, so a retrained run or a rewritten folder loads again.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sentiment_core.core import runs
from sentiment_core.core.errors import ModelSourceError, RunError
from sentiment_core.inference.predictor import Predictor, check_no_remote_code, check_weight_files
from sentiment_core.core.settings import get_settings, resolve_device

KINDS = ("run", "folder", "hub")
HUB_ID_RE = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
HUB_TIMEOUT_SECONDS = 2.0  # the reachability check: an offline machine fails at once
# What a download fetches: the config, the tokenizer's files and the weights (nothing else: no
# TensorFlow/Flax/ONNX copies, no code).
HUB_CONFIG_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "*.model")
HUB_SAFETENSORS_FILES = ("model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json")
HUB_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model-*-of-*.bin", "pytorch_model.bin.index.json")
SOURCE_FORMS = (
    "a run id (python -m sentiment_core runs list), a local folder with a saved model (config.json, "
    "model.safetensors, tokenizer), or a Hugging Face hub id org/name[@revision]"
)
# Well-known sentiment checkpoints to offer a newcomer. Sizes are the approximate download of the
# config, tokenizer and weights (`hub_model_info` gives the exact figure, and whether the repository
# has safetensors weights, when the hub is reachable).
SUGGESTED_HUB_MODELS = (
    {"id": "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "labels": "NEGATIVE, POSITIVE",
     "approx_mb": 270, "note": "DistilBERT fine-tuned on SST-2 movie-review sentences"},
    {"id": "siebert/sentiment-roberta-large-english", "labels": "NEGATIVE, POSITIVE",
     "approx_mb": 1420, "note": "RoBERTa-large fine-tuned on 15 sentiment datasets; slow on a CPU"},
    {"id": "cardiffnlp/twitter-roberta-base-sentiment-latest", "labels": "negative, neutral, positive",
     "approx_mb": 500, "note": "RoBERTa-base trained on tweets, three classes"},
    {"id": "nlptown/bert-base-multilingual-uncased-sentiment", "labels": "1 star ... 5 stars",
     "approx_mb": 670, "note": "multilingual BERT on product reviews, star ratings"},
)


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. value: the run id, the absolute folder path, or the hub repo id;
    revision: the requested hub revision (None: the default branch)."""

    kind: str
    value: str
    revision: str | None = None

    @property
    def text(self) -> str:
        """The source as a user writes it."""
        return f"{self.value}@{self.revision}" if self.revision else self.value

    def to_dict(self) -> dict:
        return {**asdict(self), "text": self.text}


def parse_source(text: str | Path | ModelSource) -> ModelSource:
    """Which kind of source `text` names (see the module docstring); ModelSourceError when none."""
    if isinstance(text, ModelSource):
        return text
    raw = str(text).strip() if text is not None else ""
    if not raw:
        raise ModelSourceError(f"No model source given: give {SOURCE_FORMS}.")
    if runs.RUN_ID_PATTERN.match(raw) and ".." not in raw and raw not in runs.RESERVED_NAMES \
            and runs.run_path(raw).is_dir():
        return ModelSource("run", raw)
    path = Path(raw).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(
                f"The folder {raw} holds no config.json, so it is not a saved model: give the folder "
                "save_pretrained() wrote (config.json, model.safetensors and the tokenizer files)."
            )
        return ModelSource("folder", str(path.resolve()))
    if path.exists():
        raise ModelSourceError(f"{raw} is a file, not a model: give the folder that holds config.json and the weights.")
    match = HUB_ID_RE.match(raw)
    if match and not raw.startswith((".", "/", "~")):
        return ModelSource("hub", match["repo"], match["revision"])
    if runs.RUN_ID_PATTERN.match(raw):
        raise ModelSourceError(f"No run {raw!r} in {runs.models_dir()}, and no folder of that name here: pick a run "
                               f"from `python -m sentiment_core runs list`, or give {SOURCE_FORMS}.")
    problem = ("there is no such folder, and it is not a hub id (org/name or org/name@revision)"
               if "/" in raw or "\\" in raw else "it is neither a run id, a folder nor a hub id")
    raise ModelSourceError(f"Unknown model source {raw!r}: {problem}. Give {SOURCE_FORMS}.")


def load_predictor(source: str | Path | ModelSource, labels: str | None = None, device: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Predictor:
    """The Predictor for `source` (cached). labels: a --labels mapping (`labels.py`; default: a run's
    saved mapping, else inferred from the model's labels). progress(done_bytes, total_bytes) follows
    a hub download."""
    source = parse_source(source)
    device = resolve_device(device)
    if source.kind == "run":
        return _load_run(source, labels, device)
    if source.kind == "folder":
        folder = Path(source.value)
        key = ("folder", str(folder), _folder_stamp(folder), labels, device)
        return _cached(key, lambda: _with_source(Predictor.from_folder(folder, device=device, labels=labels), source))
    folder, commit = fetch_hub_model(source, progress)
    key = ("hub", str(folder), labels, device)  # a snapshot folder is named by its commit: never rewritten
    return _cached(key, lambda: _with_source(Predictor.from_folder(folder, device=device, labels=labels),
                                             source, commit))


def _with_source(predictor: Predictor, source: ModelSource, revision: str | None = None) -> Predictor:
    predictor.source, predictor.revision = source, revision
    return predictor


def _load_run(source: ModelSource, labels: str | None, device: str) -> Predictor:
    run_id = source.value
    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise runs.RunNotFoundError(
            f"No run {run_id!r} in {runs.models_dir()}: pick one from `python -m sentiment_core runs list`.")
    folder = run_dir / runs.BEST_DIR
    if not (folder / "config.json").exists():
        state = runs.effective_status(run_dir).get("state", "unknown")
        raise RunError(
            f"Run {run_id!r} has no trained model yet (state: {state}): wait for it to finish, "
            "resume it, or pick a finished run."
        )
    config = runs.read_config(run_dir)
    labels = labels or config.get("labels") or None  # an evaluation run keeps the mapping it was scored with
    key = ("run", str(folder.resolve()), _folder_stamp(folder), config["model"], int(config["max_length"]), labels, device)

    def load() -> Predictor:
        try:
            predictor = Predictor.from_folder(folder, family=config["model"], max_length=int(config["max_length"]),
                                              device=device, run_id=run_id, labels=labels)
        except ModelSourceError as error:
            raise RunError(
                f"Cannot load the model of run {run_id!r} ({error}); the run may be half-written or "
                "corrupted: retrain it or pick another run."
            ) from None
        predictor.long_text = config.get("long_text") or "truncate"  # read as the run was trained or evaluated
        predictor.head_tokens, predictor.window_stride = config.get("head_tokens"), config.get("window_stride")
        return _with_source(predictor, source, config.get("revision"))

    return _cached(key, load)


def _folder_stamp(folder: Path) -> tuple:
    """Name, size and modification time of each file in the folder: a rewritten model changes it."""
    stamp = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            info = path.stat()
            stamp.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(stamp)


# --- resident models --------------------------------------------------------------------------

_RESIDENT: OrderedDict[tuple, Predictor] = OrderedDict()
_RESIDENT_LOCK = threading.Lock()


def _cached(key: tuple, load: Callable[[], Predictor]) -> Predictor:
    """The predictor for `key`, loaded once; the least recently used is dropped past the limit."""
    with _RESIDENT_LOCK:  # one load at a time: two requests for a model must not load it twice
        if key in _RESIDENT:
            _RESIDENT.move_to_end(key)
            return _RESIDENT[key]
        predictor = load()
        _RESIDENT[key] = predictor
        while len(_RESIDENT) > get_settings().max_loaded_models:
            _RESIDENT.popitem(last=False)
        return predictor


def loaded_models() -> list[dict]:
    """The resident models, most recently used last: source, kind, family, device, run id, labels."""
    with _RESIDENT_LOCK:
        predictors = list(_RESIDENT.values())
    return [{"source": p.source.text if p.source else None, "kind": p.source.kind if p.source else None,
             "revision": p.revision, "family": p.family, "run_id": p.run_id, "device": p.device,
             "max_length": p.max_length, "labels": p.label_map.to_dict()} for p in predictors]


def clear_loaded_models() -> None:
    """Drop every resident model (tests, or to free memory)."""
    with _RESIDENT_LOCK:
        _RESIDENT.clear()


# --- the hub ----------------------------------------------------------------------------------

def _unreachable(source: ModelSource) -> ModelSourceError:
    name = source.value.split("/")[-1]
    return ModelSourceError(
        f"The Hugging Face hub is unreachable from this machine, so {source.text!r} cannot be downloaded. "
        f"Use a local folder instead: on a machine with internet run `hf download {source.value} --local-dir "
        f"{name}` (huggingface-cli download in older versions), or save_pretrained() the model and its tokenizer "
        "there; copy the folder here and give its path. If the model is already in your Hugging Face cache, "
        "set HF_HUB_OFFLINE=1 to read it from there."
    )


def _hub_patterns(use_safetensors: bool) -> tuple[str, ...]:
    return HUB_CONFIG_FILES + (HUB_SAFETENSORS_FILES if use_safetensors else HUB_PICKLE_FILES)


def hub_model_info(source: str | ModelSource) -> dict:
    """What a hub model would download: its commit, files, total bytes and whether it has safetensors
    weights (needs the hub: ModelSourceError when unreachable or unknown)."""
    from huggingface_hub import HfApi

    source = parse_source(source)
    if source.kind != "hub":
        raise ModelSourceError(f"{source.text!r} is a {source.kind}, not a hub id.")
    _require_hub(source)
    try:
        info = HfApi().model_info(source.value, revision=source.revision, files_metadata=True)
    except Exception as error:
        raise _hub_error(source, error) from None
    names = {s.rfilename: s.size or 0 for s in info.siblings or [] if "/" not in s.rfilename}
    safetensors = any(fnmatch.fnmatch(n, p) for n in names for p in HUB_SAFETENSORS_FILES)
    files = [n for n in names if any(fnmatch.fnmatch(n, p) for p in _hub_patterns(safetensors))]
    return {"id": source.value, "revision": info.sha, "files": files, "has_safetensors": safetensors,
            "download_bytes": sum(names[n] for n in files), "all_files": sorted(names)}


def fetch_hub_model(source: ModelSource, progress: Callable[[int, int], None] | None = None) -> tuple[Path, str]:
    """Download (or find in the cache) a hub model's config, tokenizer and weights. -> (folder, commit)

    Checks before downloading the weights: the config asks for no remote code and the repository
    has safetensors weights (or the user allowed pickles). progress(done_bytes, total_bytes).
    """
    from huggingface_hub import constants, hf_hub_download, snapshot_download

    if constants.HF_HUB_OFFLINE:  # the user asked for the local cache only
        try:
            folder = Path(snapshot_download(source.value, revision=source.revision, local_files_only=True,
                                            allow_patterns=list(_hub_patterns(True) + HUB_PICKLE_FILES)))
        except Exception:
            raise ModelSourceError(
                f"HF_HUB_OFFLINE is set and {source.text!r} is not in the Hugging Face cache "
                f"({constants.HF_HUB_CACHE}): unset HF_HUB_OFFLINE on a machine with internet to download it, "
                "or give a local folder holding the model."
            ) from None
        where = f"The hub model {source.text!r}"
        check_no_remote_code(_json(folder / "config.json"), where)
        check_weight_files([p.name for p in folder.iterdir()], where)
        return folder, folder.name
    info = hub_model_info(source)
    where = f"The hub model {source.text!r}"
    use_safetensors = check_weight_files(info["all_files"], where)
    commit = info["revision"]
    try:
        config_path = Path(hf_hub_download(source.value, "config.json", revision=commit))
        check_no_remote_code(_json(config_path), where)
        files = [n for n in info["files"] if any(fnmatch.fnmatch(n, p) for p in _hub_patterns(use_safetensors))]
        done, total = 0, max(1, info["download_bytes"])
        for name in files:
            bar = _progress_bar(progress, done, total) if progress else None
            hf_hub_download(source.value, name, revision=commit, tqdm_class=bar)
            done += _size(config_path.parent / name)
            if progress:
                progress(min(done, total), total)
    except ModelSourceError:
        raise
    except Exception as error:
        raise _hub_error(source, error) from None
    return config_path.parent, commit


def _require_hub(source: ModelSource) -> None:
    from huggingface_hub import constants

    from sentiment_core.data.imdb import hub_reachable

    if constants.HF_HUB_OFFLINE or not hub_reachable(timeout=HUB_TIMEOUT_SECONDS):
        raise _unreachable(source)


def _hub_error(source: ModelSource, error: Exception) -> ModelSourceError:
    from huggingface_hub import errors

    if isinstance(error, errors.GatedRepoError):
        problem = "it is gated: accept its terms on the hub and log in with `hf auth login`"
    elif isinstance(error, errors.RepositoryNotFoundError):
        problem = "no such model on the hub (or it is private: log in with `hf auth login`)"
    elif isinstance(error, errors.RevisionNotFoundError):
        problem = f"it has no revision {source.revision!r}: give a branch, tag or commit it has"
    else:
        problem = f"{type(error).__name__}: {error}"
    return ModelSourceError(f"Cannot download the hub model {source.text!r}: {problem}.")


def _json(path: Path) -> dict:
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelSourceError(f"Cannot read {Path(path).name} of the model ({error}): download it again.") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _progress_bar(progress: Callable[[int, int], None], done_before: int, total: int):
    """A tqdm class for one file's download that also reports the bytes so far to `progress`."""
    from tqdm.auto import tqdm

    class Bar(tqdm):
        def update(self, n=1):
            shown = super().update(n)
            progress(min(done_before + int(self.n), total), total)
            return shown

    return Bar
