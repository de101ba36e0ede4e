"""A checkpoint folder -> a Predictor, and the trust rules every loaded folder passes.

This is the one place a model is loaded from disk: any checkpoint `AutoModelForSequenceClassification`
loads (this project's four families, BERT, RoBERTa, DeBERTa, ...). It never runs code from the checkpoint
(`trust_remote_code` stays off) and reads safetensors weights only, unless the user opts in to pickled
weights (SENTIMENT_ALLOW_PICKLE_WEIGHTS), which torch then reads with its weights_only loader.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from sentiment_core.core.errors import ModelSourceError
from sentiment_core.core.settings import get_settings, resolve_device
from sentiment_core.inference.labels import model_labels, resolve_label_map
from sentiment_core.inference.predictor import FOREIGN_FAMILY, Predictor

FALLBACK_MAX_LENGTH = 512  # tokens read when neither the tokenizer nor the config sets a limit
_UNSET_MAX_LENGTH = 1_000_000  # tokenizers without a limit say int(1e30)
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def load_checkpoint(folder: str | Path, family: str | None = None, max_length: int | None = None,
                    device: str | None = None, run_id: str | None = None, labels: str | None = None) -> Predictor:
    """Load a saved sequence-classification checkpoint (config, weights, tokenizer) from a folder.

    family: this project's family (default: read from the config; any other architecture is
    "huggingface"). max_length: tokens read (default: what the tokenizer and config allow).
    labels: a --labels mapping (`inference.labels`; default: inferred from config.id2label).
    Raises ModelSourceError for a folder that cannot be loaded, or not safely.
    """
    from sentiment_core import modeling  # registers our families with the Auto classes

    folder = Path(folder)
    where = f"Cannot load the model in {folder}: the folder"
    model, tokenizer = _load_model_and_tokenizer(folder, where)
    ours = next((name for name, (config_class, _) in modeling.FAMILIES.items()
                 if config_class.model_type == model.config.model_type), None)
    family = family or ours or FOREIGN_FAMILY
    class_names = model_labels(model.config.id2label, model.config.num_labels)
    if family == FOREIGN_FAMILY:
        if model.config.num_labels < 2:
            raise ModelSourceError(
                f"{where} has a single output (a regression head), not class probabilities: give a "
                "sentiment classifier with two or more labels.")
        label_map = resolve_label_map(class_names, labels)
        limit = checkpoint_max_length(model, tokenizer)
        max_length = min(max_length, limit) if max_length else limit
    else:
        label_map = resolve_label_map(class_names, labels) if labels else None
        max_length = max_length or min(int(tokenizer.model_max_length), 100_000)
    return Predictor(model, tokenizer, family, max_length, resolve_device(device), run_id, label_map=label_map)


def _load_model_and_tokenizer(folder: Path, where: str):
    """The folder's model and fast tokenizer, after the trust rules. -> (model, tokenizer)"""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not folder.is_dir():
        raise ModelSourceError(f"{where} does not exist: give the folder save_pretrained() wrote.")
    check_no_remote_code(_read_json(folder / "config.json", where), where)
    if (folder / "tokenizer_config.json").exists():
        check_no_remote_code(_read_json(folder / "tokenizer_config.json", where), f"{where}'s tokenizer")
    # safetensors, or a pickle the user opted in to, read by torch's weights_only unpickler
    weights = dict(use_safetensors=True) if check_weight_files([p.name for p in folder.iterdir()], where) \
        else dict(use_safetensors=False)
    try:
        with quiet_progress():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                folder, **weights, weights_only=True, trust_remote_code=False, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except Exception as error:  # OSError, ValueError, SafetensorError, KeyError...: all mean an unusable folder
        raise ModelSourceError(
            f"Cannot load the model in {folder} ({type(error).__name__}: {error}); the folder may be "
            "half-written or corrupted, or hold a model that is not a sequence classifier."
        ) from None
    if info.get("missing_keys"):
        missing = ", ".join(sorted(info["missing_keys"])[:4])
        raise ModelSourceError(
            f"{where} has no trained weights for {missing}: it holds an encoder without a trained "
            "classification head, whose predictions would be random. Fine-tune it first "
            "(python -m sentiment_core train --model pretrained --backbone FOLDER), or give a sentiment classifier."
        )
    if not getattr(tokenizer, "is_fast", False):
        raise ModelSourceError(
            f"{where} has no fast tokenizer (tokenizer.json), which explanations need to map tokens to "
            "the words of the text: save the tokenizer with a recent transformers (save_pretrained)."
        )
    return model, tokenizer


