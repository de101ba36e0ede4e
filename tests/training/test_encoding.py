import datasets
import pytest
import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from sentiment_core.training.encoding import EncodedSplit, PadCollator, encode_split, in_split_order, sorted_by_length
from sentiment_core.training.options import TrainConfig


def test_head_tail_training_reads_the_first_and_last_tokens(word_tokenizer_for_training):
    tokenizer = word_tokenizer_for_training
    text = " ".join(["great"] * 5 + ["movie"] * 100 + ["awful"] * 5)
    split = datasets.Dataset.from_dict({"text": [text], "label": [1]})
    config = TrainConfig(model="bow", max_length=20, long_text="head_tail", head_tokens=5)
    (ids,) = encode_split(tokenizer, split, config)["input_ids"]
    great, movie, awful = (tokenizer.convert_tokens_to_ids(w) for w in ("great", "movie", "awful"))
    assert ids == [great] * 5 + [movie] * 10 + [awful] * 5
    windows = encode_split(tokenizer, split, TrainConfig(model="bow", max_length=20, long_text="windows"),
                           reading="windows")
    assert len(windows) > 1 and set(windows["review"]) == {0} and all(len(i) == 20 for i in windows["input_ids"])


@pytest.fixture
def word_tokenizer_for_training():
    from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer

    return build_word_tokenizer(["great movie awful"] * 5, TokenizerConfig(vocab_size=50, min_frequency=1))


def test_the_collator_pads_right_and_masks_the_padding():
    batch = PadCollator(pad_token_id=0, pad_to_multiple_of=4)(
        [{"input_ids": [5, 6, 7], "labels": 1, "lengths": 3}, {"input_ids": [8], "labels": 0, "lengths": 9}])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert batch["labels"].tolist() == [1, 0] and batch["lengths"].tolist() == [3, 9]
    assert all(value.dtype == torch.long for value in batch.values())


def test_an_encoded_split_reads_as_rows_columns_and_selections():
    split = EncodedSplit({"input_ids": [[1, 2, 3], [4], [5, 6]], "labels": [1, 0, 1], "lengths": [3, 1, 2],
                          "review": [0, 1, 2]})
    assert len(split) == 3 and split.column_names == ["input_ids", "labels", "lengths", "review"]
    assert split[1] == {"input_ids": [4], "labels": 0, "lengths": 1, "review": 1}
    assert split["labels"] == [1, 0, 1]
    ordered, order = sorted_by_length(split)
    assert ordered["input_ids"] == [[4], [5, 6], [1, 2, 3]] and order.tolist() == [1, 2, 0]
    assert in_split_order(torch.tensor(ordered["review"]).numpy(), order).tolist() == [0, 1, 2]


def test_training_batches_group_reviews_by_the_lengths_column(word_tokenizer_for_training, tmp_path):
    from transformers import TrainingArguments

    from sentiment_core.modeling.bow import BowConfig, BowForSequenceClassification
    from sentiment_core.training.trainer import SentimentTrainer

    texts = ["great " * n for n in range(1, 41)]
    split = encode_split(word_tokenizer_for_training, datasets.Dataset.from_dict({"text": texts, "label": [1] * 40}),
                         TrainConfig(model="bow", max_length=64))
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, use_cpu=True,
                             train_sampling_strategy="group_by_length", length_column_name="lengths", report_to=[])
    model = BowForSequenceClassification(BowConfig(vocab_size=50, embed_dim=4, hidden_sizes=[], bigram_buckets=0))
    sampler = SentimentTrainer(model=model, args=args, loss_name="bce", train_dataset=split)._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler) and sampler.lengths == split["lengths"]
    assert sorted(sampler) == list(range(40))
