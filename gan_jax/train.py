"""The training driver: ``train_and_evaluate(config, workdir)``.

Everything host-side lives here (data streams, progress, JSONL/TensorBoard metrics, sample
grids, checkpoint policy, signals); the compiled step (``gan_jax.engine``) stays pure. The device
runs ahead of the host: each step's metrics are summed on device, and only every ``log.every``
steps are the window means (and a tiny on-device non-finite flag, also read before every
checkpoint, so a diverged state is never saved) copied to the host. The step picks its compiled
variant (which lazy phases run) from the host's step counter, without a sync.

Resuming: running again on the same workdir restores the latest checkpoint (state, rng,
data-iterator position) and continues; since the step draws its randomness from
``fold_in(rng, step)`` and the iterator resumes at the same batch, the result equals an
uninterrupted run bit for bit (on the same hardware). SIGTERM/SIGINT save a checkpoint and
return cleanly; SIGKILL loses at most the steps since the last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax import parallel, sampling
from gan_jax.checkpoint import Checkpointer, latest_step
from gan_jax.config import CONFIG_FILE, Config, UserError, family_module, read_config, save_config, to_dict
from gan_jax.data import Dataset, toy_modes
from gan_jax.engine import Recipe, TrainState
from gan_jax.experiment import build_state
from gan_jax.metrics import mode_coverage

METRICS_FILE = "metrics.jsonl"

#: config fields that may change when a run is resumed (everything else must match)
RESUMABLE_FIELDS = ("train.steps", "data.dir", "log.", "checkpoint.")
#: without a terminal, a progress line every this many seconds (instead of a progress bar)
PROGRESS_SECONDS = 30.0

Evaluator = Callable[[TrainState], dict[str, float]]


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
    recipe: Recipe | None = None


def evaluate_toy(recipe: Recipe, state: TrainState, dataset: Dataset, num: int, seed: int = 1) -> dict[str, float]:
    modes, std = toy_modes(dataset.name)
    return mode_coverage(sampling.sample(recipe, state, num, seed=seed), modes, std)


def default_evaluator(config: Config, dataset: Dataset, recipe: Recipe) -> Evaluator | None:
    """What ranks checkpoints for ``checkpoint.best_metric``: mode coverage on toy data, else
    the feature-net metrics of ``gan_jax.evaluate`` (``None`` when no best metric is set)."""
    if not config.checkpoint.best_metric:
        return None
    if dataset.text is not None:
        from gan_jax.text_eval import text_metrics

        return lambda state: text_metrics(recipe, state, dataset, num=config.log.eval_samples)
    if dataset.is_toy:
        return lambda state: evaluate_toy(recipe, state, dataset, config.log.eval_samples)
    if dataset.translation is not None:  # e.g. checkpoint.best_metric=a2b/fd_cifar10
        from gan_jax.translation_eval import translation_metrics

        return lambda state: translation_metrics(recipe, state, dataset, num=config.log.eval_samples)
    from gan_jax.evaluate import state_evaluator

    return state_evaluator(config, dataset, recipe)


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
    old_config = read_config(workdir / CONFIG_FILE)
    old = _flatten(json.loads(json.dumps(to_dict(old_config))))
    new = _flatten(json.loads(json.dumps(to_dict(config))))  # as saved: JSON turns tuples into lists
    differ = [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k) and not k.startswith(RESUMABLE_FIELDS)]
    if not differ and old["train.steps"] != new["train.steps"]:
        family = family_module(config.family)
        reason = family.steps_locked(config)
        if reason:
            free = getattr(family, "steps_free_until", lambda c: 0)
            at = latest_step(workdir) or 0
            if at > min(free(old_config), free(config)):
                raise UserError(
                    f"workdir {workdir} was started with train.steps={old['train.steps']} and {reason}; resuming at step {at} "
                    f"with train.steps={new['train.steps']} would change the schedule of the steps already taken. Resume with "
                    f"--set train.steps={old['train.steps']}, or start a new --workdir (nothing was changed)"
                )
    if differ:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differ[:4]) + (" ..." if len(differ) > 4 else "")
        raise UserError(
            f"workdir {workdir} holds a different run ({old.get('experiment')}; {shown}); "
            "use a new --workdir (nothing was changed)"
        )
    return True


class _Log:
    """Metrics to JSONL + TensorBoard + the progress bar (process 0 only); a bar per training
    stage when the recipe names stages (pre-training G, pre-training D, adversarial)."""

    def __init__(self, workdir: Path, config: Config, start: int, progress: bool, recipe: Recipe | None = None):
        self.enabled = jax.process_index() == 0
        self.tty = sys.stderr.isatty()
        self.show_bar = progress and self.enabled and self.tty
        self.stages = recipe.stages if recipe is not None else ()
        self.stage = None
        self.bar = None
        # In a log file a bar writes a line per refresh: there, print a line every PROGRESS_SECONDS instead.
        self.lines = progress and self.enabled and not self.tty
        self.total, self.name, self.last_line = config.train.steps, config.experiment, time.monotonic()
        self._open_bar(start)
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
        post = {"d": values.get("loss/d"), "g": values.get("loss/g", values.get("loss/g_mle")), "ex/s": values.get("perf/examples_per_sec"),
                "nll_oracle": values.get("eval/nll_oracle"), "l1": values.get("eval/a2b/l1")}
        self.postfix = {k: f"{v:.4g}" for k, v in post.items() if v is not None}
        self.bar.set_postfix(self.postfix)

    def _stage_of(self, done: int) -> tuple[str, int, int]:
        """(name, first step, last step) of the stage holding the step after ``done`` finished steps."""
        for name, start, stop in self.stages:
            if start <= done and (stop is None or done < stop):
                return name, start, min(stop if stop is not None else self.total, self.total)
        return "", 0, self.total

    def _open_bar(self, done: int) -> None:
        name, start, stop = self._stage_of(done)
        self.stage = name
        desc = f"{self.name} [{name}]" if name else self.name
        self.bar = tqdm(total=stop - start, initial=done - start, desc=desc, disable=not self.show_bar, unit="step", dynamic_ncols=True)
        if name and self.lines and done < self.total:
            print(f"{self.name}: {name}: steps {start + 1}..{stop}", file=sys.stderr, flush=True)

    def progress(self, step: int) -> None:
        self.bar.update(1)
        if self.lines and (time.monotonic() - self.last_line >= PROGRESS_SECONDS or step == self.total):
            self.last_line = time.monotonic()
            post = " ".join(f"{k}={v}" for k, v in getattr(self, "postfix", {}).items())
            stage = f" [{self.stage}]" if self.stage else ""
            print(f"{self.name}{stage}: step {step}/{self.total} ({100 * step / self.total:.0f}%) {post}", file=sys.stderr, flush=True)
        if self.stages and step < self.total and self._stage_of(step)[0] != self.stage:
            self.bar.close()
            self._open_bar(step)

    def text(self, step: int, tag: str, lines: list[str]) -> None:
        if self.tb:
            self.tb.add_text(tag, "\n".join(f"    {l}" for l in lines), step)

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
def _accumulate(sums: dict, metrics: dict, first_bad: jax.Array, step: jax.Array):
    """On device: add a step's metrics to the window sums and remember the first step whose
    metrics (losses, gradient norms) were non-finite. A non-finite gradient norm means the
    update made the parameters non-finite, so this covers both without a host sync."""
    first_bad = jnp.where((first_bad == 0) & ~_all_finite(metrics), step, first_bad)
    return {k: sums[k] + v for k, v in metrics.items()}, first_bad


class _Window:
    """The metrics of the steps since the last log line, summed on device (a lazy phase's only
    on the steps it ran); ``means()`` copies them to the host once per logging interval."""

    def __init__(self):
        self.sums: dict[str, jax.Array] = {}
        self.counts: dict[str, int] = {}
        self.first_bad: jax.Array | None = None

    def add(self, metrics: dict[str, jax.Array], step: int) -> None:
        if self.first_bad is None:
            self.first_bad = jnp.zeros_like(next(iter(metrics.values())), jnp.int32)
        sums = {k: self.sums[k] if k in self.sums else jnp.zeros_like(v) for k, v in metrics.items()}
        new, self.first_bad = _accumulate(sums, metrics, self.first_bad, step)
        self.sums.update(new)
        for k in metrics:
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        host = jax.device_get(self.sums)
        out = {k: float(v) / self.counts[k] for k, v in host.items()}
        self.sums, self.counts = {}, {}
        return out

    def bad_step(self) -> int:
        return 0 if self.first_bad is None else int(self.first_bad)

    def non_finite(self) -> dict[str, float]:
        return {k: float(v) for k, v in jax.device_get(self.sums).items() if not math.isfinite(float(v))}


def _next_batch(stream: Iterator[dict[str, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    """One train-step batch: ``n`` stream batches stacked on a leading axis (if n > 1)."""
    if n == 1:
        return next(stream)
    parts = [next(stream) for _ in range(n)]
    return {k: np.stack([p[k] for p in parts]) for k in parts[0]}


def _write_samples(recipe: Recipe, state: TrainState, dataset: Dataset, num: int, path: Path) -> Path:
    """A sample grid / scatter plot (PNG), or decoded text (.txt) for text data."""
    if dataset.text is not None:
        from gan_jax.text_eval import decode, generate_tokens, write_text

        return write_text(decode(dataset, generate_tokens(recipe, state, num)), path.with_suffix(".txt"))
    if dataset.translation is not None:  # (source | translation | target) triplets of held-out examples
        from gan_jax.images import save_image_grid
        from gan_jax.translation_eval import translation_grid

        images, ncol = translation_grid(recipe, state, dataset, max(num // 8, 2))
        return save_image_grid(images, path, ncol=ncol, scale=max(1, 128 // images.shape[1]))
    samples, ncol = sampling.sample_grid(recipe, state, num)
    return sampling.write_samples(samples, path, dataset, ncol)


# -- the loop ------------------------------------------------------------------------------------


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    *,
    progress: bool = True,
    dataset: Dataset | None = None,
    evaluator: Evaluator | None = None,
) -> tuple[TrainState, TrainResult]:
    """Train ``config`` in ``workdir`` (resuming the run there, if any); returns the final state.

    ``dataset`` and ``evaluator`` replace the ones the config names (for tests and notebooks);
    ``evaluator(state) -> metrics`` ranks checkpoints when ``checkpoint.best_metric`` is set.
    """
    workdir = Path(workdir)
    lg = config.log
    for name, value, low in (("every", lg.every, 1), ("sample_every", lg.sample_every, 1), ("num_samples", lg.num_samples, 1),
                             ("eval_samples", lg.eval_samples, 0)):
        if value < low:
            raise UserError(f"log.{name}={value} must be >= {low}")
    resume = _check_workdir(workdir, config)
    dataset, recipe, state = build_state(config, dataset)
    t, c = config.train, config.checkpoint
    mesh = parallel.make_mesh()
    if t.batch_size % mesh.size:
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by the {mesh.size} devices")
    if t.parallel not in ("jit", "pmap"):
        raise UserError(f"unknown train.parallel {t.parallel!r}; choose 'jit' or 'pmap'")
    if jax.process_count() > 1 and t.batch_size % jax.process_count():
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by the {jax.process_count()} processes")
    evaluator = evaluator or default_evaluator(config, dataset, recipe)

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
    if dataset.text is not None and dataset.text.vocab is not None and jax.process_index() == 0:
        dataset.text.vocab.save(workdir / "vocab.txt")  # decodes the run's token ids without the corpus

    if t.parallel == "jit":
        step_fn = parallel.jit_train_step(mesh, recipe)

        def run_step(state, batch, i, k):
            return step_fn(state, parallel.shard_batch(mesh, batch, k), step=i)

        def host_state(state):
            return state
    else:
        n = jax.local_device_count()
        state = parallel.replicate_for_pmap(parallel.pmap_state(state))
        step_fn = parallel.pmap_train_step(recipe)

        def run_step(state, batch, i, k):
            state, metrics = step_fn(state, parallel.split_for_pmap(batch, n, k), step=i)
            return state, parallel.unreplicate(metrics)

        def host_state(state):
            return parallel.pmap_state(parallel.unreplicate(state), None)

    # Every process reads its own disjoint shard of the data, from the same seed.
    stream = dataset.stream(t.batch_size // jax.process_count(), t.seed, shard_index=jax.process_index(), shard_count=jax.process_count())
    if data_state:
        stream.set_state(data_state)

    config_dict = to_dict(config)

    def save(step: int, state: TrainState) -> None:
        metrics = evaluator(host_state(state)) if evaluator is not None and c.best_metric else None
        ckpt.save(step, host_state(state), data_state=stream.get_state(), config=config_dict, metrics=metrics)
        if metrics:
            log.scalars(step, {f"eval/{k}": float(v) for k, v in metrics.items()})

    if resume:  # drop what was logged after the checkpoint we resume from (if any)
        _truncate_log(workdir / METRICS_FILE, start)
    log = _Log(workdir, config, start, progress, recipe)
    window = _Window()
    status = "completed"

    def check_finite(step: int) -> None:
        bad = window.bad_step()
        if bad:
            which = ", ".join(f"{k}={v}" for k, v in window.non_finite().items()) or "see metrics.jsonl"
            raise TrainingDiverged(
                f"non-finite values at step {bad} ({which}); stopped at step {step}. "
                f"The last good checkpoint is step {ckpt.latest_step()} in {ckpt.directory}"
                " - lower the learning rate or add a penalty, then resume or start a new --workdir"
            )

    last_time, examples = time.perf_counter(), 0
    try:
        with _stop_signals() as stop:
            for step in range(start + 1, t.steps + 1):
                # ``step`` counts finished steps; the step function runs (0-based) step ``step - 1``
                k = recipe.batches_at(step - 1)
                state, metrics = run_step(state, _next_batch(stream, k), step - 1, k)
                examples += t.batch_size * k
                window.add(metrics, step)
                if step % config.log.every == 0 or step == t.steps:
                    check_finite(step)
                    host = window.means()
                    now = time.perf_counter()
                    host["perf/examples_per_sec"] = examples / (now - last_time)
                    last_time, examples = now, 0
                    log.scalars(step, host)
                if step % config.log.sample_every == 0 or step == t.steps:
                    measure = log.enabled and config.log.eval_samples > 0
                    if dataset.text is not None and measure:
                        # text: the measures people track during training (SeqGAN logs NLL_oracle every 5 epochs)
                        from gan_jax.text_eval import text_metrics

                        log.scalars(step, {f"eval/{k}": v for k, v in text_metrics(recipe, host_state(state), dataset,
                                                                                    num=config.log.eval_samples).items()})
                    if dataset.translation is not None and measure:
                        from gan_jax.translation_eval import translation_metrics

                        log.scalars(step, {f"eval/{k}": v for k, v in translation_metrics(recipe, host_state(state), dataset,
                                                                                           num=config.log.eval_samples).items()})
                    if log.enabled:
                        path = _write_samples(recipe, host_state(state), dataset, config.log.num_samples,
                                              workdir / "samples" / f"step_{step:07d}.png")
                        if path.suffix == ".png":
                            log.image(step, "samples", path)
                        else:
                            log.text(step, "samples", path.read_text(encoding="utf-8").splitlines()[:16])
                if (c.every and step % c.every == 0) or step == t.steps or stop:
                    check_finite(step)  # never save a diverged state
                    save(step, state)
                log.progress(step)
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
        report["samples"] = str(_write_samples(recipe, state, dataset, config.log.num_samples, workdir / "samples.png"))
        if dataset.is_toy and config.log.eval_samples:
            report.update(evaluate_toy(recipe, state, dataset, config.log.eval_samples))
        (workdir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return state, TrainResult(step=step, status=status, resumed_from=start or None, report=report, recipe=recipe)
