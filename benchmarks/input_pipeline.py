"""Input-pipeline throughput: batches/s of a real dataset stream on this machine.

The training loop must never wait on data: a batch has to be ready faster than a train step
consumes it. Prints one JSON line, e.g.

    python benchmarks/input_pipeline.py --data-dir ../shared/datasets            # CIFAR-10, batch 256
    python benchmarks/input_pipeline.py --data-dir ../shared/datasets --quick    # fewer batches

The first run builds the offline cache (timed separately as ``prepare_s``); the measured
batches are read after ``--warmup`` batches, so thread start-up is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from gan_jax.data import get_dataset
from gan_jax.data.pipeline import READ_OPTIONS


def measure(name: str, data_dir: str | None, batch_size: int, image_size: int | None, batches: int, warmup: int) -> dict:
    t0 = time.perf_counter()
    ds = get_dataset(name, data_dir=data_dir, image_size=image_size)
    prepare_s = time.perf_counter() - t0
    stream = ds.stream(batch_size, 0)
    for _ in range(warmup):
        next(stream)
    t0 = time.perf_counter()
    for _ in range(batches):
        batch = next(stream)
    elapsed = time.perf_counter() - t0
    return {
        "bench": "input_pipeline", "dataset": name, "batch_size": batch_size, "image_shape": list(batch["x"].shape[1:]),
        "batches": batches, "batches_per_s": round(batches / elapsed, 2), "examples_per_s": round(batches * batch_size / elapsed, 1),
        "prepare_s": round(prepare_s, 2), "read_threads": READ_OPTIONS.num_threads, "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> dict:
    default_dir = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-dir", default=str(default_dir) if default_dir.is_dir() else None)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="30 batches after 3 warm-up batches")
    args = p.parse_args(argv)
    batches, warmup = (30, 3) if args.quick else (args.batches, args.warmup)
    result = measure(args.dataset, args.data_dir, args.batch_size, args.image_size, batches, warmup)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
