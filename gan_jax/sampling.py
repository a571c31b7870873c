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

__all__ = ["fixed_latents", "class_rows", "generate", "sample", "sample_grid", "write_samples", "interpolate", "interpolation_grid",
           "check_truncation", "mapped_w", "synthesize", "coarse_layers", "style_mix", "interpolate_w"]


def check_truncation(recipe: Recipe, truncation: float | None) -> None:
    """ValueError (one line) unless ``truncation`` is None or a psi in [0, 1] this generator supports."""
    if truncation is None:
        return
    if not recipe.truncation:
        raise ValueError(f"truncation is defined for StyleGAN2 (W) and BigGAN (z) generators, not for recipe {recipe.name!r}")
    if not 0.0 <= truncation <= 1.0 or (recipe.truncation == "z" and truncation == 0.0):
        lo = "(0" if recipe.truncation == "z" else "[0"
        raise ValueError(f"truncation psi must be in {lo}, 1], got {truncation}")


def fixed_latents(recipe: Recipe, num: int, seed: int = 0, truncation: float | None = None) -> jax.Array:
    """The latents of ``seed``: the same for every call, so grids and metrics are comparable.

    With a z-truncated generator (BigGAN) and ``truncation=psi``: ``psi * N(0, 1)`` truncated to
    [-2, 2] (the TF-Hub BigGAN convention), from the same key.
    """
    key = jax.random.PRNGKey(seed)
    if truncation is not None and recipe.truncation == "z":
        return truncation * jax.random.truncated_normal(key, -2.0, 2.0, (num, recipe.latent_dim))
    return jax.random.normal(key, (num, recipe.latent_dim))


