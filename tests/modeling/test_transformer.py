import random

import pytest
import torch

from sentiment_core.modeling import TransformerConfig, TransformerForSequenceClassification

VOCAB = 40  # 0 = pad, 1 = unk, then cue words and neutral words
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


def tiny(**overrides) -> TransformerForSequenceClassification:
    torch.manual_seed(0)
    options = dict(
        vocab_size=VOCAB, d_model=32, nhead=2, num_layers=2, dim_feedforward=64, max_position_embeddings=32
    )
    return TransformerForSequenceClassification(TransformerConfig(**{**options, **overrides}))


def test_config_defaults():
    config = TransformerConfig()
    assert config.model_type == "sentiment-transformer"
    assert (config.num_labels, config.pad_token_id, config.d_model, config.max_position_embeddings) == (1, 0, 64, 512)
    assert (config.num_layers, config.nhead, config.dim_feedforward, config.dropout) == (2, 4, 128, 0.1)
    assert config.attention_dropout == 0.0


def test_bad_head_count_raises():
    with pytest.raises(ValueError, match="nhead"):
        TransformerConfig(d_model=30, nhead=4)


@pytest.mark.parametrize("num_labels", [1, 2])
def test_trains(num_labels):
    ids, labels = make_task()
    model = tiny(num_labels=num_labels)
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


def test_without_labels_loss_is_none():
    ids, _ = make_task(8)
    output = tiny().eval()(ids)
    assert output.loss is None and output.logits.shape == (8, 1)


@pytest.mark.parametrize("grad", [False, True])
def test_padding_does_not_change_logits(grad):
    ids, _ = make_task(8)
    model = tiny().eval()
    padded = torch.cat([ids, torch.zeros(8, 9, dtype=torch.long)], dim=1)
    with torch.set_grad_enabled(grad):  # no_grad takes PyTorch's fast path; both must agree
        torch.testing.assert_close(model(padded).logits, model(ids).logits, atol=1e-5, rtol=0)


def test_cpu_inference_skips_the_fused_kernel_and_matches_it():
    """On the CPU the layers take the composite path (the fused kernel's masked softmax is slow there);
    the outputs are those of torch's fused kernel."""
    ids, _ = make_task(8)
    padded = torch.cat([ids, torch.zeros(8, 9, dtype=torch.long)], dim=1)
    model = tiny().eval()
    layer = model.encoder.layers[0]
    fused = torch.nn.TransformerEncoderLayer.forward
    with torch.no_grad():
        ours = model(padded).logits
        hidden = torch.randn(8, padded.shape[1], 32)
        padding = padded.eq(0)
        torch.testing.assert_close(layer(hidden, src_key_padding_mask=padding)[~padding],
                                   fused(layer, hidden, src_key_padding_mask=padding)[~padding], atol=1e-5, rtol=0)
    calls = []
    original = torch._transformer_encoder_layer_fwd
    try:
        torch._transformer_encoder_layer_fwd = lambda *args: calls.append(1) or original(*args)
        with torch.no_grad():
            torch.testing.assert_close(model(padded).logits, ours)
    finally:
        torch._transformer_encoder_layer_fwd = original
    assert calls == []


def test_exports_with_dynamic_shapes_and_keeps_the_padding_mask():
    """torch.export (the ONNX exporter's tracer) gets one graph for every batch and length, padded or not."""
    ids, _ = make_task(4)
    model = tiny().eval()
    batch, length = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("length", min=2, max=32)
    program = torch.export.export(model, (ids, ids.ne(0)),
                                  dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}))
    padded = torch.cat([ids, torch.zeros(4, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        for inputs in (padded, ids[:1, :6]):
            torch.testing.assert_close(program.module()(inputs, inputs.ne(0)).logits, model(inputs).logits,
                                       atol=1e-5, rtol=0)


def test_all_padding_row_gives_finite_logits():
    ids = torch.zeros(2, 5, dtype=torch.long)
    ids[1, :3] = torch.tensor([3, 12, 13])
    model = tiny().eval()
    assert torch.isfinite(model(ids).logits).all()
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()


def test_too_long_input_raises():
    model = tiny(max_position_embeddings=8).eval()
    with pytest.raises(ValueError, match=r"12 tokens.*max_position_embeddings is 8"):
        model(torch.ones(1, 12, dtype=torch.long))
    assert model(torch.ones(1, 8, dtype=torch.long)).logits.shape == (1, 1)


def test_input_embeddings():
    ids, _ = make_task(4)
    model = tiny().eval()
    model(ids).logits.sum().backward()
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, torch.nn.Embedding) and embeddings.num_embeddings == VOCAB
    assert embeddings.weight.grad[ids[0, 0]].abs().sum() > 0
    assert embeddings.weight.grad[0].abs().sum() == 0  # padding never reaches the output


def test_save_and_load_round_trip(tmp_path):
    ids, _ = make_task(8)
    model = tiny(num_labels=2).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = TransformerForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.num_labels == 2 and loaded.config.d_model == 32
    for (name, value), (_, loaded_value) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(value, loaded_value), name
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=1e-6, rtol=0)
