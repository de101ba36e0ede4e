"""What every family's head outputs mean: the loss of `forward(labels=...)`, and P(positive) from one or two logits."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def head_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The models' own loss for `forward(labels=...)`: BCE on one logit, cross entropy on two."""
    if logits.size(-1) == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), labels.to(logits.dtype))
    return F.cross_entropy(logits, labels.long())


def positive_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """log P(pos) - log P(neg) from (batch, 1) or (batch, 2) logits -> (batch,)."""
    if logits.dim() == 2 and logits.size(-1) == 2:
        return logits[:, 1] - logits[:, 0]
    return logits.reshape(-1)


def positive_probability(logits: torch.Tensor) -> torch.Tensor:
    """P(pos) from (batch, 1) or (batch, 2) logits -> (batch,)."""
    if logits.dim() == 2 and logits.size(-1) == 2:
        return logits.softmax(-1)[:, 1]
    return torch.sigmoid(logits.reshape(-1))
