"""The training driver: ``train_and_evaluate(config, workdir)``.

Everything host-side lives here (data streams, progress bar, JSONL metrics, sample grids,
checkpoints); the compiled step in ``gan_jax.steps`` stays pure. Metrics are copied to
the host only every ``log.every`` steps, so the device runs ahead of the host between.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax import checkpoint, parallel, steps
from gan_jax.config import Config, UserError, read_config, save_config, to_dict
from gan_jax.data import Dataset, toy_modes
from gan_jax.experiment import build_state
from gan_jax.images import save_image_grid, save_scatter, to_uint8
from gan_jax.metrics import mode_coverage
from gan_jax.state import GANState

CONFIG_FILE = "config.json"


def _batches(stream: Iterator[dict[str, np.ndarray]], n_critic: int) -> Iterator[dict[str, np.ndarray]]:
    """One train-step batch: n_critic stream batches stacked on a leading axis (if n_critic > 1)."""
    while True:
        if n_critic == 1:
            yield next(stream)
        else:
            parts = [next(stream) for _ in range(n_critic)]
            yield {k: np.stack([p[k] for p in parts]) for k in parts[0]}


def fixed_latents(state: GANState, num: int, seed: int = 0) -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(seed), (num, state.spec.z_dim))


_generate = jax.jit(steps.generate, static_argnames="use_ema")


def sample(state: GANState, num: int, *, seed: int = 0, use_ema: bool = True, batch_size: int = 500) -> np.ndarray:
    """``num`` samples as numpy: float data in [-1, 1] for images, raw values for points."""
    z = fixed_latents(state, num, seed)
    out = [np.asarray(_generate(state, z[i : i + batch_size], use_ema=use_ema)) for i in range(0, num, batch_size)]
    return np.concatenate(out)


def write_samples(samples: np.ndarray, path: Path, dataset: Dataset) -> Path:
    """A PNG people can look at: an image grid, or a scatter over the real modes for toy data."""
    if dataset.is_image:
        return save_image_grid(to_uint8(samples), path)
    modes, std = toy_modes(dataset.name)
    return save_scatter(samples, path, modes, std)


def evaluate_toy(state: GANState, dataset: Dataset, num: int, seed: int = 1) -> dict[str, float]:
    modes, std = toy_modes(dataset.name)
    return mode_coverage(sample(state, num, seed=seed), modes, std)


def _check_workdir(workdir: Path, config: Config) -> None:
    if (workdir / CONFIG_FILE).exists():
        old = read_config(workdir / CONFIG_FILE)
        what = "a different experiment" if to_dict(old) != to_dict(config) else "a run"
        raise UserError(
            f"workdir {workdir} already holds {what} ({old.experiment}); resuming is not supported yet, "
            "so choose a new --workdir (nothing was changed)"
        )


def train_and_evaluate(config: Config, workdir: str | Path, *, progress: bool = True) -> tuple[GANState, dict[str, Any]]:
    """Train ``config`` in ``workdir``; returns the final state and the final report."""
    workdir = Path(workdir)
    _check_workdir(workdir, config)
    dataset, state = build_state(config)
    t = config.train
    mesh = parallel.make_mesh()
    if t.batch_size % mesh.size:
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by the {mesh.size} devices")
    if t.parallel not in ("jit", "pmap"):
        raise UserError(f"unknown train.parallel {t.parallel!r}; choose 'jit' or 'pmap'")

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "samples").mkdir(exist_ok=True)
    save_config(config, workdir / CONFIG_FILE)

    rng = jnp.array(state.rng)  # a copy: the state's own buffers are donated to the step
    if t.parallel == "jit":
        state = parallel.replicate(mesh, state)
        step_fn = parallel.jit_train_step(mesh, t.n_critic)

        def run_step(state, batch):
            return step_fn(state, parallel.shard_batch(mesh, batch, t.n_critic), rng)

        def host_state(state):
            return state
    else:
        n = jax.local_device_count()
        state = parallel.replicate_for_pmap(parallel.pmap_state(state))
        step_fn = parallel.pmap_train_step()

        def run_step(state, batch):
            state, metrics = step_fn(state, parallel.split_for_pmap(batch, n, t.n_critic), rng)
            return state, parallel.unreplicate(metrics)

        def host_state(state):
            return parallel.pmap_state(parallel.unreplicate(state), None)

    # Each process reads its own share of the global batch (a different stream per process;
    # exact per-host sharding of finite datasets arrives with the grain pipelines).
    local_batch = t.batch_size // jax.process_count()
    batches = _batches(dataset.stream(local_batch, t.seed + 7919 * jax.process_index()), t.n_critic)
    log_f = (workdir / "metrics.jsonl").open("a")
    examples_per_step = t.batch_size * t.n_critic
    bar = tqdm(total=t.steps, desc=config.experiment, disable=not progress, unit="step", dynamic_ncols=True)
    last_time, last_step = time.perf_counter(), 0
    metrics = None
    try:
        for step in range(1, t.steps + 1):
            state, metrics = run_step(state, next(batches))
            if step % config.log.every == 0 or step == t.steps:
                host = {k: float(v) for k, v in jax.device_get(metrics).items()}
                now = time.perf_counter()
                host["perf/examples_per_sec"] = (step - last_step) * examples_per_step / (now - last_time)
                last_time, last_step = now, step
                if not all(np.isfinite(v) for v in host.values()):
                    raise FloatingPointError(f"non-finite metrics at step {step}: {host}")
                log_f.write(json.dumps({"step": step, **host}) + "\n")
                log_f.flush()
                bar.set_postfix({"d": f"{host['loss/d']:.3f}", "g": f"{host['loss/g']:.3f}", "ex/s": f"{host['perf/examples_per_sec']:.0f}"})
            if step % config.log.sample_every == 0 or step == t.steps:
                write_samples(sample(host_state(state), config.log.num_samples), workdir / "samples" / f"step_{step:07d}.png", dataset)
            bar.update(1)
    finally:
        bar.close()
        log_f.close()

    state = host_state(state)
    checkpoint.save_state(workdir, state)
    final = write_samples(sample(state, config.log.num_samples), workdir / "samples.png", dataset)
    report: dict[str, Any] = {"step": t.steps, "samples": str(final)}
    if not dataset.is_image:
        report.update(evaluate_toy(state, dataset, config.log.eval_samples))
    (workdir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return state, report
