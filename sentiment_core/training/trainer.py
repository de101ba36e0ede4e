"""The Hugging Face Trainer, specialised: one `SentimentTrainer.compute_loss` override applies the loss
chosen by name, an Adam that also steps sparse embedding gradients, and the validation metrics that pick
the best checkpoint. `training.run.train` drives it."""

from __future__ import annotations

import numpy as np
import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from sentiment_core.core.metrics import classification_metrics
from sentiment_core.modeling.heads import positive_probability
from sentiment_core.training.encoding import EncodedSplit
from sentiment_core.training.losses import compute_loss

# --- optimizer for sparse embedding tables ---------------------------------------------

class SparseAwareAdam(torch.optim.Optimizer):
    """AdamW on dense parameters and SparseAdam on sparse-gradient embedding tables, as one optimizer.

    A dense Adam update touches the whole table every step (slow for a 1M x 64 bag);
    SparseAdam touches only the rows a batch used. LR schedules apply to both halves.
    """

    def __init__(self, dense, sparse, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps=1e-8):
        self.optimizers = []
        if dense:
            self.optimizers.append(torch.optim.AdamW(dense, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps))
        if sparse:
            self.optimizers.append(torch.optim.SparseAdam(sparse, lr=lr, betas=betas, eps=eps))
        self.defaults = {"lr": lr}
        self.param_groups = [group for optimizer in self.optimizers for group in optimizer.param_groups]
        self.state = {}
        self._optimizer_step_pre_hooks, self._optimizer_step_post_hooks = {}, {}
        self._optimizer_state_dict_pre_hooks, self._optimizer_state_dict_post_hooks = {}, {}
        self._optimizer_load_state_dict_pre_hooks, self._optimizer_load_state_dict_post_hooks = {}, {}

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for optimizer in self.optimizers:
            optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True):
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state_dict):
        for optimizer, state in zip(self.optimizers, state_dict["optimizers"]):
            optimizer.load_state_dict(state)
        self.param_groups = [group for optimizer in self.optimizers for group in optimizer.param_groups]


def sparse_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Weights of embedding tables built with sparse=True."""
    return [
        module.weight
        for module in model.modules()
        if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)) and module.sparse
    ]


# --- the Trainer and its callbacks -----------------------------------------------------

class SentimentTrainer(Trainer):
    """Trainer with the loss chosen by name, running train accuracy, and sparse-aware Adam."""

    def __init__(self, *args, loss_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_name = loss_name
        self._train_correct = 0
        self._train_seen = 0

    def _get_train_sampler(self, train_dataset=None):
        """Batches of similar length, from the split's `lengths` column (the Trainer reads that column
        only from a datasets.Dataset; without it, it would measure every row's input_ids)."""
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if isinstance(dataset, EncodedSplit) and self.args.train_sampling_strategy == "group_by_length":
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=dataset[self.args.length_column_name])
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        """Evaluate in the dataset's order (the Trainer would group by length, as in training), so
        each prediction lines up with its row; `sorted_by_length` makes that order cheap to pad."""
        if eval_dataset is None:
            return None
        return torch.utils.data.SequentialSampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        lengths = inputs.get("lengths")
        outputs = model(**inputs)
        logits = outputs.logits  # (batch, num_labels)
        loss = compute_loss(self.loss_name, logits.float(), labels, lengths)
        if model.training:
            with torch.no_grad():
                predicted = (positive_probability(logits.float()) >= 0.5).long()
                self._train_correct += int((predicted == labels).sum())
                self._train_seen += int(labels.numel())
        return (loss, outputs) if return_outputs else loss

    def log(self, logs, *args, **kwargs):
        if "loss" in logs and self._train_seen:
            logs["accuracy"] = self._train_correct / self._train_seen
            self._train_correct = self._train_seen = 0
        super().log(logs, *args, **kwargs)

    def _get_grad_norm(self, model, grad_norm=None):
        if grad_norm is None and sparse_parameters(self.model):
            return None  # torch has no norm of sparse gradients: bow logs no grad_norm
        return super()._get_grad_norm(model, grad_norm=grad_norm)

    def create_optimizer(self, model=None):
        model = model or self.model
        sparse = sparse_parameters(model)
        if self.optimizer is None and sparse:
            sparse_ids = {id(p) for p in sparse}
            dense = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse_ids]
            self.optimizer = SparseAwareAdam(dense, sparse, lr=self.args.learning_rate,
                                             weight_decay=self.args.weight_decay)
            return self.optimizer
        return super().create_optimizer(model)


def validation_metrics(prediction) -> dict[str, float]:
    """compute_metrics for the Trainer: accuracy, F1 and unweighted BCE on validation."""
    logits = torch.as_tensor(np.asarray(prediction.predictions)).float()
    probabilities = positive_probability(logits).numpy()
    report = classification_metrics(prediction.label_ids, probabilities)
    return {"accuracy": report["accuracy"], "f1": report["f1"], "bce": report["bce"]}

