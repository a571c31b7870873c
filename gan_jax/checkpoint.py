"""Orbax checkpoints of a training run: the ``TrainState``, the data iterator and the config.

Layout: ``WORKDIR/checkpoints/<step>/{state,data,config}``. Each save is atomic: Orbax
writes a temporary directory and renames it once complete, so a run killed at any moment
(even during an asynchronous save) leaves every earlier checkpoint intact and restorable;
the leftover temporary is never taken for a checkpoint and is removed by the next run.

Retention keeps the latest ``keep`` checkpoints *and* the best ``keep_best`` by a metric.
Orbax's classic ``best_fn``/``max_to_keep`` options rank *all* checkpoints by the metric
and can delete the newest one (so a preempted run would resume from an old step); we use
``AnyPreservationPolicy([LatestN, BestN])`` instead, which never drops the newest ``keep``.

Static parts of the state (modules, optimizers, EMA settings) are not saved: they are rebuilt
from the config, and the restored arrays take the shardings of the target state, so a
run saved on 8 devices restores on 1 (or the other way round).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import serialization
from orbax.checkpoint import checkpoint_managers as policies

from gan_jax.config import UserError
from gan_jax.engine import TrainState

ITEMS = ("state", "data", "config")


def checkpoint_dir(workdir: str | Path) -> Path:
    return Path(workdir).resolve() / "checkpoints"


def _abstract(target: TrainState) -> Any:
    """Shapes, dtypes and shardings to restore into (those of ``target``'s arrays)."""

    def leaf(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))

    return jax.tree.map(leaf, serialization.to_state_dict(target))


#: what Orbax's CheckpointManager logs (through absl, as warnings) when it is opened read-only, as
#: ``gan-jax sample`` / ``eval`` do: expected, so not shown to users
_READ_ONLY_NOISE = ("CheckpointManagerOptions.read_only=True", "Given directory is read only")


class _DropReadOnlyNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_READ_ONLY_NOISE)


@contextlib.contextmanager
def _quiet_read_only():
    logger, flt = logging.getLogger("absl"), _DropReadOnlyNoise()
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


class Checkpointer:
    """Saves and restores one run's checkpoints (a thin policy layer over ``ocp.CheckpointManager``).

    ``save`` returns as soon as the arrays are copied off the device when ``async_save``;
    call ``wait()`` before reading the files and ``close()`` at the end (also a context manager).
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        keep: int = 3,
        best_metric: str = "",
        best_mode: str = "min",
        keep_best: int = 1,
        async_save: bool = True,
        read_only: bool = False,
    ):
        if keep < 1:
            raise UserError(f"checkpoint.keep must be >= 1, got {keep}")
        if best_mode not in ("min", "max"):
            raise UserError(f"checkpoint.best_mode must be 'min' or 'max', got {best_mode!r}")
        self.directory = checkpoint_dir(workdir)
        self.best_metric = best_metric
        keep_policies: list[Any] = [policies.LatestN(n=keep)]
        if best_metric:
            keep_policies.append(
                policies.BestN(
                    get_metric_fn=lambda metrics: metrics[best_metric],
                    reverse=best_mode == "min",  # BestN keeps the *last* n of the sorted list
                    n=keep_best,
                    keep_checkpoints_without_metrics=False,  # LatestN already protects recent ones
                )
            )
        with _quiet_read_only() if read_only else contextlib.nullcontext():
            options = ocp.CheckpointManagerOptions(
                read_only=read_only,
                create=not read_only,
                enable_async_checkpointing=async_save,
                cleanup_tmp_directories=not read_only,
                preservation_policy=policies.AnyPreservationPolicy(keep_policies),
            )
            if read_only and not self.directory.is_dir():
                self._manager = None
            else:
                self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)

    # -- queries ---------------------------------------------------------------------------
    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps()) if self._manager else []

    def latest_step(self) -> int | None:
        return self._manager.latest_step() if self._manager else None

    # -- save / restore ----------------------------------------------------------------------
    def save(self, step: int, state: TrainState, *, data_state: dict | None, config: dict, metrics: dict[str, float] | None = None) -> None:
        """Save (asynchronously if configured). ``metrics`` rank the checkpoint for ``best_metric``."""
        if metrics is not None and self.best_metric and self.best_metric not in metrics:
            raise UserError(f"checkpoint.best_metric={self.best_metric!r} is not among the evaluated metrics {sorted(metrics)}")
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(serialization.to_state_dict(state)),
            data=ocp.args.JsonSave(data_state or {}),
            config=ocp.args.JsonSave(config),
        )
        self._manager.save(step, args=args, metrics=metrics if self.best_metric else None, force=True)

    def restore(self, target: TrainState, step: int | None = None) -> tuple[TrainState, dict, dict]:
        """(state, data iterator state, config dict) of ``step`` (default: the latest).

        ``target`` is a state built from the same config; its arrays' shardings decide where
        the restored arrays go. Any failure to read is reported as a corrupt checkpoint.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise UserError(f"no checkpoint in {self.directory}; train first (gan-jax train ... --workdir {self.directory.parent})")
        path = self.directory / str(step)
        try:
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_abstract(target)),
                    data=ocp.args.JsonRestore(),
                    config=ocp.args.JsonRestore(),
                ),
            )
            state = serialization.from_state_dict(target, restored["state"])
        except Exception as e:  # noqa: BLE001 - any failure to read is a corrupt/incompatible checkpoint
            raise UserError(
                f"cannot restore checkpoint {path} ({_first_line(e)}); it is corrupt or from another experiment "
                "- move it out of the way to use an earlier one (nothing was changed)"
            ) from None
        return state, dict(restored["data"] or {}), dict(restored["config"] or {})

    def wait(self) -> None:
        if self._manager:
            self._manager.wait_until_finished()

    def close(self) -> None:
        if self._manager:
            self._manager.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def latest_step(workdir: str | Path) -> int | None:
    with Checkpointer(workdir, read_only=True) as ckpt:
        return ckpt.latest_step()


def restore_state(workdir: str | Path, target: TrainState, step: int | None = None) -> TrainState:
    """Only the ``TrainState`` of ``WORKDIR``'s checkpoint ``step`` (default: latest), onto ``target``."""
    with Checkpointer(workdir, read_only=True) as ckpt:
        return ckpt.restore(target, step)[0]
