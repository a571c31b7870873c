"""Train the small domain classifiers whose features give ``fid_mnist`` / ``fid_cifar10``.

Reproduces the shipped weights ``gan_jax/metrics/weights/{mnist,cifar10}_classifier.npz``
on the offline datasets (``../shared/datasets``), on the CPU::

    python benchmarks/train_classifier.py mnist   --epochs 3
    python benchmarks/train_classifier.py cifar10 --epochs 8

Seeded (``--seed 0``): parameter init, shuffling, augmentation and dropout are drawn from
fixed seeds, so a rerun on the same software stack gives the same weights (up to
nondeterministic float reduction order of the backend). Optimiser: SGD with Nesterov
momentum 0.9, weight decay 5e-4, a one-cycle learning-rate schedule, batch 128. CIFAR-10
uses random crops (4 px zero padding) and horizontal flips. The test accuracy is measured
on the full test split and written into the weights file's ``meta``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_jax.metrics import classifier  # noqa: E402
from gan_jax.metrics._data import load_real  # noqa: E402


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random 4-px-padded crops and horizontal flips (uint8 NHWC)."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    dy = rng.integers(0, 9, n)
    dx = rng.integers(0, 9, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=sorted(classifier.CLASSIFIERS))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="default: the shipped weights file")
    p.add_argument("--limit", type=int, default=None, help="train on the first N examples only (smoke tests)")
    args = p.parse_args(argv)

    name = args.dataset
    x_train, y_train = load_real(name, "train", data_dir=args.data_dir)
    x_test, y_test = load_real(name, "test", data_dir=args.data_dir)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    print(f"{name}: train {x_train.shape}, test {x_test.shape}", flush=True)

    model = classifier.build(name)
    variables = model.init(jax.random.PRNGKey(args.seed), jnp.zeros((1, *x_train.shape[1:])))
    params, batch_stats = variables["params"], variables["batch_stats"]
    steps_per_epoch = len(x_train) // args.batch_size
    total = steps_per_epoch * args.epochs
    schedule = optax.cosine_onecycle_schedule(total, args.lr, pct_start=0.25)
    tx = optax.chain(optax.add_decayed_weights(5e-4), optax.sgd(schedule, momentum=0.9, nesterov=True))
    opt_state = tx.init(params)

    @jax.jit
    def train_step(params, batch_stats, opt_state, x, y, key):
        def loss_fn(params):
            (_, logits), updates = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                               rngs={"dropout": key}, mutable=["batch_stats"])
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, (updates["batch_stats"], logits)

        (loss, (new_stats, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        acc = jnp.mean(jnp.argmax(logits, -1) == y)
        return optax.apply_updates(params, updates), new_stats, opt_state, loss, acc

    @jax.jit
    def predict(params, batch_stats, x):
        return model.apply({"params": params, "batch_stats": batch_stats}, x)[1]

    def to_float(x):
        return jnp.asarray(x, jnp.float32) / 255.0

    rng = np.random.default_rng(args.seed)
    key = jax.random.PRNGKey(args.seed + 1)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = rng.permutation(len(x_train))
        losses, accs = [], []
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            xb = x_train[idx]
            if name == "cifar10":
                xb = augment(xb, rng)
            key, sub = jax.random.split(key)
            params, batch_stats, opt_state, loss, acc = train_step(params, batch_stats, opt_state, to_float(xb),
                                                                   jnp.asarray(y_train[idx]), sub)
            losses.append(loss)
            accs.append(acc)
        print(json.dumps({"epoch": epoch + 1, "loss": float(np.mean(jax.device_get(losses))),
                          "train_acc": float(np.mean(jax.device_get(accs))),
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)

    correct = 0
    for i in range(0, len(x_test), 500):
        logits = predict(params, batch_stats, to_float(x_test[i:i + 500]))
        correct += int(np.sum(np.argmax(np.asarray(logits), -1) == y_test[i:i + 500]))
    test_acc = correct / len(x_test)
    meta = {
        "dataset": name,
        "arch": "SmallCNN",
        **{k: list(v) if isinstance(v, tuple) else v for k, v in classifier.CLASSIFIERS[name].items()},
        "test_accuracy": test_acc,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "command": f"python benchmarks/train_classifier.py {name} --epochs {args.epochs} --seed {args.seed}"
                   + (f" --limit {args.limit}" if args.limit else ""),
        "input": "float32 NHWC in [0, 1]",
        "features": "global average pool of the last conv stage (post-ReLU)",
        "data": "MNIST" if name == "mnist" else "CIFAR-10 (JPEG)",
    }
    out = Path(args.out) if args.out else classifier.default_weights_path(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    classifier.save_variables(out, {"params": params, "batch_stats": batch_stats}, meta)
    print(json.dumps({"test_accuracy": test_acc, "weights": str(out), "bytes": out.stat().st_size}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
