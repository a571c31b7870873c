"""Which EMA of G samples best early in training? Several EMA settings tracked along one run.

    python benchmarks/ema_sweep.py dcgan_cifar10 --steps 3000 --data-dir ../shared/datasets --out benchmarks/results/ema_sweep_dcgan_cifar10.json

Trains the experiment once with the library's step (its own G EMA is the first setting) and keeps
further EMA copies of G on the side, each updated exactly as ``gan_jax.engine`` updates an EMA
(``EMA.beta(step)``, then one training-mode pass of the EMA weights on the Gmain phase's latents for
their BatchNorm statistics). At the end (and at ``--eval-every`` steps) it scores the raw
generator and every EMA with ``gan_jax.evaluate.compute_metrics`` (10,000 samples, the dataset's
feature net). Settings: (decay, rampup) pairs, ``--settings 0.999:0.05,0.999:0.02,...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data-dir", default="")
    p.add_argument("--settings", default="0.999:0.05,0.999:0.02,0.999:0.01,0.99:0,0.999:0")
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--num", type=int, default=10000)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.engine import EMA
    from gan_jax.evaluate import compute_metrics
    from gan_jax.experiment import build_state
    from gan_jax.steps import make_train_step

    settings = [tuple(float(v) for v in s.split(":")) for s in args.settings.split(",")]
    sets = [f"train.steps={args.steps}", f"train.batch_size={args.batch_size}",
            f"recipe.ema_decay={settings[0][0]}", f"recipe.ema_rampup={settings[0][1]}"]
    if args.data_dir:
        sets.append(f"data.dir={args.data_dir}")
    config = apply_overrides(load_experiment(args.experiment), sets)
    dataset, recipe, state = build_state(config)
    assert config.recipe.n_critic == 1 and not recipe.num_classes, "one real batch per step, unconditional"
    g_index = [ph.name for ph in recipe.phases].index("Gmain")
    n_keys = len(recipe.phases[g_index].keys)
    z_dim, module = recipe.latent_dim, state.nets["G"].module
    emas = [EMA(d, rampup=r) for d, r in settings[1:]]
    side = [(jax.tree.map(jnp.copy, state.nets["G"].params), jax.tree.map(jnp.copy, state.nets["G"].collections)) for _ in emas]

    @jax.jit
    def update(ema_p, ema_c, params, beta, z):
        ema_p = optax.incremental_update(params, ema_p, step_size=1.0 - beta)
        _, upd = module.apply({"params": ema_p, **ema_c}, z, None, train=True, mutable=list(ema_c))
        return ema_p, {**ema_c, **upd}

    def gmain_latents(rng, step):
        key = jax.random.split(jax.random.fold_in(rng, step), len(recipe.phases))[g_index]
        return jax.random.normal(jax.random.split(key, n_keys)[0], (args.batch_size, z_dim))

    def scores(step):
        row = {"step": step}
        g = state.nets["G"]
        variants = [("raw", state, False), (f"ema{settings[0]}", state, True)]
        for e, (p_, c_) in zip(settings[1:], side):
            variants.append((f"ema{e}", state.replace(nets={**state.nets, "G": g.replace(ema_params=p_, ema_collections=c_)}), True))
        for name, s, use_ema in variants:
            m = compute_metrics(recipe, s, dataset, metrics=("fid",), num=args.num, data_dir=config.data.dir or None, use_ema=use_ema)
            row[name] = round(float(next(iter(m.values()))), 4)
        print(json.dumps(row), flush=True)
        return row

    stream = dataset.stream(args.batch_size, config.train.seed)
    step_fn = make_train_step(recipe)
    rng = np.asarray(state.rng)
    rows, t0 = [], time.perf_counter()
    for step in range(args.steps):
        state, _ = step_fn(state, next(stream), step=step)
        params = state.nets["G"].params
        z = gmain_latents(rng, step)
        side = [update(p_, c_, params, e.beta(step), z) for e, (p_, c_) in zip(emas, side)]
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            print(f"step {step + 1}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            rows.append(scores(step + 1))
    result = {"experiment": args.experiment, "steps": args.steps, "batch_size": args.batch_size, "num": args.num,
              "settings": [list(s) for s in settings], "rows": rows, "jax": jax.__version__}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
