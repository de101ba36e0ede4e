"""Predictor: a sequence-classification model with its tokenizer, ready to predict and be explained.

`inference.sources.load_predictor` builds one from a run id, a folder or a hub id (through
`inference.checkpoints`). A long review is read as the model's `long_text` setting says
(`data.reading`); each prediction says what was read (`read_until`, `unread`), so a page can show it.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from sentiment_core.core.errors import InputError
from sentiment_core.data import LABELS
from sentiment_core.data.reading import check_reading, reading_spans, special_frame, unread_characters
from sentiment_core.data.text import STOP_WORDS
from sentiment_core.inference.labels import LabelMap, default_label_map
from sentiment_core.modeling.precision import batch_precision, model_in

if TYPE_CHECKING:
    from sentiment_core.inference.sources import ModelSource

WORD_FAMILIES = ("bow", "lstm", "transformer")  # our word-level families: no special tokens
FOREIGN_FAMILY = "huggingface"  # any other sequence-classification checkpoint
BATCH_LENGTH_SPREAD = 1.3  # a prediction batch's longest view is at most this times its shortest
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


# --- what a checkpoint folder may hold ------------------------------------------------------


def length_batches(lengths: Sequence[int], batch_size: int, spread: float = BATCH_LENGTH_SPREAD) -> list[np.ndarray]:
    """Indices of `lengths` in batches of similar lengths: sorted by length, at most `batch_size` each,
    and a new batch wherever a length passes `spread` times the batch's shortest, so that padding (whose
    attention cost grows with the square of the length) stays small. The concurrent requests of a
    server's micro-batch, of any lengths, mostly run alone or in pairs. -> [(batch,) int array, ...]"""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    for end in range(1, len(order) + 1):
        if (end == len(order) or end - start == batch_size
                or lengths[order[end]] > spread * max(lengths[order[start]], 1)):
            batches.append(order[start:end])
            start = end
    return batches


class Predictor:
    """A model with its tokenizer, ready to predict and be explained.

    Build it with `inference.sources.load_predictor(source)` (cached) or
    `inference.checkpoints.load_checkpoint(folder)`. `family` is one of this project's families or "huggingface";
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
        """This predictor (the same model, shared) reading long reviews another way (see `views`); a reading that
        would be ignored or cut short is refused (`data.reading.check_reading`)."""
        chosen = copy.copy(self)
        chosen.long_text = long_text or self.long_text
        chosen.head_tokens = head_tokens if head_tokens is not None else (
            self.head_tokens if long_text is None else None)
        chosen.window_stride = window_stride if window_stride is not None else (
            self.window_stride if long_text is None else None)
        check_reading(chosen.long_text, chosen.head_tokens, chosen.window_stride, self.budget)
        return chosen

    def with_runtime(self, runtime_model) -> Predictor:
        """This predictor (the same model, shared) whose interactive predictions run `runtime_model`, a callable
        like the model (serving.export.onnx_export.OnnxModel); explanations and batch predictions keep PyTorch."""
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
        unread = unread_characters(text, offsets, read)
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
        """The number format of batch predictions (files, evaluations, a run's test pass): see
        `modeling.precision.batch_precision` (docs/results.md has what each format costs)."""
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


# --- batch files ------------------------------------------------------------------------
