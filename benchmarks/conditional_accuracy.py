"""How often a conditional generator draws the class it is asked for, judged by the offline MNIST classifier.

    python benchmarks/conditional_accuracy.py WORKDIR [--no-ema]

Restores WORKDIR's latest checkpoint, draws 100 samples of each of the 10 classes (fixed
latents, seed 1), classifies them with gan_jax's shipped MNIST classifier (99.47 % test
accuracy) and prints the fraction classified as their label, overall and per class.
"""

import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from gan_jax.cli import _restore
from gan_jax.images import to_uint8
from gan_jax.metrics.classifier import load_classifier
from gan_jax.train import sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("--no-ema", action="store_true", help="the raw generator instead of its EMA")
    args = parser.parse_args()
    dataset, state = _restore(Path(args.workdir))
    if not state.spec.conditional or dataset.num_classes != 10:
        raise SystemExit("needs a conditional model trained on a 10-class 28x28 dataset (mnist)")
    module, variables, _ = load_classifier("mnist")
    labels = np.repeat(np.arange(10), 100).astype(np.int32)
    x = to_uint8(sample(state, len(labels), seed=1, labels=labels, use_ema=not args.no_ema))
    _, logits = module.apply(variables, jnp.asarray(x, jnp.float32) / 255.0)
    pred = np.asarray(jnp.argmax(logits, -1))
    per_class = [round(float((pred[labels == k] == k).mean()), 2) for k in range(10)]
    print({"accuracy": float((pred == labels).mean()), "per_class": per_class, "ema": not args.no_ema})


if __name__ == "__main__":
    main()
