"""Predictor: a sequence-classification model with its tokenizer, ready to predict and be explained.

Any checkpoint `AutoModelForSequenceClassification` loads: this project's four families (a run's
`best/`, an export) and Hugging Face checkpoints of other architectures (BERT, RoBERTa, DeBERTa,
...), whose classes `labels.py` maps onto negative/positive. Loading never runs code from the
checkpoint (`trust_remote_code` stays off) and reads safetensors weights only, unless the user opts in
to pickled weights (SENTIMENT_ALLOW_PICKLE_WEIGHTS), which torch then reads with its weights_only loader.
`sentiment_core.sources` turns a run id, a folder or a hub id into a cached Predictor.

Long reviews are truncated to `max_length` tokens (special tokens included), as in training: each
prediction says whether that happened and up to which character the model read (`read_until`), so
a page can show the part the model saw.
"""

from __future__ import annotations

import contextlib
import functools
import copy
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError, ModelSourceError
from sentiment_core.inference.labels import LABELS, LabelMap, default_label_map, model_labels, resolve_label_map
from sentiment_core.core.settings import cpu_has_native_bf16, get_settings, resolve_device
from sentiment_core.data.text import STOP_WORDS
from sentiment_core.training.options import check_option

if TYPE_CHECKING:  # pandas loads on first use: the API's predictions do not need it
    import pandas as pd

    from sentiment_core.inference.sources import ModelSource

WORD_FAMILIES = ("bow", "lstm", "transformer")  # our word-level families: no special tokens
FOREIGN_FAMILY = "huggingface"  # any other sequence-classification checkpoint
FALLBACK_MAX_LENGTH = 512  # tokens read when neither the tokenizer nor the config sets a limit
BATCH_LENGTH_SPREAD = 1.3  # a prediction batch's longest view is at most this times its shortest
_UNSET_MAX_LENGTH = 1_000_000  # tokenizers without a limit say int(1e30)
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_ALPHA_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
ENGLISH_NOTE = (
    "The model was trained on English movie reviews; this text does not look like one "
    "({reason}), so the prediction means little."
)


@dataclass
class Encoded:
    """One view of a text as the model reads it (special tokens included, no padding): the whole text, its
    first max_length tokens, its head and tail, or one window of it (`Predictor.views`).

    input_ids, offsets, special: one entry per token read; offsets are (start, end) in the text.
    total_tokens: the text's tokens (specials left out); read_until: the first character after the head the
    model read (the text's length when it read to the end); unread: character spans no view of the text
    reads (after a truncation, the middle a head+tail view skips).
    token_type_ids: per token, when the tokenizer produces them (BERT-style), else None.
    """

    text: str
    input_ids: list[int]
    offsets: list[tuple[int, int]]
    special: list[bool]
    total_tokens: int
    read_until: int
    token_type_ids: list[int] | None = None
    unread: list[tuple[int, int]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        """Some of the text went unread (cut, or a head+tail view's middle)."""
        return bool(self.unread)

    @property
    def tokens_read(self) -> int:
        return sum(not s for s in self.special)


@dataclass
class Prediction:
    """The model's verdict on one text."""

    label: str
    probability: float  # of positive
    truncated: bool
    tokens_read: int
    total_tokens: int
    read_until: int  # characters [0, read_until) were read (the head, for a head+tail reading)
    notes: list[str] = field(default_factory=list)
    class_probabilities: dict[str, float] = field(default_factory=dict)  # each of the model's classes
    unread: list[tuple[int, int]] = field(default_factory=list)  # character spans the model did not read
    windows: int = 1  # views read (several for --long-text windows: the logit is their mean)

    @property
    def confidence(self) -> float:
        return max(self.probability, 1 - self.probability)

    def to_dict(self) -> dict:
        return asdict(self)


def reading_notes(text: str, encoded: Encoded, unknown_token_id: int | None) -> list[str]:
    """Plain-language caveats: truncation, and text that does not look like an English review."""
    notes = []
    if encoded.truncated and encoded.read_until >= len(encoded.text):  # head+tail: the middle was skipped
        start, end = encoded.unread[0]
        notes.append(
            f"The review is longer than the model reads: it used {encoded.tokens_read} of {encoded.total_tokens} "
            f"tokens, the beginning and the end, and skipped characters {start}-{end} in the middle."
        )
    elif encoded.truncated:
        notes.append(
            f"The review is longer than the model reads: it used the first {encoded.tokens_read} of "
            f"{encoded.total_tokens} tokens (up to character {encoded.read_until}); the rest was cut."
        )
    words = _ALPHA_WORD_RE.findall(text.lower())
    real = [i for i, s in zip(encoded.input_ids, encoded.special) if not s]
    unknown = sum(i == unknown_token_id for i in real) / len(real) if real and unknown_token_id is not None else 0.0
    english = sum(w in STOP_WORDS for w in words) / len(words) if words else 0.0
    if not words:
        notes.append(ENGLISH_NOTE.format(reason="it has no words in the Latin alphabet"))
    elif unknown > 0.5:
        notes.append(ENGLISH_NOTE.format(reason=f"{unknown:.0%} of its words are unknown to the model"))
    elif len(words) >= 6 and english < 0.08:
        notes.append(ENGLISH_NOTE.format(reason="it has almost none of the common English words"))
    return notes


@contextlib.contextmanager
def _quiet_loading():
    """No "Loading weights" progress bar while a model loads for predictions (the CLI's output, the API's log)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


# --- what a checkpoint folder may hold ------------------------------------------------------

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


def length_batches(lengths: Sequence[int], batch_size: int, spread: float = BATCH_LENGTH_SPREAD) -> list[np.ndarray]:
    """Indices of `lengths` in batches of similar lengths: sorted by length, at most `batch_size` each,
    and a new batch wherever a length passes `spread` times the batch's shortest, so that padding (whose
    attention cost grows with the square of the length) stays small. The concurrent requests of a
    server's micro-batch, of any lengths, mostly run alone or in pairs. -> [(batch,) int array, ...]"""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or end - start == batch_size or lengths[order[end]] > spread * max(lengths[order[start]], 1):
            batches.append(order[start:end])
            start = end
    return batches


