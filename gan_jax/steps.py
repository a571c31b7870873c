"""The GAN train step: pure functions of ``(state, batch, rng)``.

``train_step`` runs ``spec.n_critic`` discriminator updates, then one generator update
and the EMA update, as one computation for ``jax.jit`` (the critic updates unrolled for
``n_critic <= CRITIC_UNROLL_MAX``, a ``lax.scan`` beyond). Nothing here touches the host: metrics come back as a
flat dict of device scalars (``loss/d_real``, ...) that the driver copies to the host
only when it logs.

Batches are dicts: ``batch["x"]`` holds data in [-1, 1] (float) or uint8 images (0..255,
converted on device, which quarters the host-to-device traffic); ``batch["y"]`` holds
integer labels for conditional models. With ``n_critic > 1`` every leaf carries a
leading axis of size ``n_critic``: each critic update sees a fresh real batch, as in
Arjovsky et al. 2017 and Gulrajani et al. 2017.

The GAN-family options of ``GANSpec`` act here: spectral-norm vectors (D's ``"spectral"``
collection) advance once per D update, in D's real pass; DiffAugment and instance noise
transform every batch D sees (real and fake, in both phases, differentiably); the ACGAN
class terms, orthogonal and historical-averaging penalties join the G/D losses; weight
clipping projects D's parameters after its update; relativistic losses give the G step
the last real batch.

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

from gan_jax import losses, regularizers
from gan_jax.losses import get_loss
from gan_jax.models.spectral import SN_COLLECTION
from gan_jax.state import GANSpec, GANState, pack

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


def _discriminate(state: GANState, params, d_state, x: Array, y: Array | None, *, update_sn: bool = False):
    """D output in training mode (packed input); returns (output, updated collections).

    The output is the logits, or ``(logits, class_logits)`` for an ACGAN discriminator.
    Every collection of D is mutable (BatchNorm statistics) except the spectral-norm
    vectors, which only the pass with ``update_sn=True`` (the real pass of a D update)
    advances: one power iteration per D update, the same sigma for all other passes.
    """
    variables = {"params": params, **d_state}
    x = pack(x, state.spec.pack)
    mutable = [c for c in d_state if update_sn or c != SN_COLLECTION]
    out, updated = state.discriminator.apply(variables, x, y, train=True, mutable=mutable)
    return out, {**d_state, **updated}


def _split_output(out, aux: bool):
    """(logits, class_logits or None) from a D output."""
    if aux:
        if not isinstance(out, tuple):
            raise ValueError("spec.aux_weight > 0 (ACGAN) needs a discriminator that returns (logits, class_logits)")
        return out
    if isinstance(out, tuple):
        raise ValueError("the discriminator returns (logits, class_logits): set spec.aux_weight > 0 (ACGAN)")
    return out, None


def _d_input(spec: GANSpec, x: Array, rng: Array, step: Array) -> Array:
    """What D sees of a batch (real or fake): DiffAugment, then instance noise.

    Both are differentiable, so G's gradient flows through them (DiffAugment semantics)."""
    k_aug, k_noise = jax.random.split(rng)
    if spec.augment:
        from gan_jax.augment import diff_augment  # lazy: only runs that use DiffAugment need it

        x = diff_augment(x, k_aug, spec.augment)
    if spec.instance_noise:
        x = regularizers.instance_noise(x, k_noise, regularizers.annealed_std(spec.instance_noise, spec.instance_noise_anneal, step))
    return x


def _view_keys(rng: Array, axis: str | None, n: int) -> Array:
    """Keys for per-example input transformations, different on every device under pmap."""
    key = jax.random.fold_in(rng, 1)
    if axis is not None:
        key = jax.random.fold_in(key, jax.lax.axis_index(axis))
    return jax.random.split(key, n)


def generate(state: GANState, z: Array, y: Array | None = None, *, use_ema: bool = True) -> Array:
    """Samples for evaluation and sample grids: G in inference mode, EMA parameters by default."""
    params = state.ema_params if use_ema else state.g_params
    return _generate(state, params, z, y, train=False)[0]


def _apply_updates(tx: optax.GradientTransformation, grads, opt_state, params):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def _param_penalties(state: GANState, params, player: str, ortho_weight: float, metrics: Metrics) -> Array:
    """Penalties on one player's parameters (orthogonal regularisation, historical
    averaging); adds ``penalty/{player}_ortho`` / ``penalty/{player}_hist`` to ``metrics``."""
    total = jnp.zeros((), jnp.float32)
    if ortho_weight:
        metrics[f"penalty/{player}_ortho"] = value = ortho_weight * regularizers.orthogonal_penalty(params)
        total = total + value
    if state.spec.hist_weight:
        value = state.spec.hist_weight * regularizers.historical_averaging_penalty(params, state.hist_params[player])
        metrics[f"penalty/{player}_hist"] = value
        total = total + value
    return total


