"""Embedding -> (bi)LSTM -> max+mean pooled head.

Each direction reads a review only within its real length: the forward LSTM runs on the
right-padded batch (padding comes after every real step), the backward one on each review
reversed within its length (padding stays at the end), and the pooling skips padded steps,
so right-padding never changes a review's logits. This gives the numbers of
`pack_padded_sequence` at a sixth of its CPU time on batches of mixed lengths.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from sentiment_core.core.errors import InputError
from sentiment_core.modeling.heads import head_loss
from sentiment_core.modeling.token_dropout import drop_tokens


class LstmConfig(PretrainedConfig):
    """Configuration of `LstmForSequenceClassification`.

    Args:
        vocab_size: number of word ids (the tokenizer's vocabulary, special tokens included).
        num_labels: 1 = a single logit (BCE-style losses), 2 = two logits (cross entropy).
        pad_token_id: id of the padding token (its embedding stays zero).
        embed_dim: size of the word embeddings.
        hidden_size: LSTM hidden size per direction.
        num_layers: stacked LSTM layers.
        bidirectional: read the review both ways (the head then sees 2 * hidden_size features).
        token_dropout: share of a review's tokens whose embedding is zeroed in training (word
            dropout; the strongest regulariser for these from-scratch models on IMDB).
        token_dropout_keep: token ids word dropout never drops (set by counterfactual augmentation:
            the negations and scores its edits turn on).
        dropout: dropout on the embeddings, between stacked LSTM layers and before the classifier.
        initializer_range: standard deviation of the normal init of the embeddings.
    """

    model_type = "sentiment-lstm"

    def __init__(
        self,
        vocab_size: int = 50_000,
        num_labels: int = 1,
        pad_token_id: int = 0,
        embed_dim: int = 100,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        token_dropout: float = 0.5,
        token_dropout_keep: tuple[int, ...] | list[int] = (),
        initializer_range: float = 0.1,
        **kwargs,
    ):
        if min(vocab_size, embed_dim, hidden_size, num_layers) < 1:
            raise InputError(
                f"vocab_size, embed_dim, hidden_size and num_layers must be positive, got "
                f"{vocab_size}, {embed_dim}, {hidden_size}, {num_layers}"
            )
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.token_dropout = token_dropout
        self.token_dropout_keep = list(token_dropout_keep)
        self.initializer_range = initializer_range
        if "id2label" not in kwargs:  # a saved config carries id2label, which sets num_labels
            kwargs["num_labels"] = num_labels
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def to_diff_dict(self) -> dict:
        # transformers leaves id2label out when it has two labels (its own default); ours is one label.
        return {**super().to_diff_dict(), "id2label": self.id2label, "label2id": self.label2id}


class LstmForSequenceClassification(PreTrainedModel):
    config_class = LstmConfig
    base_model_prefix = "lstm"
    main_input_name = "input_ids"
    accepts_loss_kwargs = False  # the loss is a plain batch mean: let the Trainer scale it

    def __init__(self, config: LstmConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        # One unidirectional LSTM per layer and direction. The backward one reads each review
        # reversed within its real length, so right padding never reaches a real position.
        # (torch's packed sequences give the same numbers but run much slower on a CPU when the
        # lengths in a batch differ: its fast kernel needs one length per batch.)
        directions = 2 if config.bidirectional else 1
        self.layers = nn.ModuleList(
            nn.ModuleList(
                nn.LSTM(config.embed_dim if layer == 0 else config.hidden_size * directions, config.hidden_size,
                        batch_first=True)
                for _ in range(directions)
            )
            for layer in range(config.num_layers)
        )
        features = config.hidden_size * (2 if config.bidirectional else 1)
        self.classifier = nn.Linear(2 * features, config.num_labels)  # max-pool and mean-pool side by side
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            with torch.no_grad():
                module.weight[self.config.pad_token_id].zero_()
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LSTM):
            module.reset_parameters()  # torch's uniform(-1/sqrt(hidden), 1/sqrt(hidden))

    @staticmethod
    def _reverse_within_lengths(sequence: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Reverse each row's first `length` steps; padding stays at the end. (batch, seq_len, dim)"""
        positions = torch.arange(sequence.shape[1], device=sequence.device)[None, :]  # (1, seq_len)
        source = lengths[:, None] - 1 - positions  # (batch, seq_len)
        source = torch.where(source >= 0, source, positions)  # padding maps to itself
        # not expand_as: ONNX keeps seq_len dynamic
        return sequence.gather(1, source.unsqueeze(-1).expand(-1, -1, sequence.shape[-1]))

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
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id)
        seq_len = input_ids.shape[1]
        # Right padding: the real length is the mask's count; an all-padding row reads one step.
        real_lengths = attention_mask.long().sum(dim=1).clamp(min=1)  # (batch,)
        embedded = drop_tokens(self.embeddings(input_ids), input_ids, self.config.token_dropout, self.training,
                               self.config.token_dropout_keep)
        embedded = self.dropout(embedded)  # (batch, seq_len, embed_dim)
        hidden = embedded
        for index, directions in enumerate(self.layers):
            if index > 0:
                hidden = self.dropout(hidden)
            outputs = [directions[0](hidden)[0]]  # (batch, seq_len, hidden_size)
            if len(directions) == 2:
                reversed_input = self._reverse_within_lengths(hidden, real_lengths)
                outputs.append(self._reverse_within_lengths(directions[1](reversed_input)[0], real_lengths))
            hidden = torch.cat(outputs, dim=-1)  # (batch, seq_len, features)
        valid = torch.arange(seq_len, device=input_ids.device)[None, :] < real_lengths[:, None]  # (batch, seq_len)
        valid = valid.unsqueeze(-1)  # (batch, seq_len, 1)
        max_pooled = hidden.masked_fill(~valid, torch.finfo(hidden.dtype).min).amax(dim=1)  # (batch, features)
        mean_pooled = (hidden * valid).sum(dim=1) / real_lengths[:, None].to(hidden.dtype)  # (batch, features)
        pooled = torch.cat([max_pooled, mean_pooled], dim=-1)  # (batch, 2 * features)
        logits = self.classifier(self.dropout(pooled))  # (batch, num_labels)

        loss = head_loss(logits, labels) if labels is not None else None
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)
