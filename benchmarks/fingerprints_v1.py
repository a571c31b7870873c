"""Reference fingerprints from the pre-Core-v2 code (commit b015e1b), for the record.

Run once, on a checkout of that commit, with this file's folder beside it::

    git worktree add /tmp/gan_v1 b015e1b
    PYTHONPATH=/tmp/gan_v1 python benchmarks/fingerprints_v1.py --mode small --out benchmarks/results/fingerprints_v1_small.json
    PYTHONPATH=/tmp/gan_v1 python benchmarks/fingerprints_v1.py --mode full --out benchmarks/results/fingerprints_v1_full.json

For every experiment it trains 20 steps with the old ``steps.d_step`` / ``steps.g_step`` on the
experiment's real data and records fingerprints (``_fingerprint.py``) of G's and D's parameters,
non-parameter collections (BatchNorm statistics, spectral-norm vectors) and optimizer states.

The old step drew its randomness differently (defect 5 of the Core v2 issue: a caller key,
``z`` drawn from the G key itself). To compare the *maths*, this script drives the old d_step and
g_step with the keys of the new schedule (``gan_jax.steps``): step key ``fold_in(rng, step)``,
one key per phase ``split(step_key, n_phases)``, ``fold_in(phase_key, i)`` per critic repeat, and
named subkeys ``split(call_key, n_names)`` inside a call. The old d_step splits its key into
(latent, penalty) itself; the old g_step draws z from its key directly, so it is handed the
new schedule's "latent" subkey. The new EMA (defect 1: ramp-up, EMA of the BatchNorm
statistics) is computed here on the side from the old step's G parameters, with the new
formula, so that it is checked too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fingerprint  # noqa: E402

STEPS = 20
EXPERIMENTS = ["acgan_mnist", "cgan_mnist", "dcgan_cifar10", "dcgan_digits", "dcgan_mnist", "dragan_mnist", "lsgan_cifar10",
               "sngan_cifar10", "sngan_proj_cifar10", "toy_grid", "toy_ring", "wgan_gp_cifar10", "wgan_mnist"]
SMALL = {"mlp": ["model.g_hidden=32,32", "model.d_hidden=32,32"], "dcgan": ["model.g_width=8", "model.d_width=8"],
         "sngan": ["model.g_width=16", "model.d_width=16"]}
#: the EMA ramp-up the side computation uses (half-life <= EMA_RAMPUP x G updates so far);
#: fingerprints.py sets the new code's recipe.ema_rampup to the same value
EMA_RAMPUP = 0.05


def overrides(config, mode: str, data_dir: str) -> list[str]:
    out = [f"data.dir={data_dir}"] if config.data.name in ("mnist", "cifar10") else []
    if mode == "small":
        return out + SMALL[config.model.arch] + ["train.batch_size=8"]
    return out + ["train.batch_size=16"]


def ema_beta(decay: float, t: int) -> np.float32:
    """The new EMA's decay at G update ``t`` (0-based), float32 as on device."""
    h = np.maximum(np.float32(EMA_RAMPUP) * np.float32(t), np.float32(1e-8))
    return np.minimum(np.float32(decay), np.float32(0.5) ** (np.float32(1.0) / h))


def run(name: str, mode: str, data_dir: str, n_steps: int = STEPS) -> dict:
    from gan_jax import steps
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.experiment import build_state
    from gan_jax.losses import get_loss

    config = load_experiment(name)
    config = apply_overrides(config, overrides(config, mode, data_dir))
    dataset, state = build_state(config)
    spec, t = state.spec, config.train
    n = spec.n_critic
    stream = dataset.stream(t.batch_size, t.seed)
    d_step = jax.jit(steps.d_step)
    g_step = jax.jit(steps.g_step, static_argnums=1)
    relativistic = get_loss(spec.loss).relativistic
    ema_params = jax.tree.map(jnp.copy, state.g_params)
    ema_coll = jax.tree.map(jnp.copy, state.g_state)

    @jax.jit
    def track(ema_params, ema_coll, z, y):
        """The EMA generator's own BatchNorm statistics: one train-mode pass on the G phase's latents."""
        if not ema_coll:
            return ema_coll
        _, upd = state.generator.apply({"params": ema_params, **ema_coll}, z, y, train=True, mutable=list(ema_coll))
        return {**ema_coll, **upd}

    @jax.jit
    def ema_update(ema, params, beta):
        return jax.tree.map(lambda e, p: p * (1.0 - beta) + e * beta, ema, params)

    run_key = state.rng
    for s in range(n_steps):
        parts = [next(stream) for _ in range(n)]
        step_key = jax.random.fold_in(run_key, s)
        k_d, k_g = jax.random.split(step_key, 2)  # phases (Dmain, Gmain)
        for i, b in enumerate(parts):
            y = jnp.asarray(b["y"]) if spec.conditional else None
            key = k_d if n == 1 else jax.random.fold_in(k_d, i)
            state, _ = d_step(state, jnp.asarray(b["x"]), y, key, s * n + i)
        last = parts[-1]
        y = jnp.asarray(last["y"]) if spec.conditional else None
        (k_latent,) = jax.random.split(k_g, 1)  # Gmain's named subkeys: ("latent",)
        state, _ = g_step(state, last["x"].shape[0], y, k_latent, jnp.asarray(last["x"]) if relativistic else None)
        beta = ema_beta(spec.ema_decay, s)
        ema_params = ema_update(ema_params, state.g_params, beta)
        z = jax.random.normal(k_latent, (last["x"].shape[0], spec.z_dim))
        ema_coll = track(ema_params, ema_coll, z, y)
        state = state.replace(step=state.step + 1)
    tree = {
        "G": {"params": state.g_params, "collections": state.g_state, "opt_state": state.g_opt_state,
              "ema_params": ema_params, "ema_collections": ema_coll},
        "D": {"params": state.d_params, "collections": state.d_state, "opt_state": state.d_opt_state},
    }
    return _fingerprint.fingerprint(jax.device_get(tree))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("small", "full"), default="small")
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--steps", type=int, default=STEPS, help="fewer steps, to see how a difference grows")
    args = p.parse_args()
    import gan_jax

    print(f"gan_jax from {gan_jax.__file__}", flush=True)
    result = {"meta": {"steps": args.steps, "mode": args.mode, "code": "pre-Core-v2 (b015e1b) d_step/g_step, new key schedule",
                       "jax": jax.__version__}}
    out = Path(args.out)
    if out.exists():
        result = {**_fingerprint.load(out), **result}
    for name in args.only or EXPERIMENTS:
        t0 = time.perf_counter()
        result[name] = run(name, args.mode, args.data_dir, args.steps)
        print(f"{name}: {len(result[name])} leaves, {time.perf_counter() - t0:.1f} s", flush=True)
        _fingerprint.save(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