def d_step(state: GANState, real: Array, y: Array | None, rng: Array, d_step_index: Array | None = None) -> tuple[GANState, Metrics]:
    """One discriminator update on a real batch and a fresh fake batch of the same size."""
    spec = state.spec
    axis = spec.axis_name
    loss = get_loss(spec.loss)
    aux = spec.aux_weight > 0
    k_z, k_pen = jax.random.split(rng)
    if axis is not None:  # penalties draw per-example noise; make it differ across devices
        k_pen = jax.random.fold_in(k_pen, jax.lax.axis_index(axis))
    real = to_float(real)
    z = _global_normal(k_z, (real.shape[0], spec.z_dim), axis)
    fake, g_state = _generate(state, state.g_params, z, y, train=True)
    fake = jax.lax.stop_gradient(fake)
    if spec.augment or spec.instance_noise:
        k_real, k_fake = _view_keys(rng, axis, 2)
        real = _d_input(spec, real, k_real, state.step)
        fake = _d_input(spec, fake, k_fake, state.step)
    d_step_index = state.step * spec.n_critic if d_step_index is None else d_step_index
    loss_kwargs = {"label_smoothing": spec.label_smoothing} if loss.smoothable else {}

    def loss_fn(d_params):
        # Real and fake batches go through D separately (as in the PyTorch DCGAN example),
        # so BatchNorm in D never mixes real and fake statistics. Only the real pass
        # advances the spectral-norm power iteration.
        real_out, d_state = _discriminate(state, d_params, state.d_state, real, y, update_sn=True)
        fake_out, d_state = _discriminate(state, d_params, d_state, fake, y)
        (real_logits, real_cls), (fake_logits, fake_cls) = _split_output(real_out, aux), _split_output(fake_out, aux)
        l_real, l_fake = loss.d(real_logits=real_logits, fake_logits=fake_logits, **loss_kwargs)
        metrics = {
            "loss/d_real": l_real,
            "loss/d_fake": l_fake,
            "d/real_logits": jnp.mean(real_logits),
            "d/fake_logits": jnp.mean(fake_logits),
        }
        total = l_real + l_fake
        if aux:
            c_real, c_fake = losses.acgan_d(real_class_logits=real_cls, fake_class_logits=fake_cls, real_labels=y, fake_labels=y)
            metrics["loss/d_aux"] = c_real + c_fake
            metrics["d/aux_acc_real"] = jnp.mean(jnp.argmax(real_cls, axis=-1) == y)
            total = total + spec.aux_weight * (c_real + c_fake)
        if spec.d_penalties:
            # The penalty sees packed inputs (what D sees) and discards BatchNorm updates.
            def d_fn(x):
                variables = {"params": d_params, **d_state}
                mutable = [c for c in d_state if c != SN_COLLECTION]
                out = state.discriminator.apply(variables, x, y, train=True, mutable=mutable)[0]
                return _split_output(out, aux)[0]

            real_p, fake_p = pack(real, spec.pack), pack(fake, spec.pack)
            for i, penalty in enumerate(spec.d_penalties):
                value = penalty(d_fn=d_fn, real=real_p, fake=fake_p, rng=jax.random.fold_in(k_pen, i), d_step=d_step_index)
                metrics[f"penalty/{penalty.name}"] = value
                total = total + value
        total = total + _param_penalties(state, d_params, "d", spec.d_ortho_weight, metrics)
        metrics["loss/d"] = total
        return total, (metrics, d_state)

    grads, (metrics, d_state) = jax.grad(loss_fn, has_aux=True)(state.d_params)
    grads = _pmean(grads, axis)
    metrics["grad_norm/d"] = _global_norm(grads)
    d_params, d_opt_state = _apply_updates(state.d_tx, grads, state.d_opt_state, state.d_params)
    if spec.d_weight_clip:
        # WGAN: a projection after the update (exact; see gan_jax.regularizers.clip_weights)
        d_params = regularizers.clip_weights(d_params, spec.d_weight_clip)
    hist_params = state.hist_params
    if spec.hist_weight:  # the mean of D's parameters after updates 0 .. d_step_index (and the initial ones)
        hist_params = {**hist_params, "d": regularizers.running_average(hist_params["d"], d_params, d_step_index + 2)}
    state = state.replace(d_params=d_params, d_opt_state=d_opt_state, d_state=d_state, g_state=g_state, hist_params=hist_params)
    return state, _pmean(metrics, axis)


