"""A vanilla Transformer encoder trained from scratch -> masked mean pooling -> linear head.

Token + learned position embeddings, pre-norm `nn.TransformerEncoder` layers that never
attend to padding, a final LayerNorm and a mean over the real tokens only, so right-padding
does not change a review's logits. With `negation_cue_ids`, the embedding of every word in a negation's scope
("not ... dreadful", `modeling.negation_scope`) is scaled and shifted by two learnt vectors shared by all words, so a
turn learnt on some words carries over to words never seen negated.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from sentiment_core.core.errors import InputError
from sentiment_core.modeling.heads import head_loss
from sentiment_core.modeling.negation_scope import negation_scope
from sentiment_core.modeling.token_dropout import drop_tokens


class TransformerConfig(PretrainedConfig):
    """Configuration of `TransformerForSequenceClassification`.

    Args:
        vocab_size: number of word ids (the tokenizer's vocabulary, special tokens included).
        num_labels: 1 = a single logit (BCE-style losses), 2 = two logits (cross entropy).
        pad_token_id: id of the padding token.
        d_model: width of the embeddings and of every encoder layer.
        max_position_embeddings: longest input the position table covers; longer inputs raise.
        num_layers: encoder layers.
        nhead: attention heads per layer (must divide d_model).
        dim_feedforward: hidden width of each layer's feed-forward block.
        dropout: dropout in the embeddings, the encoder layers and before the classifier.
        token_dropout: share of a review's tokens whose embedding is zeroed in training (word
            dropout; the strongest regulariser for these from-scratch models on IMDB).
        token_dropout_keep: token ids word dropout never drops (set by counterfactual augmentation:
            the negations and scores its edits turn on).
        attention_dropout: dropout on the attention weights. 0 by default: on a CPU it multiplies
            the attention time (no fused kernel with dropout) for little gain.
        activation: feed-forward activation, "gelu" or "relu".
        layer_norm_eps: epsilon of every LayerNorm.
        initializer_range: standard deviation of the normal init of embeddings and linear layers.
        negation_cue_ids: token ids that open a negation's scope; empty (the default) turns scopes off.
        scope_end_ids: token ids that close it (clause ends and contrast markers).
    """

    model_type = "sentiment-transformer"

    def __init__(
        self,
        vocab_size: int = 50_000,
        num_labels: int = 1,
        pad_token_id: int = 0,
        d_model: int = 64,
        max_position_embeddings: int = 512,
        num_layers: int = 2,
        nhead: int = 4,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        token_dropout: float = 0.5,
        token_dropout_keep: tuple[int, ...] | list[int] = (),
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        negation_cue_ids: tuple[int, ...] | list[int] = (),
        scope_end_ids: tuple[int, ...] | list[int] = (),
        **kwargs,
    ):
        if d_model % nhead != 0:
            raise InputError(f"d_model ({d_model}) must be a multiple of nhead ({nhead})")
        if activation not in ("gelu", "relu"):
            raise InputError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.max_position_embeddings = max_position_embeddings
        self.num_layers = num_layers
        self.nhead = nhead
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.token_dropout = token_dropout
        self.token_dropout_keep = list(token_dropout_keep)
        self.activation = activation
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.negation_cue_ids = list(negation_cue_ids)
        self.scope_end_ids = list(scope_end_ids)
        if "id2label" not in kwargs:  # a saved config carries id2label, which sets num_labels
            kwargs["num_labels"] = num_labels
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def to_diff_dict(self) -> dict:
        # transformers leaves id2label out when it has two labels (its own default); ours is one label.
        return {**super().to_diff_dict(), "id2label": self.id2label, "label2id": self.label2id}


class _PreNormEncoderLayer(nn.TransformerEncoderLayer):
    """A pre-norm encoder layer that skips torch's fused inference kernel on the CPU.

    On a CPU that kernel's masked softmax costs most of the layer whenever a padding mask is
    passed (docs/results.md, `bench/predict_bench.py`). Same weights, same outputs up to float
    rounding; GPUs keep the fused kernel.
    """

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if src.device.type != "cpu" or self.training:
            return super().forward(src, src_mask, src_key_padding_mask, is_causal)
        hidden = src + self._sa_block(self.norm1(src), src_mask, src_key_padding_mask, is_causal=is_causal)
        return hidden + self._ff_block(self.norm2(hidden))  # (batch, seq_len, d_model)


class TransformerForSequenceClassification(PreTrainedModel):
    config_class = TransformerConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    accepts_loss_kwargs = False  # the loss is a plain batch mean: let the Trainer scale it

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.d_model)
        self.embedding_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        layer = _PreNormEncoderLayer(
            config.d_model,
            config.nhead,
            dim_feedforward=config.dim_feedforward,
            dropout=config.dropout,
            activation=config.activation,
            layer_norm_eps=config.layer_norm_eps,
            batch_first=True,
            norm_first=True,
        )
        layer.self_attn.dropout = config.attention_dropout  # the layer's `dropout` also set it
        # No nested tensors: they need post-norm layers and would make padded outputs differ.
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
        # A word in a negation's scope: embedding * (1 + scope_scale) + scope_shift, the same for every word.
        self.scope_scale = nn.Parameter(torch.zeros(config.d_model)) if config.negation_cue_ids else None
        self.scope_shift = nn.Parameter(torch.zeros(config.d_model)) if config.negation_cue_ids else None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            module._reset_parameters()  # its packed in_proj_weight is not an nn.Linear

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,  # token counts before truncation; unused here
        return_dict: bool = True,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        batch_size, seq_len = input_ids.shape
        if seq_len > self.config.max_position_embeddings:
            raise InputError(
                f"input has {seq_len} tokens but max_position_embeddings is "
                f"{self.config.max_position_embeddings}: truncate the input or build a larger model"
            )
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id)
        mask = attention_mask.bool()  # (batch, seq_len)
        positions = torch.arange(seq_len, device=input_ids.device)  # (seq_len,)
        words = drop_tokens(self.embeddings(input_ids), input_ids, self.config.token_dropout, self.training,
                            self.config.token_dropout_keep)  # (batch, seq_len, d_model)
        if self.scope_scale is not None:
            scope = negation_scope(input_ids, self.config.negation_cue_ids, self.config.scope_end_ids)
            in_scope = scope.unsqueeze(-1).to(words.dtype)  # (batch, seq_len, 1)
            words = torch.addcmul(words, in_scope, torch.addcmul(self.scope_shift, words, self.scope_scale))
        hidden = words + self.position_embeddings(positions)[None]  # (batch, seq_len, d_model)
        hidden = self.dropout(self.embedding_norm(hidden))
        # An all-padding row would attend to nothing (NaN): let it see its first position.
        padding = ~mask
        padding[:, 0] &= mask.any(dim=1)
        # No mask when nothing is padded (a review alone, or a batch of equal lengths): attention runs unmasked, faster.
        # Export (ONNX) traces one graph for every shape, so it always keeps the mask.
        unpadded = not torch.compiler.is_exporting() and not padding.any()
        hidden = self.encoder(hidden, src_key_padding_mask=None if unpadded else padding)  # (batch, seq_len, d_model)
        hidden = self.final_norm(hidden)
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq_len, 1)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # (batch, d_model)
        logits = self.classifier(self.dropout(pooled))  # (batch, num_labels)

        loss = head_loss(logits, labels) if labels is not None else None
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)
