"""Negation scope for the word-level families: which tokens a negation turns ("not" ... up to the clause's end).

A token is in scope when a negation cue ("not", "wasn't", "never", ...) comes before it with no scope end (".",
";", "but", ...) in between; the cue and the end themselves are not. A model that scales every word in scope by
one shared, learnt factor can turn words it never saw negated ("not dreadful"), which a per-word or per-bigram
weight cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def negation_scope(input_ids: torch.Tensor, cue_ids: Sequence[int], end_ids: Sequence[int]) -> torch.Tensor:
    """(batch, seq_len) ids -> (batch, seq_len) bool: True where the token is in a negation's scope."""
    cues, ends = _one_of(input_ids, cue_ids), _one_of(input_ids, end_ids)
    # Only running sums and a scatter (ONNX has no cummax): each end closes a segment; a token is in scope when
    # cues came before it in its own segment (all cues before it, less those of the earlier segments).
    segment = torch.cumsum(ends.long(), dim=1) - ends.long()  # (batch, seq_len): ends before each token, < seq_len
    cues_before = torch.cumsum(cues.long(), dim=1) - cues.long()  # (batch, seq_len): cues before each token
    per_segment = torch.zeros_like(segment).scatter_add(1, segment, cues.long())  # (batch, seq_len): cues in segment k
    in_earlier_segments = torch.cumsum(per_segment, dim=1) - per_segment  # (batch, seq_len): cues before segment k
    return (cues_before > torch.gather(in_earlier_segments, 1, segment)) & ~cues & ~ends


def _one_of(input_ids: torch.Tensor, ids: Sequence[int]) -> torch.Tensor:
    """Where `input_ids` is one of `ids` (a comparison, not torch.isin, which ONNX cannot express)."""
    return (input_ids.unsqueeze(-1) == torch.as_tensor(list(ids), device=input_ids.device)).any(dim=-1)
