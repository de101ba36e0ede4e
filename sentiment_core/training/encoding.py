"""Reviews -> token ids as a run reads them (its long-text setting), and the collator that pads batches."""

from __future__ import annotations

import math

import numpy as np
import torch

from sentiment_core.training.options import TrainConfig


def _encode(tokenizer, texts: list[str], config: TrainConfig, reading: str
            ) -> tuple[list[list[int]], list[int], list[int]]:
    """The views a model reads of each review (`inference.reading_spans`: one for truncate and head_tail,
    several for windows), with the special tokens of a sub-word tokenizer. -> (views' ids, the review of
    each view, each review's token count before any cut)"""
    from sentiment_core.data.reading import reading_spans, special_frame

    word_level = config.model != "pretrained"
    if word_level:  # the Rust tokenizer directly: fast, batched, no special tokens
        contents = [e.ids for e in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)]
        prefix, suffix = [], []
    else:  # verbose=False: counting a long review's tokens is not "indexing" past max_length (it is cut below)
        contents = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        prefix, suffix, _ = special_frame(tokenizer)
    budget = max(1, config.max_length - len(prefix) - len(suffix))
    views, owners = [], []
    for review, ids in enumerate(contents):
        ids = ids or [tokenizer.unk_token_id or 0]  # never an empty review
        for pieces in reading_spans(len(ids), budget, reading, config.head_tokens, config.window_stride):
            views.append(prefix + [token for start, end in pieces for token in ids[start:end]] + suffix)
            owners.append(review)
    return views, owners, [len(ids) + len(prefix) + len(suffix) for ids in contents]


def training_reading(config: TrainConfig) -> str:
    """How training and validation read a long review: windows runs train on head_tail views."""
    return "head_tail" if config.long_text == "windows" else config.long_text


def encode_split(tokenizer, dataset, config: TrainConfig, reading: str | None = None):
    """A datasets.Dataset with input_ids, labels, lengths (the Trainer's columns) and review (the row of
    `dataset` each view reads: several rows per review for windows)."""
    import datasets

    views, owners, lengths = _encode(tokenizer, list(dataset["text"]), config, reading or training_reading(config))
    labels = list(dataset["label"])
    return datasets.Dataset.from_dict({"input_ids": views, "labels": [labels[r] for r in owners],
                                       "lengths": [lengths[r] for r in owners], "review": owners})


class PadCollator:
    """Right-pad input_ids into a tensor with its attention mask; carry labels and lengths.

    Much cheaper than `DataCollatorWithPadding` (no tokenizer round trip), which matters for the
    short steps of bow.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        sizes = [len(row["input_ids"]) for row in rows]
        width = max(sizes)
        if self.pad_to_multiple_of:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)  # (batch, seq_len)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)  # (batch, seq_len)
        for index, (row, size) in enumerate(zip(rows, sizes)):
            input_ids[index, :size] = torch.as_tensor(row["input_ids"], dtype=torch.long)
            attention_mask[index, :size] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        for key in ("labels", "lengths"):
            if key in rows[0]:
                batch[key] = torch.tensor([row[key] for row in rows], dtype=torch.long)
        return batch


def sorted_by_length(encoded):
    """The encoded split (a datasets.Dataset) reordered by token count, so batches pad little, and
    `order`: sorted row i is split row order[i]. -> (Dataset, (rows,) int array)"""
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    return encoded.select(order), order


def in_split_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Undo `sorted_by_length` on per-row results."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored
