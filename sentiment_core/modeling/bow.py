"""Bag of words (+ hashed bigrams) -> head: the fast baseline, fastText meets NBSVM.

Every review becomes a weighted sum of its word and word-bigram embeddings (one
`nn.EmbeddingBag` over a single table: word ids first, then `bigram_buckets` hashed bigram
slots). Each distinct item counts once (binarised, as in NBSVM: a repeated word shares its
weight among its occurrences), is scaled by its Naive Bayes log-count ratio
(`item_weights`, fitted on the training split by `fit_item_weights`; ones until then), and
the sum is divided by sqrt(number of distinct items). Training drops a share of the items
(`item_dropout`). Then an optional Linear/BatchNorm/ReLU/Dropout stack (`hidden_sizes`) and
a Linear classifier. With `negation_cue_ids`, every word in a negation's scope ("not ... dreadful") is
scaled by one learnt `negation_factor` shared by all words (`modeling.negation_scope`). Every item weight
is multiplied by `token_weights` (1 on real tokens by default), so an explainer can run Integrated
Gradients on those weights and get one score per word.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from sentiment_core.core.errors import InputError
from sentiment_core.modeling.heads import head_loss
from sentiment_core.modeling.negation_scope import negation_scope

BIGRAM_HASH_MULTIPLIER = 1_000_003  # a prime: bigram slot = (a * P + b) % bigram_buckets


class BowConfig(PretrainedConfig):
    """Configuration of `BowForSequenceClassification`.

    Args:
        vocab_size: number of word ids (the tokenizer's vocabulary, special tokens included).
        num_labels: 1 = a single logit (BCE-style losses), 2 = two logits (cross entropy).
        pad_token_id: id of the padding token; it never enters a bag.
        embed_dim: size of each word/bigram embedding.
        bigram_buckets: hashed bigram slots after the word ids; 0 disables bigrams.
        hidden_sizes: widths of the Linear -> BatchNorm1d -> ReLU -> Dropout blocks of the head;
            empty (the default) is a linear classifier on the bag, which generalises best on
            IMDB (the hidden block overfits: docs/results.md).
        dropout: dropout probability in the head.
        item_dropout: share of a review's words/bigrams dropped at random in training.
        nb_weighting: scale items by their Naive Bayes log-count ratio (`fit_item_weights`).
        sparse: sparse gradients for the embedding table. The table has
            `vocab_size + bigram_buckets` rows (about 1M x 64 by default) and a batch touches a
            few thousand of them; a dense optimizer (Adam, AdamW) would read and write the whole
            table every step, which is what makes a CPU epoch slow. With `sparse=True` the
            embedding's gradient is a sparse tensor, so its optimizer must accept sparse
            gradients: `torch.optim.SparseAdam` (with a dense optimizer for the other
            parameters) or `torch.optim.Adagrad`/`SGD`. Use `sparse=False` with plain Adam/AdamW.
        initializer_range: standard deviation of the normal init of the embedding table.
        negation_cue_ids: token ids that open a negation's scope; empty (the default) turns scopes off.
        scope_end_ids: token ids that close it (clause ends and contrast markers).
    """

    model_type = "sentiment-bow"

    def __init__(
        self,
        vocab_size: int = 50_000,
        num_labels: int = 1,
        pad_token_id: int = 0,
        embed_dim: int = 32,
        bigram_buckets: int = 262_144,
        hidden_sizes: tuple[int, ...] | list[int] = (),
        dropout: float = 0.3,
        item_dropout: float = 0.5,
        nb_weighting: bool = True,
        sparse: bool = True,
        initializer_range: float = 0.1,
        negation_cue_ids: tuple[int, ...] | list[int] = (),
        scope_end_ids: tuple[int, ...] | list[int] = (),
        **kwargs,
    ):
        if not 0.0 <= item_dropout < 1.0:
            raise InputError(f"item_dropout must be in [0, 1), got {item_dropout}")
        if vocab_size < 1 or embed_dim < 1 or bigram_buckets < 0:
            raise InputError(
                f"vocab_size and embed_dim must be positive and bigram_buckets >= 0, got "
                f"vocab_size={vocab_size}, embed_dim={embed_dim}, bigram_buckets={bigram_buckets}"
            )
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.bigram_buckets = bigram_buckets
        self.hidden_sizes = [int(size) for size in hidden_sizes]
        self.dropout = dropout
        self.item_dropout = item_dropout
        self.nb_weighting = nb_weighting
        self.sparse = sparse
        self.initializer_range = initializer_range
        self.negation_cue_ids = list(negation_cue_ids)
        self.scope_end_ids = list(scope_end_ids)
        if "id2label" not in kwargs:  # a saved config carries id2label, which sets num_labels
            kwargs["num_labels"] = num_labels
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def to_diff_dict(self) -> dict:
        # transformers leaves id2label out when it has two labels (its own default); ours is one label.
        return {**super().to_diff_dict(), "id2label": self.id2label, "label2id": self.label2id}


class BowForSequenceClassification(PreTrainedModel):
    config_class = BowConfig
    base_model_prefix = "bow"
    main_input_name = "input_ids"
    accepts_loss_kwargs = False  # the loss is a plain batch mean: let the Trainer scale it

    def __init__(self, config: BowConfig):
        super().__init__(config)
        self.embeddings = nn.EmbeddingBag(
            config.vocab_size + config.bigram_buckets,
            config.embed_dim,
            mode="sum",
            sparse=config.sparse,
            padding_idx=config.pad_token_id,
        )
        layers: list[nn.Module] = []
        width = config.embed_dim
        for size in config.hidden_sizes:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(config.dropout)]
            width = size
        self.head = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, config.num_labels)
        # Naive Bayes log-count ratio per item (word or bigram slot); ones until fitted.
        self.register_buffer("item_weights", torch.ones(config.vocab_size + config.bigram_buckets))
        # One factor for every word in a negation's scope; it starts as a turn (-1) and training tells how much.
        self.negation_factor = nn.Parameter(torch.full((), -1.0)) if config.negation_cue_ids else None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.EmbeddingBag):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            with torch.no_grad():
                module.weight[self.config.pad_token_id].zero_()
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            module.reset_parameters()

    def get_input_embeddings(self) -> nn.EmbeddingBag:
        return self.embeddings

    def set_input_embeddings(self, value: nn.EmbeddingBag) -> None:
        self.embeddings = value

    def _bag_items(self, input_ids, mask, token_weights):
        """Word ids followed by hashed bigram slots, their weights and validity. -> 3 x (batch, items)"""
        pad = self.config.pad_token_id
        ids = input_ids.masked_fill(~mask, pad)  # (batch, seq_len)
        if self.config.bigram_buckets == 0 or ids.shape[1] < 2:
            return ids, token_weights, mask
        pair_mask = mask[:, :-1] & mask[:, 1:]  # (batch, seq_len - 1)
        bigram_ids = self.config.vocab_size + (
            ids[:, :-1] * BIGRAM_HASH_MULTIPLIER + ids[:, 1:]
        ) % self.config.bigram_buckets
        bigram_ids = bigram_ids.masked_fill(~pair_mask, pad)  # (batch, seq_len - 1)
        bigram_weights = (token_weights[:, :-1] + token_weights[:, 1:]) / 2 * pair_mask
        return (
            torch.cat([ids, bigram_ids], dim=1),  # (batch, 2 * seq_len - 1)
            torch.cat([token_weights, bigram_weights], dim=1),
            torch.cat([mask, pair_mask], dim=1),
        )

    def _occurrence_share(self, ids, valid):
        """1 / (occurrences of the same item in the same review) for valid items, else 0."""
        rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1)  # (batch, 1)
        n_rows = self.config.vocab_size + self.config.bigram_buckets + 1
        keys = torch.where(valid, rows * n_rows + ids, torch.full_like(ids, -1))  # (batch, items); -1 = invalid
        _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
        return valid / counts[inverse]  # (batch, items)

    @torch.no_grad()
    def fit_item_weights(self, input_ids_batches, labels_batches, alpha: float = 1.0) -> None:
        """Naive Bayes log-count ratios of items (each counted once per review) on training data.

        input_ids_batches / labels_batches: iterables of (batch, seq_len) padded ids and (batch,) labels.
        """
        size = self.config.vocab_size + self.config.bigram_buckets
        counts = torch.zeros(2, size, dtype=torch.float64)
        for input_ids, labels in zip(input_ids_batches, labels_batches):
            mask = input_ids.ne(self.config.pad_token_id)
            ids, _, valid = self._bag_items(input_ids, mask, mask.float())
            share = self._occurrence_share(ids, valid)  # a review's item shares sum to 1 per item
            for label in (0, 1):
                chosen = labels.reshape(-1) == label
                counts[label].index_add_(0, ids[chosen].reshape(-1), share[chosen].reshape(-1).double())
        counts += alpha
        ratio = torch.log((counts[1] / counts[1].sum()) / (counts[0] / counts[0].sum()))
        ratio[self.config.pad_token_id] = 0.0
        self.item_weights.copy_(ratio.to(self.item_weights.dtype))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,  # token counts before truncation; unused here
        token_weights: torch.Tensor | None = None,
        return_dict: bool = True,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id)
        dtype = self.embeddings.weight.dtype
        mask = attention_mask.bool()  # (batch, seq_len)
        if token_weights is None:
            token_weights = mask.to(dtype)
        token_weights = token_weights.to(dtype) * mask
        if self.negation_factor is not None:  # words in a negation's scope weigh `negation_factor` times as much
            scope = negation_scope(input_ids, self.config.negation_cue_ids, self.config.scope_end_ids)
            token_weights = torch.where(scope, token_weights * self.negation_factor, token_weights)
        ids, weights, valid = self._bag_items(input_ids, mask, token_weights)  # (batch, items)
        if self.training and self.config.item_dropout > 0:
            valid = valid & (torch.rand(valid.shape, device=valid.device) >= self.config.item_dropout)
        share = self._occurrence_share(ids, valid).to(dtype)  # (batch, items): 1 / count of that item
        distinct = share.sum(dim=1).clamp(min=1.0)  # (batch,)
        scale = self.item_weights[ids] if self.config.nb_weighting else torch.ones_like(share)
        per_item = weights * share * scale / distinct.sqrt().unsqueeze(1)  # (batch, items)
        ids = ids.masked_fill(~valid, self.config.pad_token_id)
        pooled = self.embeddings(ids, per_sample_weights=per_item * valid)  # (batch, embed_dim)
        logits = self.classifier(self.head(pooled))  # (batch, num_labels)

        loss = head_loss(logits, labels) if labels is not None else None
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)
