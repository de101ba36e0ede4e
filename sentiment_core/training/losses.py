"""Training losses, chosen by name: `bce`, `length_weighted_bce`, `cross_entropy`.

`length_weighted_bce` keeps the original project's formula:

    base = BCEWithLogits(reduction="none")(logits, targets)
    weights = lengths / lengths.max()          # per batch
    loss = (base * weights).mean()

Effect on the learning rate: every weight is at most 1, so the weighted loss (and its
gradient) is the plain BCE scaled by the batch's mean weight, mean(lengths) / max(lengths).
On IMDB (token counts with a long tail) that ratio is about 0.3-0.5 per batch, so with the
same optimizer the weighted run takes smaller steps: its effective learning rate is
roughly halved or worse, and varies from batch to batch with the longest review in it. Long
reviews get more say within a batch; short ones almost none. Adam-family optimizers undo
part of the global scale (they normalise by the gradient's running magnitude), SGD does
not. Its loss values are smaller by construction and cannot be compared with `bce` values:
compare runs on unweighted yardsticks (accuracy, F1, unweighted BCE).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from sentiment_core.core.errors import InputError

LOSS_DESCRIPTIONS = {
    "bce": "binary cross entropy on one logit",
    "length_weighted_bce": "BCE weighted by review length / longest in the batch (the original project's loss)",
    "cross_entropy": "softmax cross entropy on two logits",
}
LOSSES = tuple(LOSS_DESCRIPTIONS)


def num_labels_for(loss_name: str) -> int:
    """Logits the model head needs: 1 for the BCE losses, 2 for cross entropy."""
    check_loss_name(loss_name)
    return 2 if loss_name == "cross_entropy" else 1


def check_loss_name(loss_name: str) -> str:
    if loss_name not in LOSSES:
        raise InputError(f"Unknown loss {loss_name!r}: choose one of {', '.join(LOSSES)}.")
    return loss_name


def bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross entropy on single logits. logits: (batch,) or (batch, 1)."""
    return F.binary_cross_entropy_with_logits(logits.reshape(-1), labels.reshape(-1).float())


def length_weighted_bce(logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The original project's loss: BCE per review weighted by length / longest length in the batch."""
    lengths = lengths.reshape(-1).to(logits.dtype)
    if lengths.numel() and lengths.min() < 0:
        raise ValueError("lengths must be non-negative token counts")
    base = F.binary_cross_entropy_with_logits(
        logits.reshape(-1), labels.reshape(-1).float(), reduction="none"
    )  # (batch,)
    weights = lengths / lengths.max().clamp_min(1)  # (batch,), per batch
    return (base * weights).mean()


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy on two logits. logits: (batch, 2)."""
    if logits.dim() != 2 or logits.size(-1) != 2:
        raise ValueError(f"cross_entropy needs (batch, 2) logits, got shape {tuple(logits.shape)}")
    return F.cross_entropy(logits, labels.reshape(-1).long())


def compute_loss(
    loss_name: str, logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Dispatch by name; `length_weighted_bce` needs the lengths."""
    check_loss_name(loss_name)
    if loss_name == "cross_entropy":
        return cross_entropy(logits, labels)
    if loss_name == "length_weighted_bce":
        if lengths is None:
            raise ValueError("length_weighted_bce needs the review lengths (token counts)")
        return length_weighted_bce(logits, labels, lengths)
    return bce(logits, labels)
