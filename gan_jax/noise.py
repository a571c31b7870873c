"""Random draws that do not depend on how the batch is split over devices.

Under ``jax.jit`` over a ``Mesh`` an array is global, so plain ``jax.random`` calls already give
the single-device numbers. Under ``jax.pmap`` each device holds a slice of the global batch; these
helpers draw for the *global* batch (or one key per global example) from the same key on every
device and keep this device's slice, so a pmapped step computes the update of one device on the
whole batch (``axis_name=None``: a plain draw).

* ``normal`` / ``uniform``: the global array, sliced (memory: the global batch on every device).
* ``example_keys``: one key per example of this device's slice, for per-example draws under
  ``jax.vmap`` (memory: two words per global example). Augmentation and instance noise use it.
"""

from __future__ import annotations

import jax

Array = jax.Array


def _local_slice(full: Array, n_local: int, axis_name: str | None) -> Array:
    if axis_name is None:
        return full
    return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(axis_name) * n_local, n_local)


def _global_shape(local_shape: tuple[int, ...], axis_name: str | None) -> tuple[int, ...]:
    if axis_name is None:
        return tuple(local_shape)
    return (jax.lax.axis_size(axis_name) * local_shape[0],) + tuple(local_shape[1:])


def normal(key: Array, local_shape: tuple[int, ...], axis_name: str | None = None, dtype=None) -> Array:
    """N(0, 1) of shape ``local_shape`` (axis 0: this device's examples) from the global draw."""
    full = jax.random.normal(key, _global_shape(local_shape, axis_name), dtype or jax.numpy.float32)
    return _local_slice(full, local_shape[0], axis_name)


def uniform(key: Array, local_shape: tuple[int, ...], axis_name: str | None = None, dtype=None) -> Array:
    """U[0, 1) of shape ``local_shape`` (axis 0: this device's examples) from the global draw."""
    full = jax.random.uniform(key, _global_shape(local_shape, axis_name), dtype or jax.numpy.float32)
    return _local_slice(full, local_shape[0], axis_name)


def example_keys(key: Array, n_local: int, axis_name: str | None = None) -> Array:
    """One key per example of this device's ``n_local`` examples: ``split(key, global_batch)`` sliced."""
    n_global = n_local if axis_name is None else jax.lax.axis_size(axis_name) * n_local
    return _local_slice(jax.random.split(key, n_global), n_local, axis_name)


def batch_mean(x: Array, axis_name: str | None = None) -> Array:
    """The mean of ``x`` over the global batch (equal-sized slices per device under pmap)."""
    m = jax.numpy.mean(x)
    return m if axis_name is None else jax.lax.pmean(m, axis_name)