class Predictor:
    """A model with its tokenizer, ready to predict and be explained.

    Build it with `sentiment_core.sources.load_predictor(source)` (cached), `Predictor.from_run(run_id)`
    or `Predictor.from_folder(path)`. `family` is one of this project's families or "huggingface";
    `label_map` says how the model's classes make P(positive); `source` where it was loaded from.
    """

    def __init__(self, model, tokenizer, family: str, max_length: int, device: str = "cpu", run_id: str | None = None,
                 label_map: LabelMap | None = None, source: ModelSource | None = None, revision: str | None = None):
        # Inference only: explanations need gradients for the inputs, never for the weights (a third of the work).
        self.model = model.to(device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.family = family
        self.max_length = int(max_length)
        self.device = device
        self.run_id = run_id
        self.label_map = label_map or default_label_map(model.config.num_labels)
        self.source = source
        self.revision = revision  # the hub commit the weights came from, when known
        self.word_level = family in WORD_FAMILIES
        self.uses_token_types = (not self.word_level and "token_type_ids" in tokenizer.model_input_names
                                 and "token_type_ids" in inspect.signature(model.forward).parameters)
        self.long_text, self.head_tokens, self.window_stride = "truncate", None, None
        self._batch_copy: tuple[str, torch.nn.Module] | None = None  # (precision, model) of `batch_model`
        self.runtime_model = None  # what interactive predictions run instead of `model` (see `with_runtime`)

    def with_reading(self, long_text: str | None = None, head_tokens: int | None = None,
                     window_stride: int | None = None) -> Predictor:
        """This predictor (the same model, shared) reading long reviews another way (see `views`)."""
        check_long_text(long_text or self.long_text)
        chosen = copy.copy(self)
        chosen.long_text = long_text or self.long_text
        chosen.head_tokens = head_tokens if head_tokens is not None else (self.head_tokens if long_text is None else None)
        chosen.window_stride = window_stride if window_stride is not None else (
            self.window_stride if long_text is None else None)
        return chosen

    def with_runtime(self, runtime_model) -> Predictor:
        """This predictor (the same model, shared) whose interactive predictions run `runtime_model`, a callable
        like the model (export.OnnxModel: onnxruntime); explanations and batch predictions keep PyTorch."""
        chosen = copy.copy(self)
        chosen.runtime_model = runtime_model
        return chosen

    @property
    def runtime(self) -> str:
        """What runs this predictor's interactive predictions: torch or onnxruntime."""
        return getattr(self.runtime_model, "runtime", "torch")

    @property
    def name(self) -> str:
        """How a user names this model: its source (run id, folder or hub id), else its run id."""
        return self.source.text if self.source is not None else (self.run_id or "model")

    # --- loading ----------------------------------------------------------------------

    @classmethod
    def from_run(cls, run_id: str, device: str | None = None, labels: str | None = None) -> Predictor:
        """The model of a finished run (cached until the run's model files change): see `sources.load_predictor`."""
        from sentiment_core.inference.sources import ModelSource, load_predictor  # sources builds (and caches) every Predictor

        return load_predictor(ModelSource("run", runs.validate_run_id(run_id)), labels=labels, device=device)

    @classmethod
    def from_folder(cls, folder: str | Path, family: str | None = None, max_length: int | None = None,
                    device: str | None = None, run_id: str | None = None, labels: str | None = None) -> Predictor:
        """Load a saved sequence-classification checkpoint (config, weights, tokenizer) from a folder.

        family: this project's family (default: read from the config; any other architecture is
        "huggingface"). max_length: tokens read (default: what the tokenizer and config allow).
        labels: a --labels mapping (see `labels.py`; default: inferred from config.id2label).
        Raises ModelSourceError for a folder that cannot be loaded, or not safely.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from sentiment_core import modeling

        folder = Path(folder)
        where = f"Cannot load the model in {folder}: the folder"
        if not folder.is_dir():
            raise ModelSourceError(f"{where} does not exist: give the folder save_pretrained() wrote.")
        config = _read_json(folder / "config.json", where)
        check_no_remote_code(config, where)
        if (folder / "tokenizer_config.json").exists():
            check_no_remote_code(_read_json(folder / "tokenizer_config.json", where), f"{where}'s tokenizer")
        # safetensors, or a pickle the user opted in to, read by torch's weights_only unpickler
        weights = dict(use_safetensors=True) if check_weight_files([p.name for p in folder.iterdir()], where) \
            else dict(use_safetensors=False)
        try:
            with _quiet_loading():
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
        ours = next((name for name, (config_class, _) in modeling.FAMILIES.items()
                     if config_class.model_type == model.config.model_type), None)
        family = family or ours or FOREIGN_FAMILY
        if family == FOREIGN_FAMILY:
            if model.config.num_labels < 2:
                raise ModelSourceError(
                    f"{where} has a single output (a regression head), not class probabilities: give a "
                    "sentiment classifier with two or more labels.")
            label_map = resolve_label_map(model_labels(model.config.id2label, model.config.num_labels), labels)
            limit = checkpoint_max_length(model, tokenizer)
            max_length = min(max_length, limit) if max_length else limit
        else:
            label_map = (resolve_label_map(model_labels(model.config.id2label, model.config.num_labels), labels)
                         if labels else None)
            max_length = max_length or min(int(tokenizer.model_max_length), 100_000)
        return cls(model, tokenizer, family, max_length, resolve_device(device), run_id, label_map=label_map)

    # --- encoding ---------------------------------------------------------------------

    @property
    def budget(self) -> int:
        """Content tokens one view holds: max_length less the special tokens the tokenizer adds."""
        prefix, suffix, _ = ([], [], 0) if self.word_level else self._special_frame
        return max(1, self.max_length - len(prefix) - len(suffix))

    def encode(self, text: str) -> Encoded:
        """The view of `text` the model reads (windows: the first window; `views` gives them all)."""
        return self.views(text)[0]

    def views(self, text: str) -> list[Encoded]:
        """What the model reads of `text`, as one or more views with character offsets into `text`.

        long_text (the run's setting, or `with_reading`): `truncate`, the first `budget` tokens;
        `head_tail`, the first `head_tokens` (default a quarter of the budget: 128 of 510, as Sun et al.
        2019 found best for BERT on IMDB) and the last budget - head_tokens; `windows`, overlapping
        windows of `budget` tokens every `window_stride` (default half a window) covering the whole text.
        A text that fits is one view in every case.
        """
        if not isinstance(text, str):
            raise InputError(f"a review must be text, got {type(text).__name__}")
        content = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False,
                                 return_offsets_mapping=True)
        ids, offsets = list(content["input_ids"]), [tuple(o) for o in content["offset_mapping"]]
        if not ids:
            raise InputError("The review has no words the model can read: type or paste a review.")
        n = len(ids)
        spans = reading_spans(n, self.budget, self.long_text, self.head_tokens, self.window_stride)
        read = np.zeros(n, dtype=bool)
        for pieces in spans:
            for start, end in pieces:
                read[start:end] = True
        unread = _unread_characters(text, offsets, read)
        return [self._view(text, ids, offsets, pieces, n, unread) for pieces in spans]

    def _view(self, text: str, ids: list[int], offsets: list[tuple[int, int]], pieces, total: int,
              unread: list[tuple[int, int]]) -> Encoded:
        """One view: the content tokens of `pieces` ([(start, end)] token ranges) with the special tokens."""
        chosen = [i for start, end in pieces for i in range(start, end)]
        view_ids = [ids[i] for i in chosen]
        view_offsets = [offsets[i] for i in chosen]
        head_end = view_offsets[pieces[0][1] - pieces[0][0] - 1][1]
        read_until = len(text) if pieces[-1][1] == total else head_end
        if self.word_level:
            return Encoded(text, view_ids, view_offsets, [False] * len(view_ids), total, read_until, None, unread)
        prefix, suffix, type_id = self._special_frame
        full_ids = prefix + view_ids + suffix
        special = [True] * len(prefix) + [False] * len(view_ids) + [True] * len(suffix)
        full_offsets = [(0, 0)] * len(prefix) + view_offsets + [(0, 0)] * len(suffix)
        types = [type_id] * len(full_ids) if self.uses_token_types else None
        return Encoded(text, full_ids, full_offsets, special, total, read_until, types, unread)

    @functools.cached_property
    def _special_frame(self) -> tuple[list[int], list[int], int]:
        return special_frame(self.tokenizer)

    def model_inputs(self, encoded: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        """Padded input_ids, attention_mask (and token_type_ids when the tokenizer makes them), padded on
        the tokenizer's side. -> each (batch, seq_len)"""
        width = max(len(e.input_ids) for e in encoded)
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (getattr(self.model.config, "pad_token_id", None) or 0)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        inputs = {"input_ids": torch.full((len(encoded), width), pad, dtype=torch.long),
                  "attention_mask": torch.zeros((len(encoded), width), dtype=torch.long)}
        if self.uses_token_types:
            inputs["token_type_ids"] = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, e in enumerate(encoded):
            cells = slice(width - len(e.input_ids), width) if left else slice(0, len(e.input_ids))
            inputs["input_ids"][row, cells] = torch.tensor(e.input_ids)
            inputs["attention_mask"][row, cells] = 1
            if self.uses_token_types:
                inputs["token_type_ids"][row, cells] = torch.tensor(e.token_type_ids)
        return {name: tensor.to(self.device) for name, tensor in inputs.items()}

    def batch_tensors(self, encoded: Sequence[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded input_ids and attention_mask (see `model_inputs`). -> 2 x (batch, seq_len)"""
        inputs = self.model_inputs(encoded)
        return inputs["input_ids"], inputs["attention_mask"]

    # --- the model --------------------------------------------------------------------

    def input_embeddings(self, model: torch.nn.Module | None = None) -> torch.nn.Module:
        """The token embedding layer that `token_weights` scale (bow: its bag of items)."""
        return (self.model if model is None else model).get_input_embeddings()

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_weights: torch.Tensor | None = None, model: torch.nn.Module | None = None,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Model logits, each token's input scaled by `token_weights` (batch, seq_len); 0 removes a word.

        bow scales each word's (and its bigrams') bag weight; every other model scales the token
        embedding (a zero embedding is what padding and word dropout give the from-scratch models).
        `model`: this predictor's model (default) or a variant of it (explain.py's bfloat16 copy).
        -> (batch, num_labels)
        """
        model = self.model if model is None else model
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        if token_weights is None:
            return model(**inputs).logits
        if self.family == "bow":
            return model(**inputs, token_weights=token_weights).logits
        scale = token_weights.unsqueeze(-1)  # (batch, seq_len, 1)

        def scale_output(module, module_inputs, output):
            return output * scale.to(output.dtype)

        handle = self.input_embeddings(model).register_forward_hook(scale_output)
        try:
            return model(**inputs).logits
        finally:
            handle.remove()

    def positive_log_odds(self, input_ids, attention_mask, token_weights=None, model=None,
                          token_type_ids=None) -> torch.Tensor:
        """logit(P(positive)) per text, in float32 (two logits: logit_pos - logit_neg). -> (batch,)"""
        logits = self.logits(input_ids, attention_mask, token_weights, model, token_type_ids)
        return self.label_map.positive_log_odds(logits)

    # --- public API -------------------------------------------------------------------

    def batch_precision(self) -> str:
        """The number format of batch predictions (files, evaluations, a run's test pass): SENTIMENT_BATCH_PRECISION;
        auto: for a transformer checkpoint on a CPU with native bfloat16, bfloat16 (measured 2.4x faster at the
        same accuracy, README); float32 elsewhere (int8 is faster but lost 0.7 points), for the small word-level
        families and on GPUs."""
        return batch_precision(self.word_level, self.device)

    def batch_model(self) -> torch.nn.Module:
        """The model batch predictions run: this one, or a dynamic-int8 or bfloat16 copy of it, made once."""
        precision = self.batch_precision()
        if precision == "float32":
            return self.model
        if self._batch_copy is None or self._batch_copy[0] != precision:
            self._batch_copy = (precision, model_in(precision, self.model))
        return self._batch_copy[1]

    @torch.inference_mode()
    def view_log_odds(self, views: Sequence[Encoded], batch_size: int = 64,
                      progress: Callable[[int, int], None] | None = None,
                      batch: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """logit(P(positive)) and every class's probability of each view, in batches of similar lengths;
        `batch`: with `batch_model()` (files, evaluations), else the float32 model (or `runtime_model`).
        -> (views,), (views, classes)"""
        model = self.batch_model() if batch else self.runtime_model
        log_odds = np.zeros(len(views))
        classes = np.zeros((len(views), len(self.label_map.class_names)))
        done = 0
        for chosen in length_batches([len(v.input_ids) for v in views], batch_size):
            logits = self.logits(**self.model_inputs([views[i] for i in chosen]), model=model).float()
            log_odds[chosen] = self.label_map.positive_log_odds(logits).cpu().numpy()
            classes[chosen] = self.label_map.class_probabilities(logits).cpu().numpy()
            done += len(chosen)
            if progress:
                progress(done, len(views))
        return log_odds, classes

    def predict(self, texts: Sequence[str], batch_size: int = 64,
                progress: Callable[[int, int], None] | None = None, batch: bool = False) -> list[Prediction]:
        """Label, P(positive) and every class's probability for each text. A text read as several windows
        gets the mean of their log-odds (and of their class probabilities): each window is evidence about
        the same review, the mean keeps the scale of one view, and it makes a window's word scores add up
        to the review's output (explain.py)."""
        if isinstance(texts, str):
            raise InputError("predict takes a list of texts, not one string: wrap it in a list")
        per_text = [self.views(text) for text in texts]
        flat = [view for views in per_text for view in views]
        owner = np.repeat(np.arange(len(per_text)), [len(views) for views in per_text])
        view_progress = None if progress is None else (  # in reviews, as callers count them
            lambda done, total: progress(round(done / total * len(per_text)), len(per_text)))
        log_odds, classes = self.view_log_odds(flat, batch_size, view_progress, batch) if flat else (
            np.zeros(0), np.zeros((0, len(self.label_map.class_names))))
        counts = np.bincount(owner, minlength=len(per_text))
        mean_log_odds = np.bincount(owner, weights=log_odds, minlength=len(per_text)) / np.maximum(counts, 1)
        mean_classes = np.stack([np.bincount(owner, weights=classes[:, c], minlength=len(per_text))
                                 for c in range(classes.shape[1])], axis=1) / np.maximum(counts, 1)[:, None]
        probabilities = 1 / (1 + np.exp(-mean_log_odds))
        unknown = self.tokenizer.unk_token_id
        names = self.label_map.class_names
        predictions = []
        for views, p, row in zip(per_text, probabilities, mean_classes):
            first = views[0]
            read = first.total_tokens if len(views) > 1 else first.tokens_read
            predictions.append(Prediction(
                label=LABELS[int(p >= 0.5)], probability=float(p), truncated=first.truncated, tokens_read=read,
                total_tokens=first.total_tokens, read_until=first.read_until if len(views) == 1 else len(first.text),
                notes=reading_notes(first.text, first, unknown) + (
                    [f"The review was read as {len(views)} overlapping windows; its score is their mean."]
                    if len(views) > 1 else []),
                class_probabilities={name: float(q) for name, q in zip(names, row)},
                unread=list(first.unread), windows=len(views),
            ))
        return predictions


def batch_precision(word_level: bool, device: str) -> str:
    """SENTIMENT_BATCH_PRECISION for a model: auto is bfloat16 for a transformer checkpoint on a CPU with native
    bfloat16, float32 otherwise (the word-level families, GPUs, CPUs without native bfloat16)."""
    chosen = get_settings().batch_precision
    if chosen == "auto":
        if word_level or device != "cpu":
            return "float32"
        chosen = "bfloat16" if cpu_has_native_bf16() else "float32"
    return chosen


def model_in(precision: str, model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` for inference in `precision`: bfloat16 weights, or its Linear layers quantized to int8
    (dynamic quantization: activations quantized on the fly); the model itself for float32."""
    if precision == "float32":
        return model
    import warnings

    if precision == "bfloat16":
        return copy.deepcopy(model).to(torch.bfloat16)
    with warnings.catch_warnings():  # torch.ao's deprecation notice, not the user's concern
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def check_long_text(value: str) -> str:
    check_option("long_text", value)
    return value


def reading_spans(n: int, budget: int, long_text: str, head_tokens: int | None = None,
                  window_stride: int | None = None) -> list[list[tuple[int, int]]]:
    """Which of a review's `n` tokens each view reads, as token ranges: [[(start, end), ...], ...] (one list
    per view). Training and prediction both read long reviews through this (see `Predictor.views`)."""
    if n <= budget:
        return [[(0, n)]]
    if long_text == "head_tail":
        head = min(head_tokens or budget // 4, budget)
        return [[(0, head), (n - (budget - head), n)]]
    if long_text == "windows":
        stride = max(1, min(window_stride or budget // 2, budget))
        return [[(start, start + budget)] for start in [*range(0, n - budget, stride), n - budget]]
    return [[(0, budget)]]


def special_frame(tokenizer) -> tuple[list[int], list[int], int]:
    """The special tokens a tokenizer puts before and after one sequence ([CLS] ... [SEP], <s> ... </s>) and
    its token type id, learned from how it encodes one word (transformers 5 has no public builder for it)."""
    plain = tokenizer("movie", add_special_tokens=False)["input_ids"]
    full = tokenizer("movie", add_special_tokens=True, return_token_type_ids=True)
    ids = list(full["input_ids"])
    start = next(i for i in range(len(ids) - len(plain) + 1) if ids[i:i + len(plain)] == plain)
    types = full.get("token_type_ids") or [0]
    return ids[:start], ids[start + len(plain):], int(types[0])


def _unread_characters(text: str, offsets: list[tuple[int, int]], read: np.ndarray) -> list[tuple[int, int]]:
    """Character spans covered by no read token: from the end of a read token to the start of the next one,
    over each run of unread tokens (the text after the last read token, for a cut)."""
    spans, index, n = [], 0, len(offsets)
    while index < n:
        if read[index]:
            index += 1
            continue
        end_index = index
        while end_index < n and not read[end_index]:
            end_index += 1
        start = offsets[index - 1][1] if index > 0 else 0
        end = offsets[end_index][0] if end_index < n else len(text)
        spans.append((start, end))
        index = end_index
    return spans


def finished_runs() -> list[dict]:
    """Runs with a trained model, best test accuracy first (rows of `runs.list_runs()`)."""
    table = runs.list_runs()
    if table.empty:
        return []
    rows = table[table["state"] == "finished"].to_dict("records")
    rows = [r for r in rows if (Path(r["path"]) / runs.BEST_DIR / "config.json").exists()]

    def score(row):
        test = row.get("test_accuracy")
        return -(test if test == test and test is not None else -1.0)  # NaN/None last

    return sorted(rows, key=score)


def best_run_id() -> str | None:
    """The finished run with the highest test accuracy, or None when there is none."""
    rows = finished_runs()
    return rows[0]["run_id"] if rows else None


# --- batch files ------------------------------------------------------------------------

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
        raise InputError(f"Cannot read the file as CSV ({error}): upload a UTF-8 CSV with a 'text' or 'review' column.") from None
    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    column = next((by_lower[name] for name in TEXT_COLUMNS if name in by_lower), None)
    if column is None:
        found = ", ".join(map(str, frame.columns[:10])) or "none"
        raise InputError(f"The file has no 'text' or 'review' column (columns: {found}): rename the column holding the reviews.")
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
