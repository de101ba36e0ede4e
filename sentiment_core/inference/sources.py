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

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sentiment_core.core import runs
from sentiment_core.core.errors import LabelMappingError, ModelSourceError, RunError
from sentiment_core.core.settings import get_settings, resolve_device
from sentiment_core.inference.checkpoints import load_checkpoint
from sentiment_core.inference.hub import fetch_hub_model
from sentiment_core.inference.predictor import Predictor

KINDS = ("run", "folder", "hub")
HUB_ID_RE = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
SOURCE_FORMS = (
    "a run id (python -m sentiment_core runs list), a local folder with a saved model (config.json, "
    "model.safetensors, tokenizer), or a Hugging Face hub id org/name[@revision]"
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
    if runs.is_run_id(raw) and runs.run_path(raw).is_dir():
        return ModelSource("run", raw)
    path = Path(raw).expanduser()
    if path.is_dir():
        if (path / runs.RUN_FILE).is_file() and not (path / "config.json").is_file():
            in_models_dir = path.resolve().parent == runs.models_dir().resolve()
            by_id = (f"name it by its id (--model {path.name}, or --run {path.name})" if in_models_dir else
                     f"name it by its id (--run {path.name}) with SENTIMENT_MODELS_DIR={path.parent}")
            raise ModelSourceError(f"{raw} is a run's folder, not a model folder: {by_id}, or give its model, "
                                   f"{path / runs.BEST_DIR}.")
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
    if runs.is_run_id(raw):
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
        return _cached(key, lambda: _with_source(load_checkpoint(folder, device=device, labels=labels), source))
    folder, commit = fetch_hub_model(source, progress)
    key = ("hub", str(folder), labels, device)  # a snapshot folder is named by its commit: never rewritten
    return _cached(key, lambda: _with_source(load_checkpoint(folder, device=device, labels=labels),
                                             source, commit))


def load_run(run_id: str, labels: str | None = None, device: str | None = None) -> Predictor:
    """The model of a finished run (cached until its files change): `load_predictor` for a run id."""
    return load_predictor(ModelSource("run", runs.validate_run_id(run_id)), labels=labels, device=device)


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
    key = ("run", str(folder.resolve()), _folder_stamp(folder), config["model"], int(config["max_length"]),
           labels, device)

    def load() -> Predictor:
        try:
            predictor = load_checkpoint(folder, family=config["model"], max_length=int(config["max_length"]),
                                              device=device, run_id=run_id, labels=labels)
        except LabelMappingError:
            raise  # the user's --labels, not the run's files
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
