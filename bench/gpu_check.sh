#!/usr/bin/env bash
# The GPU path, checked in one go on one GPU (at most about 8 minutes): fine-tune the MiniLM encoder on a
# subset (bfloat16, length-grouped batches, dataloader workers), evaluate it, predict, explain and serve
# /predict, printing samples/s, accuracy and latencies. Prepare the carried files where the repository is:
#   IMDB_DATA=../shared/data/imdb python bench/prepare_gpu_check.py      # .gpu-check/: bf16 MiniLM + data
# then, on the GPU machine, in the repository root:   bash bench/gpu_check.sh [.gpu-check]
# GPU_CHECK_DRY_RUN=1 runs it on the CPU (with a small carried subset), to check the script before a GPU is lent.
set -euo pipefail
CARRY="${1:-.gpu-check}"
PY="${PYTHON:-python3}"
export IMDB_DATA="$CARRY/data" SENTIMENT_MODELS_DIR="${SENTIMENT_MODELS_DIR:-$(mktemp -d)}" HF_HUB_OFFLINE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" - <<'PYEOF'
import os
import torch
if not torch.cuda.is_available():
    assert os.environ.get("GPU_CHECK_DRY_RUN") == "1", "no CUDA GPU visible to torch (GPU_CHECK_DRY_RUN=1 runs on the CPU)"
    print(f"dry run on the CPU (figures are not a GPU's), torch {torch.__version__}")
else:
    print(f"GPU: {torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}, torch {torch.__version__}")
PYEOF
start=$(date +%s)
"$PY" -m sentiment_core train --model pretrained --backbone "$CARRY/minilm" --run-id gpu-minilm \
    --epochs 2 --batch-size 32 --max-length 512 --long-text head_tail 2>&1 | grep -v "it/s\]" | tail -25
echo "train + test: $(( $(date +%s) - start )) s"
"$PY" - <<'PYEOF'
import json, time, statistics, threading
from pathlib import Path
from sentiment_core.core import runs
from sentiment_core.explain.attribution import explain
from sentiment_core.inference.sources import load_predictor

run = runs.run_path("gpu-minilm")
report = json.loads((run / "eval.json").read_text())
print(f"test accuracy {report['test']['accuracy']:.4f} on {report['test']['n']} reviews; "
      f"train samples/s {report['train_samples_per_second']}; precision {runs.read_config(run)['precision_used']}")
predictor = load_predictor("gpu-minilm")
text = "A slow start, but the performances are superb and the ending moved me to tears. " * 8
for _ in range(3):
    predictor.predict([text])
times = []
for _ in range(20):
    started = time.perf_counter(); predictor.predict([text]); times.append(time.perf_counter() - started)
print(f"prediction latency p50 {statistics.median(times) * 1000:.1f} ms")
started = time.perf_counter(); explain(predictor, [text], n_steps=50); ig = time.perf_counter() - started
print(f"50-step Integrated Gradients {ig * 1000:.0f} ms")
batch = [text] * 512
started = time.perf_counter(); predictor.predict(batch, batch_size=128); seconds = time.perf_counter() - started
print(f"batch prediction {len(batch) / seconds:.0f} reviews/s")
PYEOF
"$PY" bench/load_test.py --run gpu-minilm --clients 8 --duration "${GPU_CHECK_LOAD_SECONDS:-15}" 2>&1 | tail -12
echo "gpu check done in $(( $(date +%s) - start )) s"