def g_step(state: GANState, batch_size: int, y: Array | None, rng: Array, real: Array | None = None) -> tuple[GANState, Metrics]:
    """One generator update on ``batch_size`` fresh latents; then the EMA update.

    ``real`` (a real batch) is needed by relativistic losses only, whose generator loss
    compares D's outputs on fake and real data.
    """
    spec = state.spec
    axis = spec.axis_name
    loss = get_loss(spec.loss)
    aux = spec.aux_weight > 0
    z = _global_normal(rng, (batch_size, spec.z_dim), axis)
    transform = bool(spec.augment or spec.instance_noise)
    k_fake, k_real = _view_keys(rng, axis, 2) if transform else (None, None)
    real_logits = None
    if loss.relativistic:
        if real is None:
            raise ValueError(f"loss {spec.loss!r} needs a real batch in the generator step (g_step(..., real=...))")
        real = to_float(real)
        if transform:
            real = _d_input(spec, real, k_real, state.step)
        # a constant for G: D's parameters are not trained here
        real_out, _ = _discriminate(state, state.d_params, state.d_state, real, y)
        real_logits = jax.lax.stop_gradient(_split_output(real_out, aux)[0])

    def loss_fn(g_params):
        fake, g_state = _generate(state, g_params, z, y, train=True)
        if transform:  # differentiable: G's gradient flows through the augmentation / noise
            fake = _d_input(spec, fake, k_fake, state.step)
        # D's BatchNorm statistics (and spectral-norm vectors) are not updated by the generator's phase.
        fake_out, _ = _discriminate(state, state.d_params, state.d_state, fake, y)
        fake_logits, fake_cls = _split_output(fake_out, aux)
        g_kwargs = {"real_logits": real_logits} if loss.relativistic else {}
        l_g = loss.g(fake_logits=fake_logits, **g_kwargs)
        metrics = {}
        total = l_g
        if aux:
            c_fake = losses.acgan_g(fake_class_logits=fake_cls, fake_labels=y)
            metrics["loss/g_aux"] = c_fake
            total = total + spec.aux_weight * c_fake
        total = total + _param_penalties(state, g_params, "g", spec.g_ortho_weight, metrics)
        if metrics:
            metrics["loss/g_adv"] = l_g
        metrics["loss/g"] = total
        return total, (metrics, g_state)

    grads, (metrics, g_state) = jax.grad(loss_fn, has_aux=True)(state.g_params)
    grads = _pmean(grads, axis)
    metrics["grad_norm/g"] = _global_norm(grads)
    g_params, g_opt_state = _apply_updates(state.g_tx, grads, state.g_opt_state, state.g_params)
    ema_params = optax.incremental_update(g_params, state.ema_params, step_size=1.0 - spec.ema_decay)
    hist_params = state.hist_params
    if spec.hist_weight:  # the mean of G's initial parameters and those after G updates 0 .. step
        hist_params = {**hist_params, "g": regularizers.running_average(hist_params["g"], g_params, state.step + 2)}
    state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_state=g_state, ema_params=ema_params, hist_params=hist_params)
    return state, _pmean(metrics, axis)


#: n_critic up to this is unrolled into a static loop; larger n_critic uses lax.scan
#: (compile time grows with the unrolled length). Measured on 2 shared CPU cores (jax 0.10.2,
#: XLA:CPU): WGAN-GP, DCGAN width 32 at 32x32x3, batch 64, n_critic 5: lax.scan 29.7 s per
#: train step, unrolled 2.2 s (compile 37 s vs 26 s). The scan body's convolutions fall
#: off XLA:CPU's fast convolution path; unrolled they are ordinary top-level convolutions.
CRITIC_UNROLL_MAX = 8


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

        if spec.n_critic <= CRITIC_UNROLL_MAX:
            # A static loop (what lax.scan(unroll=True) gives): XLA:CPU runs convolutions inside
            # a while loop (lax.scan) off its fast path; unrolled they stay fast. See
            # CRITIC_UNROLL_MAX for the measurement. Same computation, same results.
            outs = []
            for i in range(spec.n_critic):
                state, m = body(state, (i, x[i], None if y is None else y[i]))
                outs.append(m)
            d_metrics = jax.tree.map(lambda *v: jnp.stack(v), *outs)
        else:
            state, d_metrics = jax.lax.scan(body, state, (jnp.arange(spec.n_critic), x, y))
        d_metrics = jax.tree.map(jnp.mean, d_metrics)
        x, y_g = x[-1], (y[-1] if y is not None else None)

    # The generator conditions on the labels of the last real batch: the data's class frequencies.
    state, g_metrics = g_step(state, x.shape[0], y_g, k_g, x if get_loss(spec.loss).relativistic else None)
    state = state.replace(step=state.step + 1)
    return state, {**d_metrics, **g_metrics}
