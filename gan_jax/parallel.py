"""Data parallelism for a recipe's train step (``gan_jax.engine``), two ways.

(a) Default: ``jax.jit`` over a 1-D ``Mesh`` with axis ``"data"``. The batch is
    sharded along its example axis, the state is replicated; XLA inserts the gradient
    all-reduce and computes BatchNorm statistics over the global batch. Works unchanged
    across hosts: call ``initialize_distributed()`` first, build the mesh over
    ``jax.devices()`` and feed each process's slice of the global batch to
    ``shard_batch`` (``jax.make_array_from_process_local_data``).

(b) ``jax.pmap`` with an axis name: the models get the axis name (``pmap_state``), so they
    synchronise BatchNorm statistics over it, and the step ``pmean``s gradients and metrics and
    draws its noise for the global batch; the batch carries a leading device axis.

Both compute the same update as one device on the same global batch (tested on 8
forced CPU devices in ``tests/test_parallel.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax.engine import Recipe, TrainState, TrainStep

DATA_AXIS = "data"


# --------------------------------------------------------------------------- (a) jit + Mesh


def initialize_distributed(**kwargs) -> None:
    """Multi-host start-up: ``jax.distributed.initialize`` (arguments as there; on TPU pods
    and SLURM clusters none are needed). Call before any other JAX call; a no-op for a
    single process that passes no arguments outside a detected cluster."""
    if kwargs or _cluster_detected():
        jax.distributed.initialize(**kwargs)


def _cluster_detected() -> bool:
    import os

    return any(k in os.environ for k in ("SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES", "JAX_COORDINATOR_ADDRESS"))


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh, batches_per_step: int = 1) -> NamedSharding:
    """Examples split over ``"data"``; with several batches per step the leading axis is not split."""
    return NamedSharding(mesh, P(DATA_AXIS) if batches_per_step == 1 else P(None, DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def replicate(mesh: Mesh, tree: Any) -> Any:
    """Place a pytree that is identical on every process on every device of the mesh (multi-host safe)."""
    sharding = replicated(mesh)

    def put(x):
        if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):  # typed key: replicate its data
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree.map(put, tree)


def shard_batch(mesh: Mesh, local_batch: dict[str, Any], batches_per_step: int = 1) -> dict[str, jax.Array]:
    """Assemble the global batch from this process's slice (all of it on one host)."""
    sharding = batch_sharding(mesh, batches_per_step)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)


def jit_train_step(mesh: Mesh, recipe: Recipe, donate: bool = True) -> TrainStep:
    """``recipe``'s step compiled for the mesh: state replicated, batch sharded.

    The state is donated (its buffers are reused for the new state), so the caller must
    not touch the state it passed in after the call.
    """
    repl = replicated(mesh)

    def compile(fn, batches_per_step):
        shard = batch_sharding(mesh, batches_per_step)
        return jax.jit(fn, in_shardings=(repl, shard), out_shardings=(repl, repl), donate_argnums=(0,) if donate else ())

    return TrainStep(recipe, compile)


# --------------------------------------------------------------------------- (b) pmap


def pmap_state(state: TrainState, axis_name: str | None = DATA_AXIS) -> TrainState:
    """The same state with every network's module synchronising BatchNorm over ``axis_name``
    (leaves untouched; replicate them with ``replicate_for_pmap``). ``axis_name=None`` turns an
    unreplicated pmap state back into a single-device one."""

    def with_axis(module):
        return module.clone(bn_axis_name=axis_name) if hasattr(module, "bn_axis_name") else module

    return state.replace(nets={n: net.replace(module=with_axis(net.module)) for n, net in state.nets.items()})


def replicate_for_pmap(tree: Any, devices: Sequence[jax.Device] | None = None, axis_name: str = DATA_AXIS) -> Any:
    """One copy per local device along a new leading axis (``jax.device_put_replicated`` is gone in jax 0.10).

    The sharding's mesh axis is the pmap axis name, so the arrays match what the pmapped
    step returns and its second call does not compile again."""
    devices = jax.local_devices() if devices is None else list(devices)
    sharding = NamedSharding(Mesh(np.asarray(devices), (axis_name,)), P(axis_name))
    return jax.tree.map(lambda x: jax.device_put(jnp.broadcast_to(x, (len(devices),) + jnp.shape(x)), sharding), tree)


def unreplicate(tree: Any) -> Any:
    return jax.tree.map(lambda x: x[0], tree)


def split_for_pmap(batch: dict[str, Any], num_devices: int, batches_per_step: int = 1) -> dict[str, np.ndarray]:
    """Global batch -> leading device axis: (B, ...) -> (D, B/D, ...); with several batches per
    step (K, B, ...) -> (D, K, B/D, ...)."""

    def split(x):
        x = np.asarray(x)
        axis = 0 if batches_per_step == 1 else 1
        b = x.shape[axis]
        if b % num_devices:
            raise ValueError(f"global batch {b} is not divisible by {num_devices} devices")
        x = x.reshape(x.shape[:axis] + (num_devices, b // num_devices) + x.shape[axis + 1 :])
        return np.moveaxis(x, axis, 0)

    return jax.tree.map(split, batch)


def pmap_train_step(recipe: Recipe, axis_name: str = DATA_AXIS, donate: bool = True, devices: Sequence[jax.Device] | None = None) -> TrainStep:
    """``recipe``'s step under ``jax.pmap``; call it with a ``pmap_state`` replicated by
    ``replicate_for_pmap`` and a batch from ``split_for_pmap``."""

    def compile(fn):
        return jax.pmap(fn, axis_name=axis_name, in_axes=(0, 0), donate_argnums=(0,) if donate else (), devices=devices)

    return TrainStep(recipe, compile, axis_name=axis_name)
