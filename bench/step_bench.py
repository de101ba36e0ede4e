"""Time one training step of the `pretrained` family (MiniLM by default) in float32 and bfloat16, in a bare
PyTorch loop and inside our Trainer, and one batch of inference in float32, bfloat16 and dynamic int8.

    python bench/step_bench.py [--backbone FOLDER] [--batch-size 16] [--length 256] [--steps 6]

Prints seconds per step (median over --steps after one warm-up) side by side, so the Trainer's overhead
over the bare loop and what each number format buys on this CPU can be read off one table. The batch is
real IMDB test text (IMDB_DATA) cut to --length tokens, so every step has the same shape.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiment_core.core.settings import cpu_has_native_bf16  # noqa: E402
from sentiment_core.data.imdb import load_imdb  # noqa: E402
from sentiment_core.modeling import PretrainedEncoderForSequenceClassification  # noqa: E402
from sentiment_core.modeling.pretrained import offline_backbone  # noqa: E402


def batch(backbone: str, size: int, length: int) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone)
    texts = [t for t in load_imdb()["test"]["text"][:2000] if len(t) > 3 * length][:size]
    encoded = tokenizer(texts, truncation=True, max_length=length, padding="max_length", return_tensors="pt")
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
            "labels": torch.randint(0, 2, (size,))}


def model(backbone: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return PretrainedEncoderForSequenceClassification.from_backbone(backbone, num_labels=1)


def timed(step, steps: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_loop(backbone: str, inputs: dict, steps: int, bf16: bool) -> float:
    net = model(backbone).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-5)
    labels = inputs["labels"].float()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float().reshape(-1), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return timed(step, steps)


def in_trainer(backbone: str, inputs: dict, steps: int, bf16: bool, folder: Path) -> float:
    """Our SentimentTrainer with the run's TrainingArguments on the same batch, timed per step by a callback."""
    import datasets
    from transformers import TrainerCallback

    from sentiment_core.training.encoding import PadCollator
    from sentiment_core.training.options import TrainConfig
    from sentiment_core.training.run import _training_arguments
    from sentiment_core.training.trainer import SentimentTrainer

    config = TrainConfig(model="pretrained", backbone=backbone, batch_size=len(inputs["labels"]), epochs=1,
                         precision="bfloat16" if bf16 else "float32").resolved()
    rows = datasets.Dataset.from_dict({
        "input_ids": inputs["input_ids"].tolist() * (steps + 2), "labels": inputs["labels"].tolist() * (steps + 2),
        "lengths": [inputs["input_ids"].shape[1]] * len(inputs["labels"]) * (steps + 2)})
    args = _training_arguments(config, folder, "cpu", steps_per_epoch=steps + 2)
    args.eval_strategy = args.save_strategy = "no"
    args.load_best_model_at_end = False
    args.disable_tqdm = True
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            times.append(time.perf_counter() - self.started)

    trainer = SentimentTrainer(model=model(backbone), args=args, loss_name="bce", train_dataset=rows,
                               data_collator=PadCollator(0), callbacks=[Clock()])
    trainer.train()
    return statistics.median(times[1:])


def inference(backbone: str, inputs: dict, steps: int, precision: str) -> float:
    net = model(backbone).eval()
    if precision == "int8":
        net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
    feed = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}

    @torch.no_grad()
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            net(**feed)

    return timed(step, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default=offline_backbone(), help="encoder folder (default: the offline MiniLM)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--trainer-only", action="store_true",
                        help="only the Trainer's training step, float32 and bfloat16")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    inputs = batch(args.backbone, args.batch_size, args.length)
    print(f"CPU native bfloat16: {cpu_has_native_bf16()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; batch {args.batch_size} x {args.length} tokens")
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for bf16 in (False, True):
            name = "bfloat16 autocast" if bf16 else "float32"
            if not args.trainer_only:
                rows.append((f"train step, bare loop, {name}", bare_loop(args.backbone, inputs, args.steps, bf16)))
            rows.append((f"train step, our Trainer, {name}", in_trainer(args.backbone, inputs, args.steps, bf16,
                                                                         Path(folder))))
    for precision in () if args.trainer_only else ("float32", "bfloat16", "int8"):
        rows.append((f"inference, batch of {args.batch_size}, {precision}", inference(args.backbone, inputs,
                                                                                        args.steps, precision)))
    print("| what | seconds |\n| --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
