"""How often a conditional generator draws the class it is asked for, judged by the offline MNIST classifier.

    python benchmarks/conditional_accuracy.py WORKDIR [--no-ema]

Restores WORKDIR's latest checkpoint, draws 100 samples of each of the 10 classes (fixed
latents, seed 1), classifies them with gan_jax's shipped MNIST classifier (99.47 % test
accuracy) and prints the fraction classified as their label, overall and per class, as one
JSON line. 32 px MNIST runs (the 28 px digits zero-padded by 2 pixels) are cropped back to the
classifier's 28x28.
"""

import argparse
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from gan_jax.cli import _restore
from gan_jax.images import to_uint8
from gan_jax.metrics.classifier import CLASSIFIERS, load_classifier
from gan_jax.sampling import sample


def _to_classifier(x: np.ndarray) -> np.ndarray:
    """(N, H, W, 1) uint8 at 28 px, or larger ones centre-cropped (the inverse of the dataset's padding)."""
    size = CLASSIFIERS["mnist"]["input_shape"][0]
    h, w = x.shape[1:3]
    if (h, w) == (size, size):
        return x
    if h < size or w < size or (h - size) % 2 or (w - size) % 2:
        raise SystemExit(f"needs 28x28 samples or MNIST zero-padded evenly to a larger size, got {h}x{w}")
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, top : top + size, left : left + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("--no-ema", action="store_true", help="the raw generator instead of its EMA")
    args = parser.parse_args()
    dataset, recipe, state = _restore(Path(args.workdir))
    if not recipe.num_classes or dataset.num_classes != 10 or dataset.data_shape[-1] != 1:
        raise SystemExit("needs a conditional model trained on a 10-class grayscale digits dataset (mnist)")
    module, variables, _ = load_classifier("mnist")
    labels = np.repeat(np.arange(10), 100).astype(np.int32)
    x = _to_classifier(to_uint8(sample(recipe, state, len(labels), seed=1, labels=labels, use_ema=not args.no_ema)))
    _, logits = module.apply(variables, jnp.asarray(x, jnp.float32) / 255.0)
    pred = np.asarray(jnp.argmax(logits, -1))
    per_class = [round(float((pred[labels == k] == k).mean()), 2) for k in range(10)]
    print(json.dumps({"step": int(state.step), "accuracy": float((pred == labels).mean()), "per_class": per_class, "ema": not args.no_ema}))


if __name__ == "__main__":
    main()
