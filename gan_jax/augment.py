"""Differentiable augmentation (DiffAugment, Zhao et al. 2020, arXiv:2006.10738) in pure JAX.

Data-efficient GAN training augments *both* real and generated images, every time D sees
them, with transformations that are differentiable w.r.t. the image, so G still receives
gradients through the augmented fakes. The semantics follow the reference implementation
(mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``), which also works on [-1, 1]
images, with per-example randomness:

* ``color``: brightness ``x + (u - 0.5)``; saturation ``(x - mean_c) * 2u + mean_c``; contrast
  ``(x - mean_chw) * (u + 0.5) + mean_chw`` (one ``u ~ U[0, 1)`` per example and op).
* ``translation``: shift by integers in ``[-s, s]`` per axis, ``s = int(size / 8 + 0.5)``,
  filling with 0 (mid-gray in [-1, 1]); ``out[i, j] = x[i + dy, j + dx]``.
* ``cutout``: zero a ``int(size / 2 + 0.5)`` square whose top-left corner is
  ``o - size // 2`` with ``o`` uniform in ``[0, size + (1 - size % 2))``, clipped at the borders.
* ``flip``: horizontal flip with probability 1/2 (not in the reference; a common GAN default).

Ops run in the order the policy lists them. Randomness comes from ``rng`` only, through one key
per example of the global batch (``gan_jax.noise.example_keys``), so equal keys give equal
augmentations and a pmapped step (``axis_name``) augments exactly as one device does; random
numbers are drawn in float32 and results keep ``x.dtype``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import noise


def _per_example(keys: jax.Array, draw) -> jax.Array:
    """``draw(key)`` for every example's key, stacked (shape (n, ...))."""
    return jax.vmap(draw)(keys)


def _uniform(keys: jax.Array) -> jax.Array:
    return _per_example(keys, lambda k: jax.random.uniform(k, (), jnp.float32))[:, None, None, None]


def _color(x: jax.Array, keys: jax.Array) -> jax.Array:
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    kb, ks, kc = split[:, 0], split[:, 1], split[:, 2]
    x = x + (_uniform(kb) - 0.5).astype(x.dtype)
    mean_c = x.mean(axis=3, keepdims=True)
    x = (x - mean_c) * (2 * _uniform(ks)).astype(x.dtype) + mean_c
    mean_all = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean_all) * (_uniform(kc) + 0.5).astype(x.dtype) + mean_all


def _translation(x: jax.Array, keys: jax.Array, ratio: float = 0.125) -> jax.Array:
    _, h, w, c = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)

    def draw(k):
        ky, kx = jax.random.split(k)
        return jax.random.randint(ky, (), -sy, sy + 1), jax.random.randint(kx, (), -sx, sx + 1)

    dy, dx = _per_example(keys, draw)
    padded = jnp.pad(x, ((0, 0), (sy, sy), (sx, sx), (0, 0)))
    shift = lambda im, oy, ox: jax.lax.dynamic_slice(im, (sy + oy, sx + ox, 0), (h, w, c))
    return jax.vmap(shift)(padded, dy, dx)


def _cutout(x: jax.Array, keys: jax.Array, ratio: float = 0.5) -> jax.Array:
    n, h, w, _ = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)

    def draw(k):
        ky, kx = jax.random.split(k)
        return jax.random.randint(ky, (), 0, h + (1 - ch % 2)), jax.random.randint(kx, (), 0, w + (1 - cw % 2))

    top, left = _per_example(keys, draw)
    top, left = (top - ch // 2)[:, None, None], (left - cw // 2)[:, None, None]
    rows = jnp.arange(h)[None, :, None]
    cols = jnp.arange(w)[None, None, :]
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * jnp.where(inside, 0, 1).astype(x.dtype)[..., None]


def _flip(x: jax.Array, keys: jax.Array) -> jax.Array:
    flip = _per_example(keys, lambda k: jax.random.bernoulli(k, 0.5))[:, None, None, None]
    return jnp.where(flip, x[:, :, ::-1, :], x)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout, "flip": _flip}
#: the policy names ``diff_augment`` accepts
AUGMENT_POLICIES = tuple(_OPS)


def diff_augment(x: jax.Array, rng: jax.Array, policy: tuple[str, ...], axis_name: str | None = None) -> jax.Array:
    """Augment a batch of NHWC images in [-1, 1] with the ops named in ``policy``, in order.

    Empty policy: ``x`` unchanged. Jit-able (the policy is static Python data) and
    differentiable w.r.t. ``x``; each example draws its own random parameters from its own key.
    """
    unknown = [p for p in policy if p not in _OPS]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; choose from {AUGMENT_POLICIES}")
    if x.ndim != 4:
        raise ValueError(f"diff_augment expects NHWC images, got shape {x.shape}")
    if not policy:
        return x
    keys = noise.example_keys(rng, x.shape[0], axis_name)
    op_keys = jax.vmap(lambda k: jax.random.split(k, len(policy)))(keys)  # (n, len(policy)) keys
    for j, p in enumerate(policy):
        x = _OPS[p](x, op_keys[:, j])
    return x
