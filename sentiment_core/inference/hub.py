"""Hugging Face hub models: what a download would fetch, and fetching it (config, tokenizer, safetensors
weights; never code) into the normal Hugging Face cache, after the trust rules."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sentiment_core.core.errors import ModelSourceError
from sentiment_core.inference.checkpoints import check_no_remote_code, check_weight_files

if TYPE_CHECKING:
    from sentiment_core.inference.sources import ModelSource


HUB_TIMEOUT_SECONDS = 2.0  # the reachability check: an offline machine fails at once


# What a download fetches: the config, the tokenizer's files and the weights (nothing else: no
# TensorFlow/Flax/ONNX copies, no code).
HUB_CONFIG_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "*.model")


HUB_SAFETENSORS_FILES = ("model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json")


HUB_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model-*-of-*.bin", "pytorch_model.bin.index.json")


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


def _unreachable(source: ModelSource) -> ModelSourceError:
    from sentiment_core.data.imdb import hub_cache_hint  # `datasets` loads with it: only when an error is made

    name = source.value.split("/")[-1]
    revision = f" --revision {source.revision}" if source.revision else ""
    return ModelSourceError(
        f"The Hugging Face hub is unreachable from this machine, so {source.text!r} cannot be downloaded. "
        f"Use a local folder instead: on a machine with internet run `hf download {source.value}{revision} "
        f"--local-dir {name}` (huggingface-cli download in older versions), or save_pretrained() the model and its "
        f"tokenizer there; copy the folder here and give its path. {hub_cache_hint('the model')}"
    )


def _hub_patterns(use_safetensors: bool) -> tuple[str, ...]:
    return HUB_CONFIG_FILES + (HUB_SAFETENSORS_FILES if use_safetensors else HUB_PICKLE_FILES)


def hub_model_info(source: ModelSource) -> dict:
    """What a hub model would download: its commit, files, total bytes and whether it has safetensors
    weights (needs the hub: ModelSourceError when unreachable or unknown)."""
    from huggingface_hub import HfApi

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
