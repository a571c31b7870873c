"""Samples of a trained generator: fixed latents, batched generation, grids, interpolations.

Used by the driver (sample grids), ``gan_jax.evaluate`` (metrics) and the CLI (``sample``,
``interpolate``); below all of them, so none imports the other. Samples come from the EMA
generator (its parameters *and* its own BatchNorm statistics) unless ``use_ema=False`` or the
generator has no EMA copy.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.engine import Recipe, TrainState, apply_network
from gan_jax.images import image_grid, save_image_grid, save_scatter, to_uint8

__all__ = ["fixed_latents", "class_rows", "generate", "sample", "sample_grid", "write_samples", "interpolate", "interpolation_grid"]


def fixed_latents(recipe: Recipe, num: int, seed: int = 0) -> jax.Array:
    """The latents of ``seed``: the same for every call, so grids and metrics are comparable."""
    return jax.random.normal(jax.random.PRNGKey(seed), (num, recipe.latent_dim))


def class_rows(num: int, num_classes: int) -> np.ndarray:
    """Labels for a class-per-row grid: ``num // num_classes`` samples of each class in turn."""
    per_class = max(1, num // num_classes)
    return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


def generate(recipe: Recipe, state: TrainState, z: jax.Array, y: jax.Array | None = None, *, use_ema: bool = True) -> jax.Array:
    """G(z, y) in inference mode: the EMA copy by default (the raw generator if it has none)."""
    net = state.nets[recipe.generator]
    return apply_network(net, z, y, ema=use_ema and net.ema is not None)


_generate = jax.jit(generate, static_argnames=("recipe", "use_ema"))


def sample(recipe: Recipe, state: TrainState, num: int, *, seed: int = 0, use_ema: bool = True, labels: np.ndarray | None = None,
           batch_size: int = 500) -> np.ndarray:
    """``num`` samples as numpy: float data in [-1, 1] for images, raw values for points.

    Conditional generators need ``labels`` (one per sample, or one for all); the latents are the
    same fixed batch for a given ``seed`` whatever the labels.
    """
    if recipe.num_classes:
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        labels = np.broadcast_to(np.asarray(labels, np.int32), (num,))
    z = fixed_latents(recipe, num, seed)
    out = []
    for i in range(0, num, batch_size):
        y = jnp.asarray(labels[i : i + batch_size]) if recipe.num_classes else None
        out.append(np.asarray(_generate(recipe, state, z[i : i + batch_size], y, use_ema=use_ema)))
    return np.concatenate(out)


def sample_grid(recipe: Recipe, state: TrainState, num: int, *, seed: int = 0, use_ema: bool = True) -> tuple[np.ndarray, int | None]:
    """Samples for a grid and its number of columns (a class per row for conditional models)."""
    if recipe.num_classes:
        labels = class_rows(num, recipe.num_classes)
        return sample(recipe, state, len(labels), seed=seed, use_ema=use_ema, labels=labels), len(labels) // recipe.num_classes
    return sample(recipe, state, num, seed=seed, use_ema=use_ema), None


def write_samples(samples: np.ndarray, path: Path, dataset, ncol: int | None = None) -> Path:
    """A PNG people can look at: an image grid, or a scatter over the real modes for toy data."""
    if dataset.is_image:
        return save_image_grid(to_uint8(samples), path, ncol=ncol)
    from gan_jax.data import toy_modes

    modes, std = toy_modes(dataset.name)
    return save_scatter(samples, path, modes, std)


def interpolate(recipe: Recipe, state: TrainState, *, num_pairs: int = 8, num_steps: int = 10, seed: int = 0, use_ema: bool = True,
                label: int | None = None) -> np.ndarray:
    """Samples along spherical interpolations (slerp) between random latent pairs.

    Returns (num_pairs, num_steps, ...) samples: row i walks from z_a[i] to z_b[i]. Slerp keeps
    the latents on the Gaussian's typical shell, where linear interpolation would pass through
    low-norm latents G never saw.
    """
    ka, kb = jax.random.split(jax.random.PRNGKey(seed))
    za = np.asarray(jax.random.normal(ka, (num_pairs, recipe.latent_dim)), np.float64)
    zb = np.asarray(jax.random.normal(kb, (num_pairs, recipe.latent_dim)), np.float64)
    cos = np.sum(za * zb, 1) / (np.linalg.norm(za, axis=1) * np.linalg.norm(zb, axis=1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None]
    zs = []
    for t in np.linspace(0.0, 1.0, num_steps):
        with np.errstate(invalid="ignore", divide="ignore"):
            slerp = (np.sin((1 - t) * omega) * za + np.sin(t * omega) * zb) / np.sin(omega)
        zs.append(np.where(omega > 1e-6, slerp, (1 - t) * za + t * zb))
    z = jnp.asarray(np.stack(zs, 1).reshape(num_pairs * num_steps, -1), jnp.float32)
    y = None
    if recipe.num_classes:
        if label is None:
            raise ValueError("a conditional generator needs a label")
        y = jnp.full((z.shape[0],), label, jnp.int32)
    out = np.asarray(_generate(recipe, state, z, y, use_ema=use_ema))
    return out.reshape(num_pairs, num_steps, *out.shape[1:])


def interpolation_grid(frames: np.ndarray) -> np.ndarray:
    """(pairs, steps, H, W, C) images in [-1, 1] -> one uint8 picture, a pair per row."""
    pairs, nsteps = frames.shape[:2]
    return image_grid(to_uint8(frames.reshape(pairs * nsteps, *frames.shape[2:])), ncol=nsteps)