def noise_key(seed: int, index: int) -> jax.Array:
    """The noise-input key of batch ``index`` of samples of ``seed`` (StyleGAN2's per-pixel noise)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed + 1), index)


def class_rows(num: int, num_classes: int) -> np.ndarray:
    """Labels for a class-per-row grid: ``num // num_classes`` samples of each class in turn."""
    per_class = max(1, num // num_classes)
    return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


def generate(recipe: Recipe, state: TrainState, z: jax.Array, y: jax.Array | None = None, *, use_ema: bool = True,
             truncation: float | None = None, key: jax.Array | None = None) -> jax.Array:
    """G(z, y) in inference mode: the EMA copy by default (the raw generator if it has none).

    ``truncation``: psi for W truncation (StyleGAN2; z truncation happens in ``fixed_latents``);
    ``key``: draws the generator's noise inputs (StyleGAN2; None: its fixed noise).
    """
    net = state.nets[recipe.generator]
    ema = use_ema and net.ema is not None
    if recipe.generate is not None:
        return recipe.generate(state, z, y, ema=ema, truncation=truncation if recipe.truncation == "w" else None, key=key)
    return apply_network(net, z, y, ema=ema)


_generate = jax.jit(generate, static_argnames=("recipe", "use_ema"))


def sample(recipe: Recipe, state: TrainState, num: int, *, seed: int = 0, use_ema: bool = True, labels: np.ndarray | None = None,
           batch_size: int = 500, truncation: float | None = None) -> np.ndarray:
    """``num`` samples as numpy: float data in [-1, 1] for images, raw values for points.

    Conditional generators need ``labels`` (one per sample, or one for all); the latents are the
    same fixed batch for a given ``seed`` whatever the labels. ``truncation``: psi in [0, 1]
    (``Recipe.truncation`` says what it truncates).
    """
    check_truncation(recipe, truncation)
    if recipe.num_classes:
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        labels = np.broadcast_to(np.asarray(labels, np.int32), (num,))
    z = fixed_latents(recipe, num, seed, truncation)
    out = []
    for b, i in enumerate(range(0, num, batch_size)):
        y = jnp.asarray(labels[i : i + batch_size]) if recipe.num_classes else None
        out.append(np.asarray(_generate(recipe, state, z[i : i + batch_size], y, use_ema=use_ema, truncation=truncation,
                                        key=noise_key(seed, b))))
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


# ----------------------------------------------------------------------------- style-based generators (StyleGAN2)


def _style_generator(recipe: Recipe, state: TrainState):
    net = state.nets[recipe.generator]
    if recipe.truncation != "w" or not hasattr(net.module, "synthesis"):
        raise ValueError(f"style mixing and W interpolation need a StyleGAN2 generator, not recipe {recipe.name!r}")
    return net


def mapped_w(recipe: Recipe, state: TrainState, z: jax.Array, y: jax.Array | None = None, *, use_ema: bool = True,
             truncation: float | None = None) -> jax.Array:
    """w = mapping(z, y) (B, w_dim), truncated towards ``state.extra['w_avg']`` with psi = ``truncation``."""
    net = _style_generator(recipe, state)
    w = apply_network(net, z, y, ema=use_ema and net.ema is not None, method="mapping")
    if truncation is not None:
        check_truncation(recipe, truncation)
        w_avg = state.extra["w_avg"]
        w = w_avg + truncation * (w - w_avg)
    return w


def synthesize(recipe: Recipe, state: TrainState, ws: jax.Array, *, use_ema: bool = True, key: jax.Array | None = None) -> np.ndarray:
    """Images of per-layer styles ``ws`` (B, num_ws, w_dim) as numpy in [-1, 1]."""
    net = _style_generator(recipe, state)
    keys = None if key is None else jax.random.split(key, ws.shape[0])
    return np.asarray(apply_network(net, ws, keys, ema=use_ema and net.ema is not None, method="synthesis"))


def coarse_layers(num_ws: int) -> tuple[int, int]:
    """The style layers ``style_mix`` takes from its column sources by default: the coarse half."""
    return 0, num_ws // 2


def style_mix(recipe: Recipe, state: TrainState, *, rows: int = 4, cols: int = 4, layers: tuple[int, int] | None = None, seed: int = 0,
              use_ema: bool = True, truncation: float | None = None, label: int | None = None) -> np.ndarray:
    """A (rows + 1) x (cols + 1) grid of images, as the reference's ``style_mixing.py``.

    Row 0 (from column 1): the column sources; column 0 (from row 1): the row sources; cell
    (r, c): the row source with the styles of layers ``[a, b)`` taken from column source c
    (default: the coarse half, ``[0, num_ws // 2)``). The corner is left blank (-1).
    """
    net = _style_generator(recipe, state)
    n_ws = net.module.num_ws
    a, b = layers if layers is not None else coarse_layers(n_ws)
    if not 0 <= a < b <= n_ws:
        raise ValueError(f"style layers must satisfy 0 <= a < b <= {n_ws}, got {a}-{b}")
    z = fixed_latents(recipe, rows + cols, seed)
    y = None
    if recipe.num_classes:
        if label is None:
            raise ValueError("a conditional generator needs a label")
        y = jnp.full((rows + cols,), label, jnp.int32)
    w = mapped_w(recipe, state, z, y, use_ema=use_ema, truncation=truncation)
    w_rows, w_cols = w[:rows], w[rows:]
    layer = jnp.arange(n_ws)[None, None, :, None]
    base = jnp.broadcast_to(w_rows[:, None, None, :], (rows, cols, n_ws, w.shape[-1]))
    donor = jnp.broadcast_to(w_cols[None, :, None, :], (rows, cols, n_ws, w.shape[-1]))
    mixed = jnp.where((layer >= a) & (layer < b), donor, base).reshape(rows * cols, n_ws, -1)
    sources = jnp.broadcast_to(w[:, None, :], (rows + cols, n_ws, w.shape[-1]))
    imgs_src = synthesize(recipe, state, sources, use_ema=use_ema)
    imgs_mix = synthesize(recipe, state, mixed, use_ema=use_ema).reshape(rows, cols, *imgs_src.shape[1:])
    grid = np.full((rows + 1, cols + 1, *imgs_src.shape[1:]), -1.0, np.float32)
    grid[0, 1:] = imgs_src[rows:]
    grid[1:, 0] = imgs_src[:rows]
    grid[1:, 1:] = imgs_mix
    return grid


def interpolate_w(recipe: Recipe, state: TrainState, *, num_pairs: int = 8, num_steps: int = 10, seed: int = 0, use_ema: bool = True,
                  label: int | None = None, truncation: float | None = None) -> np.ndarray:
    """(num_pairs, num_steps, ...) images along straight lines in W between mapped random latent pairs
    (W is where StyleGAN2's perceptual path length is measured; lerp, not slerp)."""
    net = _style_generator(recipe, state)
    ka, kb = jax.random.split(jax.random.PRNGKey(seed))
    z = jnp.concatenate([jax.random.normal(ka, (num_pairs, recipe.latent_dim)), jax.random.normal(kb, (num_pairs, recipe.latent_dim))])
    y = None
    if recipe.num_classes:
        if label is None:
            raise ValueError("a conditional generator needs a label")
        y = jnp.full((2 * num_pairs,), label, jnp.int32)
    w = mapped_w(recipe, state, z, y, use_ema=use_ema, truncation=truncation)
    wa, wb = w[:num_pairs], w[num_pairs:]
    t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]
    path = (wa[:, None] + t * (wb - wa)[:, None]).reshape(num_pairs * num_steps, -1)
    ws = jnp.broadcast_to(path[:, None, :], (path.shape[0], net.module.num_ws, path.shape[-1]))
    out = synthesize(recipe, state, ws, use_ema=use_ema)
    return out.reshape(num_pairs, num_steps, *out.shape[1:])
