"""The model families: one file each, a `PretrainedConfig` next to its `PreTrainedModel`.

Importing this package registers every family with the Auto classes, so a saved run loads
with `AutoModelForSequenceClassification.from_pretrained(path)`.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel

from sentiment_core.core.errors import InputError
from sentiment_core.modeling.bow import BowConfig, BowForSequenceClassification
from sentiment_core.modeling.lstm import LstmConfig, LstmForSequenceClassification
from sentiment_core.modeling.pretrained import (
    DEFAULT_BACKBONE,
    PretrainedEncoderConfig,
    PretrainedEncoderForSequenceClassification,
)
from sentiment_core.modeling.transformer import TransformerConfig, TransformerForSequenceClassification

FAMILIES: dict[str, tuple[type[PretrainedConfig], type[PreTrainedModel]]] = {
    "bow": (BowConfig, BowForSequenceClassification),
    "lstm": (LstmConfig, LstmForSequenceClassification),
    "transformer": (TransformerConfig, TransformerForSequenceClassification),
    "pretrained": (PretrainedEncoderConfig, PretrainedEncoderForSequenceClassification),
}

# exist_ok: a second import (a reload, pytest collecting twice) registers the same names again.
for _config_class, _model_class in FAMILIES.values():
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModelForSequenceClassification.register(_config_class, _model_class, exist_ok=True)


def build_model(family: str, **config_kwargs) -> PreTrainedModel:
    """A fresh model of `family` built from its config's keyword arguments.

    For "pretrained" without a `backbone_config`, the backbone's pretrained weights are loaded
    from `backbone` (hub id or local folder) rather than left random.
    """
    if family not in FAMILIES:
        raise InputError(f"unknown model family {family!r}; choose one of: {', '.join(FAMILIES)}")
    config_class, model_class = FAMILIES[family]
    if family == "pretrained" and not config_kwargs.get("backbone_config"):
        return model_class.from_backbone(config_kwargs.pop("backbone", DEFAULT_BACKBONE), **config_kwargs)
    return model_class(config_class(**config_kwargs))


__all__ = [
    "FAMILIES",
    "BowConfig",
    "BowForSequenceClassification",
    "LstmConfig",
    "LstmForSequenceClassification",
    "TransformerConfig",
    "TransformerForSequenceClassification",
    "PretrainedEncoderConfig",
    "PretrainedEncoderForSequenceClassification",
    "build_model",
]
