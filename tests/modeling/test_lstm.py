import random

import pytest
import torch

from sentiment_core.modeling import LstmConfig, LstmForSequenceClassification

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


def tiny(**overrides) -> LstmForSequenceClassification:
    torch.manual_seed(0)
    options = dict(vocab_size=VOCAB, embed_dim=16, hidden_size=16, dropout=0.1)
    return LstmForSequenceClassification(LstmConfig(**{**options, **overrides}))


def test_config_defaults():
    config = LstmConfig()
    assert config.model_type == "sentiment-lstm"
    assert (config.num_labels, config.pad_token_id, config.embed_dim, config.hidden_size) == (1, 0, 100, 64)
    assert (config.num_layers, config.bidirectional, config.dropout) == (1, True, 0.3)


@pytest.mark.parametrize("num_labels", [1, 2])
def test_trains(num_labels):
    ids, labels = make_task()
    model = tiny(num_labels=num_labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
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


def test_padding_does_not_change_logits():
    ids, _ = make_task(8)
    model = tiny(num_layers=2).eval()
    padded = torch.cat([ids, torch.zeros(8, 9, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded).logits, model(ids).logits, atol=1e-5, rtol=0)


def test_all_padding_row_does_not_crash():
    ids = torch.zeros(3, 6, dtype=torch.long)
    ids[1, :4] = torch.tensor([3, 12, 13, 14])
    logits = tiny().eval()(ids).logits
    assert logits.shape == (3, 1) and torch.isfinite(logits).all()


def test_unidirectional():
    ids, labels = make_task(8)
    model = tiny(bidirectional=False).eval()
    assert model.classifier.in_features == 2 * 16  # max-pool + mean-pool of one direction
    assert torch.isfinite(model(ids, labels=labels).loss)


def test_input_embeddings_get_gradients():
    ids, _ = make_task(4)
    model = tiny().eval()
    model(ids).logits.sum().backward()
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, torch.nn.Embedding)
    assert embeddings.weight.grad[0].abs().sum() == 0  # the padding row never learns


def test_save_and_load_round_trip(tmp_path):
    ids, _ = make_task(8)
    model = tiny(num_labels=2).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = LstmForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.num_labels == 2 and loaded.config.hidden_size == 16
    for (name, value), (_, loaded_value) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(value, loaded_value), name
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=1e-6, rtol=0)
