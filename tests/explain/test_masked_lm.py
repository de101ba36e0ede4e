"""Replacement words from a backbone's masked-LM head: proposed where the head is on this machine, else none."""
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertTokenizer

from sentiment_core.data.edits import words
from sentiment_core.explain import counterfactual, masked_lm
from sentiment_core.inference.predictor import Predictor
from sentiment_core.modeling.pretrained import PretrainedEncoderForSequenceClassification

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + sorted(
    set("a the movie film plot was is great good bad awful dull superb acting story boring and".split()))


def pretrained_on(backbone) -> Predictor:
    torch.manual_seed(0)
    model = PretrainedEncoderForSequenceClassification.from_backbone(str(backbone))
    return Predictor(model, AutoTokenizer.from_pretrained(backbone), "pretrained", max_length=32)


def masked_lm_backbone(folder):
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


def test_a_backbone_with_its_head_proposes_other_whole_words(tmp_path):
    predictor = pretrained_on(masked_lm_backbone(tmp_path / "mlm"))
    assert masked_lm.masked_lm(predictor) is not None
    text = "The movie was great."
    found = masked_lm.proposals(predictor, text, [(14, 19)])
    assert found[(14, 19)] and len(found[(14, 19)]) <= masked_lm.PROPOSALS_PER_WORD
    assert all(word in VOCAB and word != "great" and word.isalpha() for word in found[(14, 19)])
    assert all(word not in ("the", "was", "a", "is", "and") for word in found[(14, 19)])  # no stop words
    spans = words(text)
    edits = counterfactual._proposals(predictor, text, spans, {span: 1.0 for span in spans})
    assert edits and all(e.kind == "replacement" and text[e.start:e.end] == e.old for es in edits.values() for e in es)


def test_a_backbone_without_the_head_proposes_nothing(tiny_backbone):
    predictor = pretrained_on(tiny_backbone)  # a BertModel: no masked-LM head to load
    assert masked_lm.masked_lm(predictor) is None
    assert masked_lm.proposals(predictor, "The movie was great.", [(14, 19)]) == {}
