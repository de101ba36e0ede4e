"""Reviews -> token ids as a run reads them (its long-text setting), and the collator that pads batches."""

from __future__ import annotations

import math
from itertools import chain

import numpy as np
import torch

from sentiment_core.data.imdb import column
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
            view = list(prefix)
            for start, end in pieces:
                view += ids[start:end]
            views.append(view + suffix)
            owners.append(review)
    return views, owners, [len(ids) + len(prefix) + len(suffix) for ids in contents]


def training_reading(config: TrainConfig) -> str:
    """How training and validation read a long review: windows runs train on head_tail views."""
    return "head_tail" if config.long_text == "windows" else config.long_text


class EncodedSplit(torch.utils.data.Dataset):
    """Encoded views held as Python lists: rows are dicts (`split[i]`), columns lists (`split["labels"]`).

    A datasets.Dataset converts a row from Arrow each time the Trainer reads it, which showed in bow's
    training time (docs/results.md); these lists cost nothing to read.
    """

    def __init__(self, columns: dict[str, list]):
        self.columns = columns
        self.column_names = list(columns)

    def __len__(self) -> int:
        return len(self.columns["input_ids"])

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.columns[key]
        return {name: values[key] for name, values in self.columns.items()}

    def select(self, rows) -> EncodedSplit:
        """These rows, in this order."""
        return EncodedSplit({name: [values[row] for row in rows] for name, values in self.columns.items()})


def encode_split(tokenizer, dataset, config: TrainConfig, reading: str | None = None) -> EncodedSplit:
    """input_ids, labels, lengths (the Trainer's columns) and review (the row of `dataset` each view
    reads: several rows per review for windows)."""
    views, owners, lengths = _encode(tokenizer, column(dataset, "text"), config, reading or training_reading(config))
    labels = column(dataset, "label")
    return EncodedSplit({"input_ids": views, "labels": [labels[r] for r in owners],
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
        attention_mask = torch.arange(width) < torch.tensor(sizes).unsqueeze(1)  # (batch, seq_len)
        input_ids = torch.full(attention_mask.shape, self.pad_token_id, dtype=torch.long)  # (batch, seq_len)
        tokens = np.fromiter(chain.from_iterable(row["input_ids"] for row in rows), dtype=np.int64, count=sum(sizes))
        input_ids[attention_mask] = torch.from_numpy(tokens)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask.long()}
        for key in ("labels", "lengths"):
            if key in rows[0]:
                batch[key] = torch.tensor([row[key] for row in rows], dtype=torch.long)
        return batch


def sorted_by_length(encoded: EncodedSplit) -> tuple[EncodedSplit, np.ndarray]:
    """The encoded split reordered by token count, so batches pad little, and `order`: sorted row i is
    split row order[i]. -> (split, (rows,) int array)"""
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    return encoded.select(order), order


def in_split_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Undo `sorted_by_length` on per-row results."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored
