"""Word dropout for the from-scratch families: whole token embeddings zeroed at random in training."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def drop_tokens(embedded: torch.Tensor, input_ids: torch.Tensor, rate: float, training: bool,
                keep_ids: Sequence[int] = ()) -> torch.Tensor:
    """`embedded` (batch, seq_len, dim) with a share `rate` of its tokens zeroed in training; tokens whose id is in
    `keep_ids` are never dropped (the words a counterfactual edit turns on: a minimal pair with its edit hidden
    would teach both labels for one text)."""
    if not training or rate == 0:
        return embedded
    keep = torch.rand(embedded.shape[:2], device=embedded.device) >= rate  # (batch, seq_len)
    if keep_ids:
        keep |= torch.isin(input_ids, torch.as_tensor(list(keep_ids), device=input_ids.device))
    return embedded * keep.unsqueeze(-1).to(embedded.dtype)
