"""The GAN train step: pure functions of ``(state, batch, rng)``.

``train_step`` runs ``spec.n_critic`` discriminator updates, then one generator update
and the EMA update, as one computation for ``jax.jit`` (``lax.scan`` over the critic
updates when ``n_critic > 1``). Nothing here touches the host: metrics come back as a
flat dict of device scalars (``loss/d_real``, ...) that the driver copies to the host
only when it logs.

Batches are dicts: ``batch["x"]`` holds data in [-1, 1] (float) or uint8 images (0..255,
converted on device, which quarters the host-to-device traffic); ``batch["y"]`` holds
integer labels for conditional models. With ``n_critic > 1`` every leaf carries a
leading axis of size ``n_critic``: each critic update sees a fresh real batch, as in
Arjovsky et al. 2017 and Gulrajani et al. 2017.

Under ``jax.pmap`` (``spec.axis_name`` set by ``gan_jax.parallel``) gradients and
metrics are averaged over the axis, BatchNorm statistics are synchronised by the models,
and latents are drawn for the *global* batch and sliced, so a pmapped step computes the
same update as the single-device step on the same global batch.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from gan_jax.losses import get_loss
from gan_jax.state import GANState, pack

Array = jax.Array
Metrics = dict[str, Array]

__all__ = ["d_step", "g_step", "train_step", "generate", "to_float"]


def to_float(x: Array) -> Array:
    """uint8 images (0..255) -> float32 in [-1, 1]; float data passes through as float32."""
    if x.dtype == jnp.uint8:
        return x.astype(jnp.float32) / 127.5 - 1.0
    return x.astype(jnp.float32)


def _global_normal(key: Array, local_shape: tuple[int, ...], axis_name: str | None) -> Array:
    """N(0, 1) noise for this device's slice of the global batch.

    Under pmap every device draws the global array from the same key and keeps its slice,
    so the noise (and hence the update) does not depend on the number of devices.
    """
    if axis_name is None:
        return jax.random.normal(key, local_shape)
    n = jax.lax.axis_size(axis_name)
    full = jax.random.normal(key, (n * local_shape[0],) + tuple(local_shape[1:]))
    return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(axis_name) * local_shape[0], local_shape[0])


def _global_norm(tree) -> Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def _pmean(tree, axis_name: str | None):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _generate(state: GANState, params, z: Array, y: Array | None, *, train: bool):
    """G(z) with G's non-parameter collections; returns (samples, updated collections)."""
    variables = {"params": params, **state.g_state}
    if train and state.g_state:
        return state.generator.apply(variables, z, y, train=True, mutable=list(state.g_state))
    return state.generator.apply(variables, z, y, train=train), state.g_state


def _discriminate(state: GANState, params, d_state, x: Array, y: Array | None):
    """D logits in training mode; returns (logits, updated collections)."""
    variables = {"params": params, **d_state}
    x = pack(x, state.spec.pack)
    if d_state:
        return state.discriminator.apply(variables, x, y, train=True, mutable=list(d_state))
    return state.discriminator.apply(variables, x, y, train=True), d_state


def generate(state: GANState, z: Array, y: Array | None = None, *, use_ema: bool = True) -> Array:
    """Samples for evaluation and sample grids: G in inference mode, EMA parameters by default."""
    params = state.ema_params if use_ema else state.g_params
    return _generate(state, params, z, y, train=False)[0]


