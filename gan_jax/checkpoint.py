"""Orbax checkpoints of a ``GANState`` (its array leaves; static fields come from the config)."""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp
from flax import serialization

from gan_jax.config import UserError
from gan_jax.state import GANState


def checkpoint_dir(workdir: str | Path) -> Path:
    return Path(workdir).resolve() / "checkpoints"


def save_state(workdir: str | Path, state: GANState) -> int:
    """Save ``state`` under ``WORKDIR/checkpoints/<step>`` (atomic: Orbax writes a temporary
    directory and renames it when complete). Returns the step."""
    step = int(jax.device_get(state.step))
    with ocp.CheckpointManager(checkpoint_dir(workdir)) as mngr:
        mngr.save(step, args=ocp.args.StandardSave(serialization.to_state_dict(state)))
        mngr.wait_until_finished()
    return step


def latest_step(workdir: str | Path) -> int | None:
    d = checkpoint_dir(workdir)
    if not d.is_dir():
        return None
    with ocp.CheckpointManager(d, options=ocp.CheckpointManagerOptions(read_only=True)) as mngr:
        return mngr.latest_step()


def restore_state(workdir: str | Path, target: GANState, step: int | None = None) -> GANState:
    """Restore onto ``target`` (a state built from the same config: shapes, dtypes, shardings)."""
    d = checkpoint_dir(workdir)
    step = latest_step(workdir) if step is None else step
    if step is None:
        raise UserError(f"no checkpoint in {d}; train first (gan-jax train ... --workdir {Path(workdir)})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(target))
    try:
        with ocp.CheckpointManager(d, options=ocp.CheckpointManagerOptions(read_only=True)) as mngr:
            restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # noqa: BLE001 - any failure to read is a corrupt/incompatible checkpoint
        raise UserError(f"cannot restore checkpoint {d / str(step)}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    return serialization.from_state_dict(target, restored)
