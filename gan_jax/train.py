"""The training driver: ``train_and_evaluate(config, workdir)``.

Everything host-side lives here (data streams, progress bar, JSONL/TensorBoard metrics,
sample grids, checkpoint policy, signals); the compiled step in ``gan_jax.steps`` stays
pure. The device runs ahead of the host: metrics are copied to the host only every
``log.every`` steps, and the non-finite check is a tiny on-device reduction read at the
same moments (and before every checkpoint, so a diverged state is never saved).

Resuming: running again on the same workdir restores the latest checkpoint (state, rng,
data-iterator position) and continues; since the step draws its randomness from
``fold_in(rng, step)`` and the iterator resumes at the same batch, the result equals an
uninterrupted run bit for bit (on the same hardware). SIGTERM/SIGINT save a checkpoint
and return cleanly; SIGKILL loses at most the steps since the last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax import parallel, steps
from gan_jax.checkpoint import Checkpointer
from gan_jax.config import Config, UserError, read_config, save_config, to_dict
from gan_jax.data import Dataset, toy_modes
from gan_jax.experiment import build_state
from gan_jax.images import image_grid, save_image_grid, save_scatter, to_uint8
from gan_jax.metrics import mode_coverage
from gan_jax.state import GANState

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"

#: config fields that may change when a run is resumed (everything else must match)
RESUMABLE_FIELDS = ("train.steps", "data.dir", "log.", "checkpoint.")

Evaluator = Callable[[GANState], dict[str, float]]


class TrainingDiverged(FloatingPointError):
    """A loss or gradient became NaN/inf; the message names the first bad step."""


@dataclasses.dataclass
class TrainResult:
    """What ``train_and_evaluate`` reports besides the state."""

    step: int
    #: "completed", or the signal that stopped the run ("SIGTERM", "SIGINT")
    status: str
    resumed_from: int | None
    report: dict[str, Any]


# -- sampling -------------------------------------------------------------------------------------


def fixed_latents(state: GANState, num: int, seed: int = 0) -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(seed), (num, state.spec.z_dim))


def class_rows(num: int, num_classes: int) -> np.ndarray:
    """Labels for a class-per-row grid: ``num // num_classes`` samples of each class in turn."""
    per_class = max(1, num // num_classes)
    return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


_generate = jax.jit(steps.generate, static_argnames="use_ema")


def sample(
    state: GANState, num: int, *, seed: int = 0, use_ema: bool = True, labels: np.ndarray | None = None, batch_size: int = 500
) -> np.ndarray:
    """``num`` samples as numpy: float data in [-1, 1] for images, raw values for points.

    Conditional generators need ``labels`` (one per sample); the latents are the same
    fixed batch for a given ``seed`` whatever the labels, so grids are comparable.
    """
    if state.spec.conditional:
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        labels = np.broadcast_to(np.asarray(labels, np.int32), (num,))
    z = fixed_latents(state, num, seed)
    out = []
    for i in range(0, num, batch_size):
        y = None if labels is None or not state.spec.conditional else jnp.asarray(labels[i : i + batch_size])
        out.append(np.asarray(_generate(state, z[i : i + batch_size], y, use_ema=use_ema)))
    return np.concatenate(out)


def sample_grid(state: GANState, dataset: Dataset, num: int, *, seed: int = 0, use_ema: bool = True) -> tuple[np.ndarray, int | None]:
    """Samples for a grid and its number of columns (class per row for conditional models)."""
    if state.spec.conditional and dataset.num_classes:
        labels = class_rows(num, dataset.num_classes)
        return sample(state, len(labels), seed=seed, use_ema=use_ema, labels=labels), len(labels) // dataset.num_classes
    return sample(state, num, seed=seed, use_ema=use_ema), None


def write_samples(samples: np.ndarray, path: Path, dataset: Dataset, ncol: int | None = None) -> Path:
    """A PNG people can look at: an image grid, or a scatter over the real modes for toy data."""
    if dataset.is_image:
        return save_image_grid(to_uint8(samples), path, ncol=ncol)
    modes, std = toy_modes(dataset.name)
    return save_scatter(samples, path, modes, std)


def evaluate_toy(state: GANState, dataset: Dataset, num: int, seed: int = 1) -> dict[str, float]:
    modes, std = toy_modes(dataset.name)
    return mode_coverage(sample(state, num, seed=seed), modes, std)


def default_evaluator(config: Config, dataset: Dataset) -> Evaluator | None:
    """What ranks checkpoints for ``checkpoint.best_metric``: mode coverage on toy data, else
    the feature-net metrics of ``gan_jax.evaluate`` (``None`` when no best metric is set)."""
    if not config.checkpoint.best_metric:
        return None
    if not dataset.is_image:
        return lambda state: evaluate_toy(state, dataset, config.log.eval_samples)
    try:
        from gan_jax.evaluate import state_evaluator
    except ImportError:
        raise UserError(f"checkpoint.best_metric={config.checkpoint.best_metric!r} needs gan_jax.evaluate, which is not available") from None
    return state_evaluator(config, dataset)


# -- workdir and logging ----------------------------------------------------------------------------


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _check_workdir(workdir: Path, config: Config) -> bool:
    """True if ``workdir`` holds a compatible run to resume; raises if it holds another one."""
    if not (workdir / CONFIG_FILE).exists():
        if workdir.exists() and any(workdir.iterdir()):
            raise UserError(f"workdir {workdir} is not empty and holds no gan-jax run; choose another --workdir (nothing was changed)")
        return False
    old = _flatten(to_dict(read_config(workdir / CONFIG_FILE)))
    new = _flatten(to_dict(config))
    differ = [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k) and not k.startswith(RESUMABLE_FIELDS)]
    if differ:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differ[:4]) + (" ..." if len(differ) > 4 else "")
        raise UserError(
            f"workdir {workdir} holds a different run ({old.get('experiment')}; {shown}); "
            "use a new --workdir (nothing was changed)"
        )
    return True