@contextlib.contextmanager
def quiet_progress():
    """No transformers progress bar ("Loading weights", "Writing model shards") in the CLI's output or the API's log."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def check_no_remote_code(config: dict, where: str) -> None:
    """Refuse a config (or tokenizer config) that asks for code shipped with the model."""
    auto_map = config.get("auto_map")
    if auto_map:
        classes = ", ".join(sorted(auto_map)) if isinstance(auto_map, dict) else str(auto_map)
        raise ModelSourceError(
            f"{where} needs code shipped with the model (its auto_map names {classes}): this studio never runs "
            "code from a model repository (trust_remote_code stays off). Use a checkpoint of an architecture "
            "transformers implements itself (BERT, DistilBERT, RoBERTa, DeBERTa, ALBERT, ELECTRA, XLM-R, ...)."
        )


def check_weight_files(names: Sequence[str], where: str) -> bool:
    """Whether the weights load from safetensors (True) or, opted in, from a pickle (False).

    `names`: the checkpoint's file names. A pickle is refused unless SENTIMENT_ALLOW_PICKLE_WEIGHTS is set.
    """
    names = set(names)
    if any(n in names for n in SAFETENSORS_FILES):
        return True
    pickled = [n for n in PICKLE_FILES if n in names]
    if not pickled:
        raise ModelSourceError(
            f"{where} has no PyTorch model weights (model.safetensors): it may hold only TensorFlow or Flax "
            "weights, or be an incomplete download. Save the model with save_pretrained(), which writes "
            "model.safetensors, and point at that folder."
        )
    if get_settings().allow_pickle_weights:
        return False
    raise ModelSourceError(
        f"{where} has its weights only as {pickled[0]}, a pickle file: unpickling can run any code hidden "
        "in the file, so this studio reads safetensors weights only. Get a safetensors copy (on the hub, look "
        "for model.safetensors in another revision, e.g. a 'refs/pr/N' conversion), or make one on a machine "
        "you trust: AutoModelForSequenceClassification.from_pretrained(FOLDER).save_pretrained(OUT) and "
        "AutoTokenizer.from_pretrained(FOLDER).save_pretrained(OUT) write model.safetensors and the tokenizer "
        "into OUT. If you trust this source, set SENTIMENT_ALLOW_PICKLE_WEIGHTS=1: its weights are then read "
        "with torch's weights_only loader."
    )


def _read_json(path: Path, where: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelSourceError(
            f"{where} has no {path.name}, so it is not a saved Hugging Face model (save_pretrained writes one)."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelSourceError(f"{where} holds a corrupted {path.name} ({error}): it is half-written.") from None


def checkpoint_max_length(model, tokenizer) -> int:
    """Tokens the checkpoint can read: the smaller of the tokenizer's `model_max_length` (when set) and
    the config's `max_position_embeddings` minus the position offset of RoBERTa-style embeddings
    (positions start after padding_idx there)."""
    limits = []
    if tokenizer.model_max_length and tokenizer.model_max_length < _UNSET_MAX_LENGTH:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions:
        offset = 0
        for name, module in model.named_modules():
            if name.endswith("position_embeddings") and isinstance(module, torch.nn.Embedding):
                offset = module.padding_idx + 1 if module.padding_idx is not None else 0
                break
        limits.append(int(positions) - offset)
    return min(limits) if limits else FALLBACK_MAX_LENGTH
