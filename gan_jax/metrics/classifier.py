"""Small domain classifiers (MNIST, CIFAR-10) whose features give a *classifier FID*.

Inception-v3 features are the standard for FID on natural images, but for 28x28 digits
(and for quick CPU checks) a classifier trained on the dataset itself is a more sensitive
and much cheaper feature space. ``fid_mnist`` / ``fid_cifar10`` are Fréchet distances in
the penultimate (globally average-pooled, post-ReLU) feature space of these networks.
They are only comparable with other numbers computed with the *same* weights file and
protocol, never with Inception FID values from papers.

The nets take float images in [0, 1], NHWC, of exactly their input shape (28x28x1 for
MNIST, 32x32x3 for CIFAR-10) and return ``(features, logits)``. Weights ship in
``gan_jax/metrics/weights/{mnist,cifar10}_classifier.npz`` (float32 params + BatchNorm
statistics + a JSON ``meta`` entry with the architecture and the measured test
accuracy); ``benchmarks/train_classifier.py`` re-trains them reproducibly.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

#: architecture and input shape of each shipped classifier
CLASSIFIERS: dict[str, dict[str, Any]] = {
    "mnist": {"input_shape": (28, 28, 1), "widths": (16, 32, 64), "num_classes": 10},
    "cifar10": {"input_shape": (32, 32, 3), "widths": (16, 32, 64), "num_classes": 10},
}


class SmallCNN(nn.Module):
    """VGG-style CNN: per stage two 3x3 conv-BN-ReLU, 2x2 max-pool between stages, global
    average pool (the feature vector, ``widths[-1]``-d), dropout, linear classifier."""

    widths: Sequence[int] = (32, 64, 128)
    num_classes: int = 10
    dropout: float = 0.2

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = (x - 0.5) / 0.5  # [0, 1] -> [-1, 1]
        for i, w in enumerate(self.widths):
            if i:
                x = nn.max_pool(x, (2, 2), (2, 2))
            for _ in range(2):
                x = nn.Conv(w, (3, 3), padding="SAME", use_bias=False)(x)
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
                x = nn.relu(x)
        features = jnp.mean(x, axis=(1, 2))
        h = nn.Dropout(self.dropout, deterministic=not train)(features)
        logits = nn.Dense(self.num_classes)(h)
        return features, logits


def build(name: str) -> SmallCNN:
    spec = CLASSIFIERS[name]
    return SmallCNN(widths=tuple(spec["widths"]), num_classes=spec["num_classes"])


def default_weights_path(name: str) -> Path:
    return Path(str(resources.files("gan_jax.metrics").joinpath("weights", f"{name}_classifier.npz")))


def save_variables(path: str | Path, variables: dict, meta: dict) -> None:
    """Write ``variables`` (params + batch_stats) and ``meta`` to an ``.npz`` (float32)."""
    flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
    arrays = {k: np.asarray(v, np.float32) for k, v in flat.items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.asarray(json.dumps(meta)), **arrays)
    tmp.replace(path)


def load_variables(path: str | Path) -> tuple[dict, dict]:
    """(variables, meta) from a file written by ``save_variables``; raises ``ValueError`` if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            flat = {k: jnp.asarray(z[k]) for k in z.files if k != "meta"}
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise ValueError(f"cannot read classifier weights {path}: {type(e).__name__}: {e}") from None
    return traverse_util.unflatten_dict(flat, sep="/"), meta


@functools.lru_cache(maxsize=4)
def load_classifier(name: str, path: str | None = None):
    """(module, variables, meta) of a shipped classifier (or of ``path``); checks the param shapes."""
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; available: {', '.join(CLASSIFIERS)}")
    path = Path(path) if path else default_weights_path(name)
    if not path.is_file():
        raise ValueError(f"classifier weights not found: {path}")
    variables, meta = load_variables(path)
    module = build(name)
    shape = CLASSIFIERS[name]["input_shape"]
    ref = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape))))
    ref_shapes = jax.tree.map(lambda a: a.shape, dict(ref))
    got_shapes = jax.tree.map(lambda a: a.shape, variables)
    if ref_shapes != got_shapes:
        raise ValueError(f"classifier weights {path} do not match the {name} architecture")
    return module, variables, meta