def _apply_updates(tx: optax.GradientTransformation, grads, opt_state, params):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def d_step(state: GANState, real: Array, y: Array | None, rng: Array, d_step_index: Array | None = None) -> tuple[GANState, Metrics]:
    """One discriminator update on a real batch and a fresh fake batch of the same size."""
    spec = state.spec
    axis = spec.axis_name
    loss = get_loss(spec.loss)
    k_z, k_pen = jax.random.split(rng)
    if axis is not None:  # penalties draw per-example noise; make it differ across devices
        k_pen = jax.random.fold_in(k_pen, jax.lax.axis_index(axis))
    real = to_float(real)
    z = _global_normal(k_z, (real.shape[0], spec.z_dim), axis)
    fake, g_state = _generate(state, state.g_params, z, y, train=True)
    fake = jax.lax.stop_gradient(fake)
    d_step_index = state.step * spec.n_critic if d_step_index is None else d_step_index
    loss_kwargs = {"label_smoothing": spec.label_smoothing} if loss.smoothable else {}

    def loss_fn(d_params):
        # Real and fake batches go through D separately (as in the PyTorch DCGAN example),
        # so BatchNorm in D never mixes real and fake statistics.
        real_logits, d_state = _discriminate(state, d_params, state.d_state, real, y)
        fake_logits, d_state = _discriminate(state, d_params, d_state, fake, y)
        l_real, l_fake = loss.d(real_logits=real_logits, fake_logits=fake_logits, **loss_kwargs)
        metrics = {
            "loss/d_real": l_real,
            "loss/d_fake": l_fake,
            "d/real_logits": jnp.mean(real_logits),
            "d/fake_logits": jnp.mean(fake_logits),
        }
        total = l_real + l_fake
        if spec.d_penalties:
            # The penalty sees packed inputs (what D sees) and discards BatchNorm updates.
            def d_fn(x):
                variables = {"params": d_params, **d_state}
                if d_state:
                    return state.discriminator.apply(variables, x, y, train=True, mutable=list(d_state))[0]
                return state.discriminator.apply(variables, x, y, train=True)

            real_p, fake_p = pack(real, spec.pack), pack(fake, spec.pack)
            for i, penalty in enumerate(spec.d_penalties):
                value = penalty(d_fn=d_fn, real=real_p, fake=fake_p, rng=jax.random.fold_in(k_pen, i), d_step=d_step_index)
                metrics[f"penalty/{penalty.name}"] = value
                total = total + value
        metrics["loss/d"] = total
        return total, (metrics, d_state)

    grads, (metrics, d_state) = jax.grad(loss_fn, has_aux=True)(state.d_params)
    grads = _pmean(grads, axis)
    metrics["grad_norm/d"] = _global_norm(grads)
    d_params, d_opt_state = _apply_updates(state.d_tx, grads, state.d_opt_state, state.d_params)
    state = state.replace(d_params=d_params, d_opt_state=d_opt_state, d_state=d_state, g_state=g_state)
    return state, _pmean(metrics, axis)


def g_step(state: GANState, batch_size: int, y: Array | None, rng: Array) -> tuple[GANState, Metrics]:
    """One generator update on ``batch_size`` fresh latents; then the EMA update."""
    spec = state.spec
    axis = spec.axis_name
    loss = get_loss(spec.loss)
    z = _global_normal(rng, (batch_size, spec.z_dim), axis)

    def loss_fn(g_params):
        fake, g_state = _generate(state, g_params, z, y, train=True)
        # D's BatchNorm statistics are not updated by the generator's phase.
        fake_logits, _ = _discriminate(state, state.d_params, state.d_state, fake, y)
        l_g = loss.g(fake_logits=fake_logits)
        return l_g, ({"loss/g": l_g}, g_state)

    grads, (metrics, g_state) = jax.grad(loss_fn, has_aux=True)(state.g_params)
    grads = _pmean(grads, axis)
    metrics["grad_norm/g"] = _global_norm(grads)
    g_params, g_opt_state = _apply_updates(state.g_tx, grads, state.g_opt_state, state.g_params)
    ema_params = optax.incremental_update(g_params, state.ema_params, step_size=1.0 - spec.ema_decay)
    state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_state=g_state, ema_params=ema_params)
    return state, _pmean(metrics, axis)


def train_step(state: GANState, batch: dict[str, Any], rng: Array) -> tuple[GANState, Metrics]:
    """``n_critic`` D updates, one G update, the EMA update; ``state.step`` counts G updates.

    The step's randomness is ``fold_in(rng, state.step)``, so a resumed run draws the
    same latents as an uninterrupted one.
    """
    spec = state.spec
    key = jax.random.fold_in(rng, state.step)
    k_d, k_g = jax.random.split(key)
    x, y = batch["x"], batch.get("y") if spec.conditional else None

    if spec.n_critic == 1:
        state, d_metrics = d_step(state, x, y, k_d)
        y_g = y
    else:
        if x.shape[0] != spec.n_critic:
            raise ValueError(f"with n_critic={spec.n_critic} batch['x'] needs a leading axis of size {spec.n_critic}, got shape {x.shape}")

        def body(state, inputs):
            i, x_i, y_i = inputs
            return d_step(state, x_i, y_i, jax.random.fold_in(k_d, i), state.step * spec.n_critic + i)

        idx = jnp.arange(spec.n_critic)
        state, d_metrics = jax.lax.scan(body, state, (idx, x, y))
        d_metrics = jax.tree.map(jnp.mean, d_metrics)
        x, y_g = x[-1], (y[-1] if y is not None else None)

    # The generator conditions on the labels of the last real batch: the data's class frequencies.
    state, g_metrics = g_step(state, x.shape[0], y_g, k_g)
    state = state.replace(step=state.step + 1)
    return state, {**d_metrics, **g_metrics}