class _Log:
    """Metrics to JSONL + TensorBoard + the progress bar (process 0 only)."""

    def __init__(self, workdir: Path, config: Config, start: int, progress: bool):
        self.enabled = jax.process_index() == 0
        self.bar = tqdm(total=config.train.steps, initial=start, desc=config.experiment, disable=not (progress and self.enabled), unit="step", dynamic_ncols=True)
        self.jsonl = (workdir / METRICS_FILE).open("a") if self.enabled else None
        self.tb = None
        if self.enabled and config.log.tensorboard:
            from tensorboardX import SummaryWriter

            self.tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=start + 1 if start else None)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self.jsonl.flush()
        if self.tb:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
        post = {"d": values.get("loss/d"), "g": values.get("loss/g"), "img/s": values.get("perf/examples_per_sec")}
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in post.items() if v is not None})

    def image(self, step: int, tag: str, path: Path) -> None:
        if self.tb:
            from PIL import Image

            self.tb.add_image(tag, np.asarray(Image.open(path).convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        self.bar.close()
        if self.jsonl:
            self.jsonl.close()
        if self.tb:
            self.tb.close()


def _truncate_log(path: Path, last_step: int) -> None:
    """Drop log lines past the checkpoint we resume from: those steps are recomputed, identically."""
    if not path.exists():
        return
    lines = [l for l in path.read_text().splitlines() if l.strip() and json.loads(l).get("step", 0) <= last_step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(l + "\n" for l in lines))
    tmp.replace(path)


@contextlib.contextmanager
def _stop_signals():
    """Turn SIGTERM/SIGINT into a flag the loop checks between steps (main thread only)."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}

    def handler(signum, frame):
        received.append(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _all_finite(metrics: dict[str, jax.Array]) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(metrics)]))


@jax.jit
def _track_finite(first_bad: jax.Array, bad_metrics: dict, metrics: dict, step: jax.Array):
    """On device: remember the first step whose metrics (losses, gradient norms) were non-finite.

    A non-finite gradient norm means the update made the parameters non-finite, so this
    covers both losses and parameters without a host sync.
    """
    newly_bad = (first_bad == 0) & ~_all_finite(metrics)
    first_bad = jnp.where(newly_bad, step, first_bad)
    bad_metrics = jax.tree.map(lambda old, new: jnp.where(newly_bad, new, old), bad_metrics, metrics)
    return first_bad, bad_metrics


def _batches(stream: Iterator[dict[str, np.ndarray]], n_critic: int) -> Iterator[dict[str, np.ndarray]]:
    """One train-step batch: n_critic stream batches stacked on a leading axis (if n_critic > 1)."""
    while True:
        if n_critic == 1:
            yield next(stream)
        else:
            parts = [next(stream) for _ in range(n_critic)]
            yield {k: np.stack([p[k] for p in parts]) for k in parts[0]}


# -- the loop ------------------------------------------------------------------------------------


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    *,
    progress: bool = True,
    dataset: Dataset | None = None,
    evaluator: Evaluator | None = None,
) -> tuple[GANState, TrainResult]:
    """Train ``config`` in ``workdir`` (resuming the run there, if any); returns the final state.

    ``dataset`` and ``evaluator`` replace the ones the config names (for tests and notebooks);
    ``evaluator(state) -> metrics`` ranks checkpoints when ``checkpoint.best_metric`` is set.
    """
    workdir = Path(workdir)
    resume = _check_workdir(workdir, config)
    dataset, state = build_state(config, dataset)
    t, c = config.train, config.checkpoint
    mesh = parallel.make_mesh()
    if t.batch_size % mesh.size:
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by the {mesh.size} devices")
    if t.parallel not in ("jit", "pmap"):
        raise UserError(f"unknown train.parallel {t.parallel!r}; choose 'jit' or 'pmap'")
    if jax.process_count() > 1 and t.batch_size % jax.process_count():
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by the {jax.process_count()} processes")
    evaluator = evaluator or default_evaluator(config, dataset)

    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpointer(workdir, keep=c.keep, best_metric=c.best_metric, best_mode=c.best_mode, keep_best=c.keep_best, async_save=c.async_save)
    if t.parallel == "jit":
        state = parallel.replicate(mesh, state)  # restore targets carry the mesh shardings
    start = ckpt.latest_step() if resume else None
    data_state: dict = {}
    if start is not None:
        try:
            state, data_state, _ = ckpt.restore(state, start)
        except UserError:
            ckpt.close()
            raise
    start = start or 0
    # Only now that the run is known to start or resume is anything written.
    (workdir / "samples").mkdir(exist_ok=True)
    save_config(config, workdir / CONFIG_FILE)

    rng = jnp.array(state.rng)  # a copy: the state's own buffers are donated to the step
    if t.parallel == "jit":
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

    # Every process reads its own disjoint shard of the data, from the same seed.
    stream = dataset.stream(t.batch_size // jax.process_count(), t.seed, shard_index=jax.process_index(), shard_count=jax.process_count())
    if data_state:
        stream.set_state(data_state)
    batches = _batches(stream, t.n_critic)

    config_dict = to_dict(config)

    def save(step: int, state: GANState) -> None:
        metrics = evaluator(host_state(state)) if evaluator is not None and c.best_metric else None
        ckpt.save(step, host_state(state), data_state=stream.get_state(), config=config_dict, metrics=metrics)
        if metrics:
            log.scalars(step, {f"eval/{k}": float(v) for k, v in metrics.items()})

    if resume:  # drop what was logged after the checkpoint we resume from (if any)
        _truncate_log(workdir / METRICS_FILE, start)
    log = _Log(workdir, config, start, progress)
    examples_per_step = t.batch_size * t.n_critic
    first_bad = bad_metrics = None
    status = "completed"

    def check_finite(step: int) -> None:
        if first_bad is None:
            return
        bad = int(first_bad)
        if bad:
            values = {k: float(v) for k, v in jax.device_get(bad_metrics).items()}
            which = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
            raise TrainingDiverged(
                f"non-finite values at step {bad} ({which}); stopped at step {step}. "
                f"The last good checkpoint is step {ckpt.latest_step()} in {ckpt.directory}"
                " - lower the learning rate or add a penalty, then resume or start a new --workdir"
            )

    last_time, last_step = time.perf_counter(), start
    try:
        with _stop_signals() as stop:
            for step in range(start + 1, t.steps + 1):
                state, metrics = run_step(state, next(batches))
                if first_bad is None:
                    first_bad, bad_metrics = jnp.zeros((), jnp.int32), jax.tree.map(jnp.zeros_like, metrics)
                first_bad, bad_metrics = _track_finite(first_bad, bad_metrics, metrics, step)
                if step % config.log.every == 0 or step == t.steps:
                    check_finite(step)
                    host = {k: float(v) for k, v in jax.device_get(metrics).items()}
                    now = time.perf_counter()
                    host["perf/examples_per_sec"] = (step - last_step) * examples_per_step / (now - last_time)
                    last_time, last_step = now, step
                    log.scalars(step, host)
                if step % config.log.sample_every == 0 or step == t.steps:
                    samples, ncol = sample_grid(host_state(state), dataset, config.log.num_samples)
                    if log.enabled:
                        path = write_samples(samples, workdir / "samples" / f"step_{step:07d}.png", dataset, ncol)
                        log.image(step, "samples", path)
                if (c.every and step % c.every == 0) or step == t.steps or stop:
                    check_finite(step)  # never save a diverged state
                    save(step, state)
                log.bar.update(1)
                if stop:
                    status = stop[0]
                    break
    finally:
        log.close()
        ckpt.wait()
        ckpt.close()

    state = host_state(state)
    step = int(jax.device_get(state.step))
    report: dict[str, Any] = {"step": step, "status": status}
    if status == "completed" and jax.process_index() == 0:
        samples, ncol = sample_grid(state, dataset, config.log.num_samples)
        report["samples"] = str(write_samples(samples, workdir / "samples.png", dataset, ncol))
        if not dataset.is_image:
            report.update(evaluate_toy(state, dataset, config.log.eval_samples))
        (workdir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return state, TrainResult(step=step, status=status, resumed_from=start or None, report=report)


def interpolate(state: GANState, *, num_pairs: int = 8, num_steps: int = 10, seed: int = 0, use_ema: bool = True, label: int | None = None) -> np.ndarray:
    """Samples along spherical interpolations (slerp) between random latent pairs.

    Returns (num_pairs, num_steps, ...) samples: row i walks from z_a[i] to z_b[i].
    Slerp keeps the latents on the Gaussian's typical shell, where linear interpolation
    would pass through low-norm latents G never saw.
    """
    ka, kb = jax.random.split(jax.random.PRNGKey(seed))
    za = np.asarray(jax.random.normal(ka, (num_pairs, state.spec.z_dim)), np.float64)
    zb = np.asarray(jax.random.normal(kb, (num_pairs, state.spec.z_dim)), np.float64)
    cos = np.sum(za * zb, 1) / (np.linalg.norm(za, axis=1) * np.linalg.norm(zb, axis=1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None]
    ts = np.linspace(0.0, 1.0, num_steps)
    zs = []
    for t in ts:
        with np.errstate(invalid="ignore", divide="ignore"):
            slerp = (np.sin((1 - t) * omega) * za + np.sin(t * omega) * zb) / np.sin(omega)
        zs.append(np.where(omega > 1e-6, slerp, (1 - t) * za + t * zb))
    z = jnp.asarray(np.stack(zs, 1).reshape(num_pairs * num_steps, -1), jnp.float32)
    y = None
    if state.spec.conditional:
        if label is None:
            raise ValueError("a conditional generator needs a label")
        y = jnp.full((z.shape[0],), label, jnp.int32)
    out = np.asarray(_generate(state, z, y, use_ema=use_ema))
    return out.reshape(num_pairs, num_steps, *out.shape[1:])


def interpolation_grid(frames: np.ndarray) -> np.ndarray:
    """(pairs, steps, H, W, C) images in [-1, 1] -> one uint8 picture, a pair per row."""
    pairs, nsteps = frames.shape[:2]
    return image_grid(to_uint8(frames.reshape(pairs * nsteps, *frames.shape[2:])), ncol=nsteps)
