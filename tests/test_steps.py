"""The classic recipe's train step on tiny models, checked against hand computations.

D/G phases, jit + donation, n_critic (unrolled and lax.scan), uint8 input, EMA, PacGAN
packing, spec validation, DCGAN/MLP shapes, spectral norm, weight clipping, ACGAN,
relativistic losses, historical averaging, orthogonal regularisation, DiffAugment,
instance noise and the optimizers. Engine-level behaviour (lazy phases, the key schedule,
EMA collections, custom phases) is in ``tests/test_engine.py``, which reuses the helpers here.

The hand computations use only Flax ``apply``, ``jax.grad``, the loss functions and the
optimizer transformations, with the engine's documented key schedule::

    step_key   = fold_in(state.rng, state.step)
    phase_key  = split(step_key, len(recipe.phases))[index of the phase]
    call_key   = fold_in(phase_key, i)            # repeat i, only when the phase repeats
    subkeys    = split(call_key, len(phase.keys)) # in the phase's declared key order
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import losses, parallel, sampling, steps
from gan_jax.engine import train_step_fn
from gan_jax.models import (
    SN_COLLECTION,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    SNDense,
)
from gan_jax.models.spectral import power_iteration
from gan_jax.regularizers import gradient_penalty
from gan_jax.steps import EMA, ClassicSpec, Penalty, Recipe, pack

BASE_D_KEYS = {"loss/d_real", "loss/d_fake", "d/real_logits", "d/fake_logits", "loss/d", "grad_norm/Dmain"}
G_KEYS = {"loss/g", "grad_norm/Gmain"}


# ----------------------------------------------------------------------------- models
#
# Compilation dominates the run time on CPU, so the tests share as much as they can: one
# optimizer object per model family (the transformations are static fields of the state, so
# the same modules + the same tx hit jit's cache), cached recipes and initial states (never
# donated: ``run`` copies one), one compiled ``TrainStep`` per recipe, and a handful of specs
# that each combine several tricks (every one of them is checked by hand on its own).


class SNMLPDiscriminator(nn.Module):
    """A tiny spectrally normalised critic; ``num_classes`` concatenates one-hot labels to the
    input, ``aux_classes`` adds an ACGAN head (D then returns ``(logits, class_logits)``)."""

    hidden: int = 16
    aux_classes: int = 0
    num_classes: int = 0
    #: the output layer's bias; off under the relativistic losses, which are invariant to it: its
    #: gradient is rounding noise there, which Adam's first step (g / (|g| + eps)) turns into an
    #: update of either sign, so no two programs would agree on it
    logit_bias: bool = True
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, y=None, *, train: bool = True):
        h = x.reshape((x.shape[0], -1))
        if self.num_classes:
            h = jnp.concatenate([h, jax.nn.one_hot(y, self.num_classes)], axis=-1)
        h = nn.leaky_relu(SNDense(self.hidden)(h, update_stats=train), 0.2)
        logits = SNDense(1, use_bias=self.logit_bias)(h, update_stats=train)[:, 0]
        if self.aux_classes:
            return logits, nn.Dense(self.aux_classes)(h)
        return logits


#: XLA options for the tests' compilations: no LLVM optimisation (a third of the compile time on
#: CPU; the same programs). ``test_make_train_step_jits_and_donates`` checks the default compile.
FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_jit(fn, **kw):
    return jax.jit(fn, compiler_options=FAST, **kw)


TX_MLP = steps.adam(1e-2)
TX_DCGAN = steps.adam(1e-3)
G_MLP = MLPGenerator(output_shape=(2,), hidden=(16,), output_activation="linear")
G_MLP_COND = MLPGenerator(output_shape=(2,), hidden=(16,), output_activation="linear", num_classes=3)
D_MLP = MLPDiscriminator(hidden=(16,))
D_SN = SNMLPDiscriminator()
D_ACGAN = SNMLPDiscriminator(aux_classes=3, num_classes=3, logit_bias=False)
# an MLP GAN on 8x8x1 images: DiffAugment and uint8 inputs at MLP compile cost
G_IMG = MLPGenerator(output_shape=(8, 8, 1), hidden=(16,))
D_IMG = MLPDiscriminator(hidden=(16,))
G_DCGAN = DCGANGenerator(image_shape=(16, 16, 1), width=4)
D_DCGAN = DCGANDiscriminator(width=4)

# The specs the compiled tests share (z_dim 4 for the MLPs, 8 for the DCGAN).
#: minimax D loss with label smoothing, non-saturating G loss, EMA(0.9)
BASE = ClassicSpec(z_dim=4, loss="nonsaturating", label_smoothing=0.2, ema=EMA(0.9))
#: the critic tricks on one step (each checked by hand on its own): a spectral-norm critic with
#: 3 updates per step, PacGAN packing, an eager gradient penalty, WGAN weight clipping,
#: historical averaging, orthogonal regularisation of G and D; an EMA with ramp-up
CRITIC = ClassicSpec(z_dim=4, loss="wasserstein", n_critic=3, pack=2, d_penalties=(Penalty("gp", gradient_penalty, 10.0),),
                     d_weight_clip=0.05, hist_weight=0.1, g_ortho_weight=0.1, d_ortho_weight=0.01, ema=EMA(0.99, rampup=0.5))
#: a conditional ACGAN (labels into G and D, an auxiliary head) with the relativistic average
#: loss and 2 critic updates; EMA starting at step 1
COND = ClassicSpec(z_dim=4, loss="relativistic_avg", num_classes=3, aux_weight=0.5, n_critic=2, ema=EMA(0.9, start=1))
#: DiffAugment and annealed instance noise on 8x8x1 images
#: (one DiffAugment op: each op costs about a second of compilation per view; every policy is
#: traced through a DCGAN step in test_diff_augment_policy_traces_through_the_step)
AUG = ClassicSpec(z_dim=4, augment=("color",), instance_noise=0.5, instance_noise_anneal=2, ema=EMA(0.9))
#: the DCGAN at 16x16x1
DCGAN = ClassicSpec(z_dim=8, ema=EMA(0.9))


@functools.lru_cache(maxsize=None)
def gan(spec: ClassicSpec, g: nn.Module = G_MLP, d: nn.Module = D_MLP, data_shape=(2,), tx=TX_MLP, jit_init=True):
    """(recipe, initial state) of a spec and models; cached: never donate the state (``run`` copies).
    ``jit_init``: one compilation instead of op-by-op initialisation (the same values)."""
    build = lambda k: steps.classic_gan(generator=g, discriminator=d, g_tx=tx, d_tx=tx, spec=spec, data_shape=data_shape, rng=k)
    if jit_init:
        return steps.classic_recipe(spec), fast_jit(lambda k: build(k)[1])(jax.random.PRNGKey(0))
    return build(jax.random.PRNGKey(0))


def base():
    return gan(BASE)


def critic():
    return gan(CRITIC, d=D_SN)


def cond():
    return gan(COND, g=G_MLP_COND, d=D_ACGAN)


def aug():
    return gan(AUG, g=G_IMG, d=D_IMG, data_shape=(8, 8, 1))


def dcgan():
    return gan(DCGAN, g=G_DCGAN, d=D_DCGAN, data_shape=(16, 16, 1), tx=TX_DCGAN, jit_init=True)


@functools.lru_cache(maxsize=None)
def compiled(recipe: Recipe) -> steps.TrainStep:
    """One donating ``TrainStep`` per recipe (its variants compile once per test session): what
    ``make_train_step`` builds, compiled with ``FAST``."""
    return steps.TrainStep(recipe, lambda fn: fast_jit(fn, donate_argnums=0))


@functools.lru_cache(maxsize=None)
def sub_recipe(recipe: Recipe, *names: str) -> Recipe:
    """The recipe with only the phases ``names`` (e.g. Dmain alone), cached so its step compiles once."""
    return Recipe(f"{recipe.name}:{'+'.join(names)}", tuple(p for p in recipe.phases if p.name in names), latent_dim=recipe.latent_dim)


def fresh(state):
    """A copy with its own buffers, safe to donate."""
    return jax.tree.map(jnp.copy, state)


def run(recipe, state, batch, step=None):
    """One compiled, donating train step on a copy of ``state`` (cached states stay intact)."""
    return compiled(recipe)(fresh(state), batch, step=int(state.step) if step is None else step)


def real_batch(shape, seed=123):
    return jnp.tanh(jax.random.normal(jax.random.PRNGKey(seed), shape) + 0.5)


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6, what=""):
    _, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb, f"{what}: tree structures differ:\n{ta}\n{tb}"
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=f"{what}{jax.tree_util.keystr(path)}")


def trees_differ(a, b) -> bool:
    return any(not np.allclose(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# ----------------------------------------------------------------------------- hand computations


def phase_keys(recipe: Recipe, state, name: str, repeat: int = 0) -> dict:
    """The named subkeys of one call of phase ``name`` (the engine's documented key schedule)."""
    names = [p.name for p in recipe.phases]
    index = names.index(name)
    phase = recipe.phases[index]
    key = jax.random.split(jax.random.fold_in(state.rng, state.step), len(names))[index]
    if phase.repeats > 1:
        key = jax.random.fold_in(key, repeat)
    return dict(zip(phase.keys, jax.random.split(key, len(phase.keys))))


def hand_float(x):
    return x.astype(jnp.float32) / 127.5 - 1.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)


def hand_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def hand_ortho(params):
    """sum over kernels W (ndim >= 2, as (fan_in, out)) of ||W^T W with a zero diagonal||^2."""
    total = 0.0
    for w in jax.tree.leaves(params):
        if w.ndim >= 2:
            w = w.reshape((-1, w.shape[-1]))
            gram = w.T @ w
            total = total + jnp.sum((gram - jnp.diag(jnp.diag(gram))) ** 2)
    return total


def hand_beta(ema: EMA, t):
    """min(decay, 0.5 ** (1 / (rampup t))) with ramp-up (0 at t = 0), 0 before ``start``; ``t`` may be traced."""
    t = jnp.asarray(t, jnp.float32)
    beta = jnp.float32(ema.decay)
    if ema.rampup:
        beta = jnp.where(t > 0, jnp.minimum(beta, 0.5 ** (1.0 / (ema.rampup * jnp.maximum(t, 1.0)))), 0.0)
    return jnp.where(t < ema.start, 0.0, beta)


def d_view(spec: ClassicSpec, keys: dict, x, which: int, step: int):
    """What D sees of a batch: DiffAugment with the first half of split(fold_in(augment, which)),
    then instance noise (one key per example) with the second, std annealed linearly."""
    if not (spec.augment or spec.instance_noise):
        return x
    from gan_jax.augment import diff_augment

    k_aug, k_noise = jax.random.split(jax.random.fold_in(keys["augment"], which))
    if spec.augment:
        x = diff_augment(x, k_aug, spec.augment)
    if spec.instance_noise:
        std = spec.instance_noise
        if spec.instance_noise_anneal:
            std = spec.instance_noise * jnp.maximum(0.0, 1.0 - step / spec.instance_noise_anneal)
        x = x + std * jnp.stack([jax.random.normal(k, x.shape[1:]) for k in jax.random.split(k_noise, x.shape[0])])
    return x


def d_call(net, params, cols, x, y, update_sn=False):
    """D in training mode; with ``update_sn`` one power iteration (the new collections are returned)."""
    variables = {"params": params, **cols}
    if update_sn and SN_COLLECTION in cols:
        out, new = net.module.apply(variables, x, y, train=True, mutable=[SN_COLLECTION])
        return out, {**cols, **new}
    return net.module.apply(variables, x, y, train=True), cols


def split_out(spec, out):
    return out if spec.aux_weight else (out, None)


def ce(class_logits, labels):
    return jnp.mean(jax.nn.logsumexp(class_logits, -1) - jnp.take_along_axis(class_logits, labels[:, None], -1)[:, 0])


def hand_dmain(recipe, spec, state, x, y=None, repeat=0, step=None):
    """One Dmain update by hand (MLP generators without BatchNorm): (state, metrics)."""
    keys = phase_keys(recipe, state, "Dmain", repeat)
    g, d = state.nets["G"], state.nets["D"]
    step = state.step if step is None else step
    real = hand_float(x)
    z = jax.random.normal(keys["latent"], (real.shape[0], spec.z_dim))
    fake = g.module.apply({"params": g.params}, z, y, train=True)
    real, fake = d_view(spec, keys, real, 0, step), d_view(spec, keys, fake, 1, step)
    real, fake = pack(real, spec.pack), pack(fake, spec.pack)
    loss = losses.get_loss(spec.loss)
    kw = {"label_smoothing": spec.label_smoothing} if loss.smoothable else {}

    def loss_fn(p):
        r_out, cols = d_call(d, p, d.collections, real, y, update_sn=True)
        f_out, _ = d_call(d, p, cols, fake, y)
        (rl, rc), (fl, fc) = split_out(spec, r_out), split_out(spec, f_out)
        l_r, l_f = loss.d(real_logits=rl, fake_logits=fl, **kw)
        m = {"loss/d_real": l_r, "loss/d_fake": l_f, "d/real_logits": jnp.mean(rl), "d/fake_logits": jnp.mean(fl)}
        total = l_r + l_f
        if spec.aux_weight:
            m["loss/d_aux"] = ce(rc, y) + ce(fc, y)
            m["d/aux_acc_real"] = jnp.mean(jnp.argmax(rc, -1) == y)
            total = total + spec.aux_weight * m["loss/d_aux"]
        for i, pen in enumerate(p_ for p_ in spec.d_penalties if p_.every == 1):
            d_fn = lambda v: split_out(spec, d_call(d, p, cols, v, y)[0])[0]
            m[f"penalty/{pen.name}"] = v = pen.weight * pen.fn(d_fn=d_fn, real=real, fake=fake, rng=jax.random.fold_in(keys["penalty"], i))
            total = total + v
        if spec.d_ortho_weight:
            m["penalty/d_ortho"] = v = spec.d_ortho_weight * hand_ortho(p)
            total = total + v
        if spec.hist_weight:
            avg = state.extra["hist"]["D"]
            m["penalty/d_hist"] = v = spec.hist_weight * sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(avg)))
            total = total + v
        m["loss/d"] = total
        return total, (m, cols)

    grads, (m, cols) = jax.grad(loss_fn, has_aux=True)(d.params)
    m["grad_norm/Dmain"] = hand_norm(grads)
    updates, opt_state = d.tx.update(grads, d.opt_state, d.params)
    params = optax.apply_updates(d.params, updates)
    if spec.d_weight_clip:
        params = jax.tree.map(lambda w: jnp.clip(w, -spec.d_weight_clip, spec.d_weight_clip), params)
    state = state.replace(nets={**state.nets, "D": d.replace(params=params, opt_state=opt_state, collections=cols)})
    if spec.hist_weight:  # the mean of the initial parameters and every update so far
        count = step * spec.n_critic + repeat + 2
        avg = jax.tree.map(lambda a, w: a + (w - a) / count, state.extra["hist"]["D"], params)
        state = state.replace(extra={"hist": {**state.extra["hist"], "D": avg}})
    return state, m


def hand_gmain(recipe, spec, state, x, y=None, step=None):
    """The Gmain update by hand (``x``: the step's last real batch): (state, metrics)."""
    keys = phase_keys(recipe, state, "Gmain")
    g, d = state.nets["G"], state.nets["D"]
    step = state.step if step is None else step
    z = jax.random.normal(keys["latent"], (x.shape[0], spec.z_dim))
    loss = losses.get_loss(spec.loss)
    d_fn = lambda v: split_out(spec, d.module.apply({"params": d.params, **d.collections}, pack(v, spec.pack), y, train=True))

    def loss_fn(p):
        fl, fc = d_fn(d_view(spec, keys, g.module.apply({"params": p}, z, y, train=True), 1, step))
        if loss.relativistic:
            rl = jax.lax.stop_gradient(d_fn(d_view(spec, keys, hand_float(x), 0, step))[0])
            l_g = loss.g(fake_logits=fl, real_logits=rl)
        else:
            l_g = loss.g(fake_logits=fl)
        m = {}
        total = l_g
        if spec.aux_weight:
            m["loss/g_aux"] = ce(fc, y)
            total = total + spec.aux_weight * m["loss/g_aux"]
        if spec.g_ortho_weight:
            m["penalty/g_ortho"] = v = spec.g_ortho_weight * hand_ortho(p)
            total = total + v
        if spec.hist_weight:
            avg = state.extra["hist"]["G"]
            m["penalty/g_hist"] = v = spec.hist_weight * sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(avg)))
            total = total + v
        if m:
            m["loss/g_adv"] = l_g
        m["loss/g"] = total
        return total, m

    grads, m = jax.grad(loss_fn, has_aux=True)(g.params)
    m["grad_norm/Gmain"] = hand_norm(grads)
    updates, opt_state = g.tx.update(grads, g.opt_state, g.params)
    params = optax.apply_updates(g.params, updates)
    state = state.replace(nets={**state.nets, "G": g.replace(params=params, opt_state=opt_state)})
    if spec.hist_weight:
        avg = jax.tree.map(lambda a, w: a + (w - a) / (step + 2), state.extra["hist"]["G"], params)
        state = state.replace(extra={"hist": {**state.extra["hist"], "G": avg}})
    return state, m


def hand_step(recipe, spec, state, batch):
    """The whole classic step by hand: n_critic Dmain updates (batch i each), Gmain on the last
    batch, G's EMA with the hand-computed beta, step + 1. Returns (state, metrics, info) with
    info["d_params"] (D's parameters before each D update) and info["d_metrics"] (each update's
    metrics). Jitted: one compilation per spec is cheaper than op-by-op dispatch."""
    return _hand_step(recipe, spec, state, batch)


@functools.partial(fast_jit, static_argnums=(0, 1))
def _hand_step(recipe, spec, state, batch):
    t = state.step
    k = recipe.batches_per_step
    x, y = batch["x"], batch.get("y")
    pick = (lambda a, i: a[i]) if k > 1 else (lambda a, i: a)
    h, d_ms, d_params = state, [], []
    for i in range(spec.n_critic):
        d_params.append(h.nets["D"].params)
        h, m = hand_dmain(recipe, spec, h, pick(x, i), None if y is None else pick(y, i), repeat=i, step=t)
        d_ms.append(m)
    h, g_m = hand_gmain(recipe, spec, h, pick(x, k - 1), None if y is None else pick(y, k - 1), step=t)
    metrics = {key: sum(m[key] for m in d_ms) / spec.n_critic for key in d_ms[0]}
    metrics.update(g_m)
    g = h.nets["G"]
    if g.ema is not None:
        beta = hand_beta(g.ema, t)
        g = g.replace(ema_params=jax.tree.map(lambda e, p: beta * e + (1.0 - beta) * p, g.ema_params, g.params))
    h = h.replace(nets={**h.nets, "G": g}, step=h.step + 1)
    return h, metrics, {"d_params": d_params, "d_metrics": d_ms}


# ----------------------------------------------------------------------------- cached runs
#
# Several tests look at the same step; each runs once per session.


def critic_batch():
    return {"x": real_batch((3, 8, 2))}


def critic_batch0():
    return {"x": real_batch((3, 8, 2), seed=7)}


@functools.lru_cache(maxsize=None)
def critic_runs():
    """CRITIC: two engine steps from the initial state (batches ``critic_batch0``, ``critic_batch``):
    (state after step 0, its metrics, state after step 1, its metrics)."""
    recipe, s0 = critic()
    s1, m0 = run(recipe, s0, critic_batch0())
    s2, m1 = run(recipe, s1, critic_batch())
    return s1, m0, s2, m1


# ----------------------------------------------------------------------------- (a) the D and G phases


@pytest.mark.parametrize("make", ["mlp", "dcgan"])
def test_d_phase_lowers_d_loss_on_fixed_batch(make):
    if make == "mlp":
        recipe, state = base()
        real = real_batch((8, 2)) * 2.0 + 1.0
    else:
        recipe, state = dcgan()
        real = dcgan_batch()["x"]
    d_only = sub_recipe(recipe, "Dmain")
    g0, d0 = state.nets["G"], state.nets["D"]
    zero = jnp.zeros((), jnp.int32)
    d_losses = []
    for _ in range(6):
        # back to step 0 every time: the same step key, so the same latents and fake batch
        state, m = run(d_only, state.replace(step=zero), {"x": real})
        d_losses.append(float(m["loss/d"]))  # measured at the incoming parameters
    assert all(np.isfinite(d_losses))
    assert d_losses[-1] < d_losses[0] and d_losses[1] < d_losses[0], d_losses
    assert sum(b < a for a, b in zip(d_losses, d_losses[1:])) >= 4, d_losses
    assert trees_differ(state.nets["D"].params, d0.params)
    # the D phase never touches G's parameters, optimizer or EMA
    g = state.nets["G"]
    assert_trees_close(g.params, g0.params, rtol=0, atol=0, what="G params")
    assert_trees_close(g.opt_state, g0.opt_state, rtol=0, atol=0, what="G opt_state")
    assert_trees_close(g.ema_params, g0.params, rtol=0, atol=0, what="G ema")  # G is not updated: neither is its EMA
    assert_trees_close(g.ema_collections, g0.ema_collections, rtol=0, atol=0, what="G ema collections")
    if make == "dcgan":  # G runs in training mode in Dmain: its BatchNorm statistics do advance
        assert trees_differ(g.collections, g0.collections)


def test_d_metrics_match_hand_computation():
    """Dmain draws z from the "latent" subkey of split(split(fold_in(rng, 0), 2)[0], 2); its
    losses are the loss functions on D's logits; the gradient norm is that of the D loss."""
    m, hand = base_step0()
    assert set(m) == BASE_D_KEYS | G_KEYS
    for key in BASE_D_KEYS:
        np.testing.assert_allclose(m[key], hand[key], rtol=1e-5, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(m["loss/d"], m["loss/d_real"] + m["loss/d_fake"], rtol=1e-6)


def test_g_metrics_match_hand_computation():
    """Gmain (phase 1 of 2, one key "latent") sees the D that Dmain just updated."""
    m, hand = base_step0()
    for key in G_KEYS:
        np.testing.assert_allclose(m[key], hand[key], rtol=1e-5, err_msg=key)


@functools.lru_cache(maxsize=None)
def base_step0():
    """BASE's step 0 on ``real_batch((8, 2))`` and the same step by hand: (metrics, hand metrics)."""
    recipe, state = base()
    batch = {"x": real_batch((8, 2))}
    return run(recipe, state, batch)[1], hand_step(recipe, BASE, state, batch)[1]


def test_g_phase_lowers_g_loss_and_leaves_d_alone():
    recipe, state = base()
    g_only = sub_recipe(recipe, "Gmain")
    d0 = state.nets["D"]
    zero = jnp.zeros((), jnp.int32)
    vals = []
    for _ in range(5):
        state, m = run(g_only, state.replace(step=zero), {"x": real_batch((8, 2))})
        vals.append(float(m["loss/g"]))
    assert vals[-1] < vals[0] and vals[1] < vals[0], vals
    d = state.nets["D"]
    assert_trees_close((d.params, d.opt_state, d.collections), (d0.params, d0.opt_state, d0.collections), rtol=0, atol=0, what="D")


# ----------------------------------------------------------------------------- (b) jit + donation, metric names, determinism


def test_train_step_jit_donate_increments_step_and_metric_names():
    recipe, init = dcgan()
    step = compiled(recipe)
    state = fresh(init)
    rng = np.asarray(init.rng)
    batch = dcgan_batch()
    for i in range(3):
        old = state
        state, metrics = step(state, batch, step=i)
        assert int(state.step) == i + 1
        assert set(metrics) == BASE_D_KEYS | G_KEYS
        for k, v in metrics.items():
            assert jnp.shape(v) == () and np.isfinite(float(v)), k
        # donated: the incoming state's buffers were handed to XLA (CPU supports donation)
        assert any(leaf.is_deleted() for leaf in jax.tree.leaves(old)), "state was not donated"
    # the step never changes the run's key; the static fields survive
    np.testing.assert_array_equal(np.asarray(state.rng), rng)
    assert state.nets["G"].module is G_DCGAN and state.nets["D"].module is D_DCGAN and state.nets["D"].tx is TX_DCGAN
    # BatchNorm running statistics moved away from their initial values, in G and in D
    for name in ("G", "D"):
        a, b = state.nets[name].collections, init.nets[name].collections
        assert jax.tree.leaves(a) and trees_differ(a, b), name


def test_train_step_is_deterministic_and_equals_the_phases_by_hand():
    recipe, state = base()
    batch = {"x": real_batch((8, 2))}
    s1, m1 = run(recipe, state, batch)
    s1b, m1b = run(recipe, state, batch)
    assert_trees_close((s1, m1), (s1b, m1b), rtol=0, atol=0, what="rerun ")
    # by hand at step 0 and at step 1 (the step key is fold_in(rng, step))
    for s in (state, s1):
        new, metrics = run(recipe, s, batch)
        h, h_metrics, _ = hand_step(recipe, BASE, s, batch)
        assert_trees_close(new, h, what=f"step {int(s.step)} vs by hand: ")
        assert_trees_close(metrics, h_metrics, what="metrics ")


# ----------------------------------------------------------------------------- (c) n_critic


def test_n_critic_unrolled_equals_dmain_by_hand():
    """CRITIC (3 critic updates) at steps 0 and 1: repeat i updates D on batch i with key
    fold_in(phase_key, i); the metrics are the repeats' means."""
    recipe, s0 = critic()
    s1, m0, s2, m1 = critic_runs()
    for before, batch, after, m in ((s0, critic_batch0(), s1, m0), (s1, critic_batch(), s2, m1)):
        h, hm, _ = hand_step(recipe, CRITIC, before, batch)
        assert int(after.step) == int(before.step) + 1
        assert_trees_close(after, h, rtol=1e-4, atol=1e-6, what=f"step {int(before.step)} vs by hand: ")
        assert_trees_close(m, hm, rtol=1e-4, atol=1e-6, what="metrics ")
    assert set(m1) == BASE_D_KEYS | G_KEYS | {"penalty/gp", "penalty/d_hist", "penalty/d_ortho", "penalty/g_hist", "penalty/g_ortho", "loss/g_adv"}


def test_n_critic_scan_equals_unrolled_loop(monkeypatch):
    """More repeats than CRITIC_UNROLL_MAX go through lax.scan: the same numbers (spectral norm included)."""
    import gan_jax.engine

    recipe, _ = critic()
    s1, _, s2, m = critic_runs()
    monkeypatch.setattr(gan_jax.engine, "CRITIC_UNROLL_MAX", 1)
    step_fn = train_step_fn(recipe)
    jaxpr = jax.make_jaxpr(step_fn)(s1, critic_batch())
    assert "scan" in str(jaxpr)  # the scan path really is taken
    scanned, m_scan = fast_jit(step_fn)(fresh(s1), critic_batch())
    # (the historical average's after hook then sees a traced call index)
    assert_trees_close(scanned, s2, rtol=1e-4, atol=1e-6, what="scan vs unrolled: ")
    assert_trees_close(m_scan, m, rtol=1e-4, atol=1e-6, what="metrics ")
    u0 = critic()[1].nets["D"].collections[SN_COLLECTION]["SNDense_0"]["u"]
    assert not np.allclose(np.asarray(scanned.nets["D"].collections[SN_COLLECTION]["SNDense_0"]["u"]), np.asarray(u0))


def test_batches_with_the_wrong_leading_axis_raise():
    recipe, state = critic()
    assert recipe.batches_per_step == 3
    step = train_step_fn(recipe)
    spec = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
    for batch in ({"x": spec(8, 2)}, {"x": spec(2, 8, 2)}, {"x": spec(3, 8, 2), "y": jax.ShapeDtypeStruct((8,), jnp.int32)}):
        with pytest.raises(ValueError, match="leading axis of size 3"):
            jax.eval_shape(step, state, batch)


# ----------------------------------------------------------------------------- (d) uint8 input


def test_to_float():
    x = jnp.array([0, 1, 127, 128, 255], jnp.uint8)
    np.testing.assert_allclose(steps.to_float(x), np.array([0, 1, 127, 128, 255]) / 127.5 - 1.0, rtol=1e-6, atol=1e-7)
    assert steps.to_float(x).dtype == jnp.float32
    assert float(steps.to_float(x)[0]) == -1.0 and float(steps.to_float(x)[-1]) == 1.0
    f = jnp.array([0.5, -0.25], jnp.bfloat16)
    assert steps.to_float(f).dtype == jnp.float32
    np.testing.assert_array_equal(steps.to_float(f), np.array([0.5, -0.25], np.float32))


def test_uint8_input_equals_float_input():
    # to_float(batch["x"]) is all the step does with the data's dtype: 2-pixel uint8 "images" do
    recipe, state = base()
    x8 = jax.random.randint(jax.random.PRNGKey(1), (8, 2), 0, 256).astype(jnp.uint8)
    xf = jnp.asarray(np.asarray(x8).astype(np.float32) / 127.5 - 1.0)
    s8, m8 = run(recipe, state, {"x": x8})
    sf, mf = run(recipe, state, {"x": xf})
    assert_trees_close(s8, sf, rtol=1e-5, atol=1e-6, what="uint8 vs float: ")
    assert_trees_close(m8, mf, rtol=1e-5, atol=1e-6, what="metrics ")
    assert float(jnp.min(xf)) >= -1.0 and float(jnp.max(xf)) <= 1.0 and float(jnp.max(xf)) > 0.9


# ----------------------------------------------------------------------------- (e) EMA


def test_ema_beta_values():
    for t in (0, 1, 7, 1000):
        np.testing.assert_allclose(float(EMA(0.9).beta(t)), 0.9, rtol=1e-7)
    # StyleGAN2's ramp-up: beta = min(decay, 0.5 ** (1 / (rampup t))), 0 at t = 0
    ema = EMA(0.999, rampup=0.05)
    for t, expected in [(0, 0.0), (1, 0.5**20), (10, 0.5**2), (100, 0.5**0.2), (1000, 0.5**0.02), (20000, 0.999)]:
        np.testing.assert_allclose(float(ema.beta(t)), min(0.999, expected), rtol=1e-6, atol=1e-12, err_msg=f"t={t}")
    # BigGAN's ema_start: the EMA copies the parameters before step `start`
    ema = EMA(0.9, start=3)
    assert [float(ema.beta(t)) for t in range(5)] == [0.0, 0.0, 0.0, pytest.approx(0.9), pytest.approx(0.9)]
    ema = EMA(0.99, rampup=0.5, start=2)
    np.testing.assert_allclose([float(ema.beta(t)) for t in (1, 2, 3)], [0.0, 0.5**1.0, 0.5 ** (1 / 1.5)], rtol=1e-6)
    for t in (0, 1, 3, 50):  # the formula hand_step uses agrees
        for e in (EMA(0.9), EMA(0.999, rampup=0.05), EMA(0.9, start=3), EMA(0.99, rampup=0.5, start=2)):
            np.testing.assert_allclose(float(e.beta(t)), hand_beta(e, t), rtol=1e-6, atol=1e-30)
    for bad in (dict(decay=1.0), dict(decay=-0.1), dict(decay=0.9, rampup=-1.0), dict(decay=0.9, start=-1)):
        with pytest.raises(ValueError, match="EMA"):
            EMA(**bad)


def test_ema_update_in_step():
    decay = 0.9
    recipe, state = base()
    batch = {"x": real_batch((8, 2))}
    g = state.nets["G"]
    # make the EMA differ from the online parameters before the step, so both terms matter
    state = state.replace(nets={**state.nets, "G": g.replace(ema_params=jax.tree.map(lambda p: p + 0.5, g.params))})
    new, _ = run(recipe, state, batch)
    expected = jax.tree.map(lambda old, p: decay * old + (1.0 - decay) * p, state.nets["G"].ema_params, new.nets["G"].params)
    assert_trees_close(new.nets["G"].ema_params, expected, rtol=1e-6, atol=1e-6, what="ema")
    new2, _ = run(recipe, new, batch)
    expected2 = jax.tree.map(lambda old, p: decay * old + (1.0 - decay) * p, new.nets["G"].ema_params, new2.nets["G"].params)
    assert_trees_close(new2.nets["G"].ema_params, expected2, rtol=1e-6, atol=1e-6, what="ema step 2")


def test_ema_rampup_and_start_in_step():
    # CRITIC: EMA(0.99, rampup=0.5): beta(0) = 0 (a copy), beta(1) = 0.5 ** 2
    s1, _, s2, _ = critic_runs()
    g1, g2 = s1.nets["G"], s2.nets["G"]
    assert_trees_close(g1.ema_params, g1.params, rtol=0, atol=0, what="beta(0) = 0: ")
    expected = jax.tree.map(lambda e, p: 0.25 * e + 0.75 * p, g1.ema_params, g2.params)
    assert_trees_close(g2.ema_params, expected, rtol=1e-6, atol=1e-7, what="beta(1) = 0.25: ")
    # COND: EMA(0.9, start=1): a copy at step 0, then decay 0.9
    c1, _, c2, _ = cond_runs()
    assert_trees_close(c1.nets["G"].ema_params, c1.nets["G"].params, rtol=0, atol=0, what="before start: ")
    expected = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, c1.nets["G"].ema_params, c2.nets["G"].params)
    assert_trees_close(c2.nets["G"].ema_params, expected, rtol=1e-6, atol=1e-7, what="after start: ")


def dcgan_batch():
    return {"x": real_batch((4, 16, 16, 1))}


@functools.lru_cache(maxsize=None)
def dcgan_run():
    recipe, state = dcgan()
    return run(recipe, state, dcgan_batch())


#: G_DCGAN in inference mode, compiled once for every reference computation below
g_dcgan_infer = fast_jit(lambda variables, z: G_DCGAN.apply(variables, z, train=False))
generate = fast_jit(sampling.generate, static_argnames=("recipe", "use_ema"))


def test_generate_uses_ema_params_and_ema_collections_in_inference_mode():
    recipe, _ = dcgan()
    state, _ = dcgan_run()
    g = state.nets["G"]
    # make the EMA copy's parameters and statistics clearly its own
    g = g.replace(ema_params=jax.tree.map(lambda p: p * 0.9, g.params),
                  ema_collections=jax.tree.map(lambda c: c + 0.3, g.collections))
    state = state.replace(nets={**state.nets, "G": g})
    z = sampling.fixed_latents(recipe, 3, seed=1)
    out = generate(recipe, state, z)
    np.testing.assert_allclose(out, g_dcgan_infer({"params": g.ema_params, **g.ema_collections}, z), rtol=1e-5, atol=1e-6)
    online = generate(recipe, state, z, use_ema=False)
    np.testing.assert_allclose(online, g_dcgan_infer({"params": g.params, **g.collections}, z), rtol=1e-5, atol=1e-6)
    assert out.shape == (3, 16, 16, 1)
    assert not np.allclose(out, online)
    # the EMA parameters with the raw network's statistics are something else again
    assert not np.allclose(out, g_dcgan_infer({"params": g.ema_params, **g.collections}, z))


def test_generate_without_ema_uses_the_raw_generator():
    recipe, state = base()
    g = state.nets["G"]
    # a generator built without EMA (ClassicSpec(ema=None)) has none of its state
    spec = ClassicSpec(z_dim=4, ema=None)
    bare = jax.eval_shape(lambda k: steps.classic_gan(generator=G_MLP, discriminator=D_MLP, g_tx=TX_MLP, d_tx=TX_MLP, spec=spec, data_shape=(2,), rng=k)[1],
                          jax.random.PRNGKey(0)).nets["G"]
    assert bare.ema is None and bare.ema_params == {} and bare.ema_collections == {}
    state = state.replace(nets={**state.nets, "G": g.replace(ema=None, ema_params={}, ema_collections={},
                                                                params=jax.tree.map(lambda p: p * 1.5, g.params))})
    z = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    by_hand = fast_jit(lambda params, z: G_MLP.apply({"params": jax.tree.map(lambda p: p * 1.5, params)}, z, train=False))
    np.testing.assert_allclose(generate(recipe, state, z), by_hand(g.params, z), rtol=1e-6)
    with pytest.raises(ValueError, match="no EMA"):
        steps.apply_network(state.nets["G"], z, ema=True)


# ----------------------------------------------------------------------------- (f) PacGAN packing


def test_pack_values_images():
    x = jnp.arange(6 * 2 * 2 * 3, dtype=jnp.float32).reshape(6, 2, 2, 3)
    p = pack(x, 2)
    assert p.shape == (3, 2, 2, 6)
    xn = np.asarray(x)
    for b in range(3):
        for j in range(2):
            np.testing.assert_array_equal(np.asarray(p[b, :, :, 3 * j : 3 * (j + 1)]), xn[2 * b + j])
    assert pack(x, 3).shape == (2, 2, 2, 9)
    assert pack(x, 1) is x


def test_pack_values_vectors():
    x = jnp.arange(12, dtype=jnp.float32).reshape(6, 2)
    np.testing.assert_array_equal(np.asarray(pack(x, 2)), np.asarray(x).reshape(3, 4))
    np.testing.assert_array_equal(np.asarray(pack(x, 3)), np.asarray(x).reshape(2, 6))


def test_pack_indivisible_raises():
    with pytest.raises(ValueError, match="pack"):
        pack(jnp.zeros((5, 2)), 2)


def test_packed_discriminator_dcgan():
    # abstract evaluation of classic_gan and of the whole train step: shapes only, no compilation
    spec = ClassicSpec(z_dim=8, pack=2)
    state = jax.eval_shape(
        lambda k: steps.classic_gan(generator=G_DCGAN, discriminator=D_DCGAN, g_tx=TX_DCGAN, d_tx=TX_DCGAN, spec=spec, data_shape=(16, 16, 1), rng=k)[1],
        jax.random.PRNGKey(0),
    )
    # D was initialised on packed inputs: 2 * 1 input channels
    d = state.nets["D"]
    assert d.params["Conv_0"]["kernel"].shape == (4, 4, 2, 4)
    x = jax.ShapeDtypeStruct((6, 16, 16, 1), jnp.float32)
    packed = jax.eval_shape(lambda x: pack(x, 2), x)
    assert packed.shape == (3, 16, 16, 2)
    logits = jax.eval_shape(lambda p, s, x: d.module.apply({"params": p, **s}, x, train=False), d.params, d.collections, packed)
    assert logits.shape == (3,)
    new_state, metrics = jax.eval_shape(train_step_fn(steps.classic_recipe(spec)), state, {"x": x})
    assert new_state.nets["D"].params["Conv_0"]["kernel"].shape == (4, 4, 2, 4)
    assert set(metrics) == BASE_D_KEYS | G_KEYS


def test_packed_mlp_discriminator_with_penalty():
    recipe, state = critic()
    assert CRITIC.pack == 2 and state.nets["D"].params["SNDense_0"]["kernel"].shape == (4, 16)
    _, m, _, _ = critic_runs()
    # the gradient penalty on packed interpolates, by hand (hand_step packs before D)
    _, hm, info = hand_step(recipe, CRITIC, state, critic_batch0())
    np.testing.assert_allclose(float(m["penalty/gp"]), float(hm["penalty/gp"]), rtol=1e-4)
    assert all(float(dm["penalty/gp"]) > 0 for dm in info["d_metrics"])
    assert all(np.isfinite(float(v)) for v in m.values())
    with pytest.raises(ValueError, match="pack"):
        jax.eval_shape(train_step_fn(recipe), state, {"x": jax.ShapeDtypeStruct((3, 7, 2), jnp.float32)})


# ----------------------------------------------------------------------------- (g) spec validation, conditioning


def cond_batch(seed=123):
    # different data and labels in the two critic batches, so using the wrong batch shows
    x = real_batch((2, 6, 2), seed) + jnp.array([0.0, 1.0])[:, None, None]
    return {"x": x, "y": jnp.array([[0, 1, 2, 0, 1, 2], [2, 2, 1, 1, 0, 0]], jnp.int32)}


@functools.lru_cache(maxsize=None)
def cond_runs():
    """COND: two engine steps from the initial state: (state, metrics) after step 0 and step 1."""
    recipe, s0 = cond()
    s1, m0 = run(recipe, s0, cond_batch())
    s2, m1 = run(recipe, s1, cond_batch(7))
    return s1, m0, s2, m1


def test_conditional_model_without_num_classes_raises():
    # a conditional model in an unconditional recipe gets no labels
    with pytest.raises(ValueError, match="labels"):
        jax.eval_shape(lambda k: steps.classic_gan(generator=G_MLP_COND, discriminator=D_MLP, g_tx=TX_MLP, d_tx=TX_MLP,
                                                   spec=ClassicSpec(z_dim=4), data_shape=(2,), rng=k)[1], jax.random.PRNGKey(0))
    # ACGAN needs a conditional recipe
    with pytest.raises(ValueError, match="num_classes"):
        ClassicSpec(z_dim=4, aux_weight=0.5)


def test_acgan_spec_and_discriminator_must_agree():
    recipe, state = cond()
    batch = {"x": real_batch((2, 6, 2)), "y": jnp.zeros((2, 6), jnp.int32)}
    # a D with a class head in a recipe without aux_weight
    no_aux = ClassicSpec(z_dim=4, num_classes=3, n_critic=2)
    with pytest.raises(ValueError, match="aux_weight"):
        jax.eval_shape(train_step_fn(steps.classic_recipe(no_aux)), state, batch)
    # aux_weight with a D that has no class head
    plain = jax.eval_shape(lambda k: steps.classic_gan(generator=G_MLP_COND, discriminator=SNMLPDiscriminator(num_classes=3), g_tx=TX_MLP,
                                                       d_tx=TX_MLP, spec=COND, data_shape=(2,), rng=k)[1], jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="ACGAN"):
        jax.eval_shape(train_step_fn(recipe), plain, batch)


def test_conditional_state_trains():
    recipe, state = cond()
    new, m, _, _ = cond_runs()
    assert int(new.step) == 1 and all(np.isfinite(float(v)) for v in m.values())
    h, hm, _ = hand_step(recipe, COND, state, cond_batch())
    assert_trees_close(new, h, what="conditional step vs by hand: ")
    assert_trees_close(m, hm, what="metrics ")


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(loss="wgan"), "unknown GAN loss"),
        (dict(n_critic=0), "n_critic"),
        (dict(pack=0), "pack"),
        (dict(loss="hinge", label_smoothing=0.1), "label_smoothing"),
        (dict(num_classes=3, pack=2), "pack"),
        (dict(aux_weight=1.0), "num_classes"),
        (dict(hist_weight=-0.1), "hist_weight"),
        (dict(d_weight_clip=-1.0), "d_weight_clip"),
        (dict(instance_noise=-0.5), "instance_noise"),
        (dict(augment=["color"]), "tuples"),
        (dict(d_penalties=[Penalty("gp", gradient_penalty, 1.0)]), "tuples"),
        (dict(d_penalties=(Penalty("gp", gradient_penalty, 1.0), Penalty("gp", gradient_penalty, 2.0, every=4))), "distinct"),
    ],
)
def test_spec_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        ClassicSpec(z_dim=4, **kw)


def test_invalid_label_smoothing_raises():
    # the spec refuses it; the loss function itself does too (for direct callers)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        ClassicSpec(z_dim=4, loss="minimax", label_smoothing=1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.minimax_d(real_logits=jnp.zeros(2), fake_logits=jnp.zeros(2), label_smoothing=1.0)


# ----------------------------------------------------------------------------- (h) model shapes


@pytest.mark.parametrize("shape", [(16, 16, 1), (28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_dcgan_shapes(shape):
    # abstract evaluation: the real shapes, no compilation
    g = DCGANGenerator(image_shape=shape, width=4)
    z = jax.ShapeDtypeStruct((3, 5), jnp.float32)
    key = jax.random.PRNGKey(0)
    g_vars = jax.eval_shape(lambda k, z: g.init(k, z, train=False), key, z)
    assert set(g_vars) == {"params", "batch_stats"}
    x = jax.eval_shape(lambda v, z: g.apply(v, z, train=True, mutable=["batch_stats"])[0], g_vars, z)
    assert x.shape == (3, *shape) and x.dtype == jnp.float32
    assert jax.eval_shape(lambda v, z: g.apply(v, z, train=False), g_vars, z).shape == (3, *shape)
    for bn in (True, False):
        d = DCGANDiscriminator(width=4, batch_norm=bn)
        d_vars = jax.eval_shape(lambda k, x: d.init(k, x, train=False), key, x)
        assert ("batch_stats" in d_vars) == bn
        logits = jax.eval_shape(lambda v, x: d.apply(v, x, train=True, mutable=list(set(v) - {"params"}))[0], d_vars, x)
        assert logits.shape == (3,)
        assert jax.eval_shape(lambda v, x: d.apply(v, x, train=False), d_vars, x).shape == (3,)


def test_dcgan_values_16():
    """One concrete forward pass at 16x16x1 (the cached test state): tanh range, finite logits."""
    recipe, state = dcgan()
    x = np.asarray(generate(recipe, state, sampling.fixed_latents(recipe, 3), use_ema=False))
    assert x.shape == (3, 16, 16, 1) and float(np.max(np.abs(x))) <= 1.0 and float(np.std(x)) > 0
    logits = fast_jit(steps.apply_network)(state.nets["D"], jnp.asarray(x))
    assert logits.shape == (3,) and np.all(np.isfinite(np.asarray(logits)))


@pytest.mark.parametrize("size", [8, 24, 48, 128])
def test_dcgan_unsupported_size_raises(size):
    key = jax.random.PRNGKey(0)
    g = DCGANGenerator(image_shape=(size, size, 1), width=4)
    with pytest.raises(ValueError, match="supports image sizes"):
        jax.eval_shape(lambda k: g.init(k, jnp.zeros((2, 4)), train=False), key)
    d = DCGANDiscriminator(width=4)
    with pytest.raises(ValueError, match="supports image sizes"):
        jax.eval_shape(lambda k: d.init(k, jnp.zeros((2, size, size, 1)), train=False), key)


def test_dcgan_non_square_raises():
    g = DCGANGenerator(image_shape=(16, 32, 1), width=4)
    with pytest.raises(ValueError, match="square"):
        jax.eval_shape(lambda k: g.init(k, jnp.zeros((2, 4)), train=False), jax.random.PRNGKey(0))


def test_mlp_shapes():
    g = MLPGenerator(output_shape=(28, 28, 1), hidden=(8,))
    d = MLPDiscriminator(hidden=(8,))
    z = jnp.ones((5, 3))
    key = jax.random.PRNGKey(0)
    x = jax.eval_shape(lambda k: g.apply(g.init(k, z), z), key)
    assert x.shape == (5, 28, 28, 1)
    assert jax.eval_shape(lambda k: d.apply(d.init(k, jnp.zeros(x.shape)), jnp.zeros(x.shape)), key).shape == (5,)
    bad = MLPGenerator(output_shape=(2,), output_activation="relu")
    with pytest.raises(ValueError, match="output_activation"):
        jax.eval_shape(lambda k: bad.init(k, z), key)


# ----------------------------------------------------------------------------- (i) spectral norm in the step


def test_spectral_norm_one_power_iteration_per_d_update():
    recipe, _ = critic()
    s1, _, s2, _ = critic_runs()
    d_params = hand_step(recipe, CRITIC, s1, critic_batch())[2]["d_params"]
    # three D updates: exactly three power iterations, each from the parameters D had before that
    # update (the fake pass, the G phase and the EMA never advance u)
    for layer in ("SNDense_0", "SNDense_1"):
        u = s1.nets["D"].collections[SN_COLLECTION][layer]["u"]
        for p in d_params:
            u, _ = power_iteration(p[layer]["kernel"].reshape((-1, p[layer]["kernel"].shape[-1])), u, 1)
        np.testing.assert_allclose(np.asarray(s2.nets["D"].collections[SN_COLLECTION][layer]["u"]), np.asarray(u), rtol=1e-5, atol=1e-6, err_msg=layer)
        if u.size > 1:  # (a 1-vector u is always [1]) one more iteration would be visible
            u4, _ = power_iteration(d_params[-1][layer]["kernel"], u, 1)
            assert not np.allclose(np.asarray(u4), np.asarray(u), rtol=1e-6, atol=1e-7)


def test_spectral_norm_under_pmap_matches_single_device():
    """COND's critic phase under pmap on one device (spectral norm, labels, an ACGAN head, the
    relativistic loss's batch means, 2 critic updates) updates D as the single-device step does."""
    recipe, state = cond()
    s1, m, _, _ = cond_runs()
    d_only = sub_recipe(recipe, "Dmain")
    devices = jax.local_devices()[:1]
    step = parallel.pmap_train_step(d_only, devices=devices)
    rep = parallel.replicate_for_pmap(parallel.pmap_state(fresh(state)), devices)
    out, pm = step(rep, parallel.split_for_pmap(cond_batch(), 1, batches_per_step=2), step=0)
    out = parallel.pmap_state(parallel.unreplicate(out), None)
    # the single-device step's D after Dmain is its D after the step (Gmain does not touch it)
    assert_trees_close(out.nets["D"], s1.nets["D"], rtol=1e-4, atol=1e-6, what="pmap vs single: ")
    pm = parallel.unreplicate(pm)
    assert set(pm) == {k for k in m if k.startswith(("loss/d", "d/", "grad_norm/D"))}
    assert_trees_close(pm, {k: m[k] for k in pm}, rtol=1e-4, atol=1e-6, what="metrics ")


# ----------------------------------------------------------------------------- (j) recipes in the step


def test_weight_clipping_after_each_d_update():
    recipe, t0 = critic()
    t1, _, _, _ = critic_runs()
    c = CRITIC.d_weight_clip
    leaves = jax.tree.leaves(t1.nets["D"].params)
    assert all(float(jnp.max(jnp.abs(w))) <= np.float32(c) for w in leaves)
    assert any(float(jnp.max(jnp.abs(w))) == np.float32(c) for w in leaves)  # clipping was active
    assert not all(float(jnp.max(jnp.abs(w))) <= np.float32(c) for w in jax.tree.leaves(t0.nets["D"].params))
    # by hand: clip(p + adam update) after each critic update (hand_step), and the
    # engine's D after the first update enters its historical average (checked by hand there)
    h, _, info = hand_step(recipe, CRITIC, t0, critic_batch0())
    assert all(float(jnp.max(jnp.abs(w))) <= np.float32(c) for w in jax.tree.leaves(info["d_params"][1]))
    assert_trees_close(t1.nets["D"], h.nets["D"], rtol=1e-4, atol=1e-6, what="D vs by hand: ")
    d = t0.nets["D"]
    assert d.project is not None and t0.nets["G"].project is None
    np.testing.assert_array_equal(np.asarray(jax.tree.leaves(d.project({"w": jnp.array([-1.0, 0.01, 1.0])}))[0]), np.array([-c, 0.01, c], np.float32))


def test_acgan_losses():
    recipe, state = cond()
    _, m, _, _ = cond_runs()
    np.testing.assert_allclose(float(m["loss/d"]), float(m["loss/d_real"] + m["loss/d_fake"] + 0.5 * m["loss/d_aux"]), rtol=1e-5)
    np.testing.assert_allclose(float(m["loss/g"]), float(m["loss/g_adv"] + 0.5 * m["loss/g_aux"]), rtol=1e-5)
    # the class terms by hand (hand_step's ce, here checked against gan_jax.losses.classifier_ce)
    _, hm, _ = hand_step(recipe, COND, state, cond_batch())
    for key in ("loss/d_aux", "d/aux_acc_real", "loss/g_aux"):
        np.testing.assert_allclose(float(m[key]), float(hm[key]), rtol=1e-5, err_msg=key)
    logits, labels = jax.random.normal(jax.random.PRNGKey(0), (5, 3)) * 3, jnp.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(float(ce(logits, labels)), float(losses.classifier_ce(class_logits=logits, labels=labels)), rtol=1e-6)
    assert float(m["loss/d_aux"]) > 0 and float(m["loss/g_aux"]) > 0
    assert set(m) >= {"loss/d_aux", "d/aux_acc_real", "loss/g_aux", "loss/g_adv"}


def test_relativistic_generator_loss_uses_real_logits():
    """Gmain's real logits and labels are those of the step's last real batch, through the D the
    critic updates left (COND: relativistic average loss, labels, ACGAN head)."""
    recipe, state = cond()
    new, m, _, _ = cond_runs()

    @fast_jit
    def by_hand(state, new, batch):
        g, d = state.nets["G"], new.nets["D"]
        z = jax.random.normal(phase_keys(recipe, state, "Gmain")["latent"], (6, 4))
        d_logits = lambda x, y: d.module.apply({"params": d.params, **d.collections}, x, y, train=True)[0]
        fl = lambda y: d_logits(g.module.apply({"params": g.params}, z, y), y)
        (x0, x1), (y0, y1) = batch["x"], batch["y"]
        return (losses.relativistic_avg_g(fake_logits=fl(y1), real_logits=d_logits(x1, y1)),
                losses.relativistic_avg_g(fake_logits=fl(y1), real_logits=d_logits(x0, y1)),  # the first batch's data
                losses.relativistic_avg_g(fake_logits=fl(y0), real_logits=d_logits(x1, y0)),  # the first batch's labels
                losses.nonsaturating_g(fake_logits=fl(y1)))  # no real logits

    right, *wrong = (float(v) for v in by_hand(state, new, cond_batch()))
    np.testing.assert_allclose(float(m["loss/g_adv"]), right, rtol=1e-5)
    for value in wrong:
        assert not np.isclose(float(m["loss/g_adv"]), value, rtol=1e-4)
    # the least-squares variant traces through the step too
    ls = ClassicSpec(z_dim=4, loss="relativistic_avg_ls", num_classes=3, aux_weight=0.5, n_critic=2)
    _, metrics = jax.eval_shape(train_step_fn(steps.classic_recipe(ls)), state, cond_batch())
    assert set(metrics) == set(m)


def test_historical_averaging_state():
    recipe, t0 = critic()
    t1, m0, t2, m1 = critic_runs()
    assert set(t0.extra["hist"]) == {"G", "D"}
    assert_trees_close(t0.extra["hist"], {"G": t0.nets["G"].params, "D": t0.nets["D"].params}, rtol=0, atol=0, what="initial average ")
    assert base()[1].extra == {}  # no averages without hist_weight
    # G's average equals its parameters at step 0: no penalty; D's second update already has one
    assert float(m0["penalty/g_hist"]) == 0.0 and float(m0["penalty/d_hist"]) > 0.0
    # counts: D's average is over the initial parameters and updates 0 .. step * n_critic + i, G's likewise
    dp0 = hand_step(recipe, CRITIC, t0, critic_batch0())[2]["d_params"]
    dp1 = hand_step(recipe, CRITIC, t1, critic_batch())[2]["d_params"]
    mean = lambda trees: jax.tree.map(lambda *x: sum(x) / len(x), *trees)
    assert_trees_close(t1.extra["hist"]["D"], mean([*dp0, t1.nets["D"].params]), what="D average, step 0 ")
    assert_trees_close(t2.extra["hist"]["D"], mean([*dp0, *dp1, t2.nets["D"].params]), what="D average, step 1 ")
    assert_trees_close(t1.extra["hist"]["G"], mean([t0.nets["G"].params, t1.nets["G"].params]), what="G average, step 0 ")
    assert_trees_close(t2.extra["hist"]["G"], mean([t0.nets["G"].params, t1.nets["G"].params, t2.nets["G"].params]), what="G average, step 1 ")
    # the step-1 G penalty by hand: 0.1 ||theta - average||^2 with the incoming average
    g1, avg = t1.nets["G"].params, t1.extra["hist"]["G"]
    expected = 0.1 * sum(float(jnp.sum((p - a) ** 2)) for p, a in zip(jax.tree.leaves(g1), jax.tree.leaves(avg)))
    np.testing.assert_allclose(float(m1["penalty/g_hist"]), expected, rtol=1e-5)


def test_orthogonal_regularisation_in_g_phase():
    _, t0 = critic()
    _, m0, _, _ = critic_runs()
    np.testing.assert_allclose(float(m0["penalty/g_ortho"]), 0.1 * float(hand_ortho(t0.nets["G"].params)), rtol=1e-5)
    assert float(m0["penalty/g_ortho"]) > 0
    np.testing.assert_allclose(float(m0["loss/g"]), float(m0["loss/g_adv"] + m0["penalty/g_ortho"] + m0["penalty/g_hist"]), rtol=1e-5)


def aug_batch():
    return {"x": real_batch((4, 8, 8, 1))}


@functools.lru_cache(maxsize=None)
def aug_run():
    recipe, state = aug()
    return run(recipe, state, aug_batch())


@fast_jit
def aug_by_hand(state, new, x, dmain_keys, gmain_keys, std):
    """AUG's step 0 by hand from its phases' subkeys: D's metrics (at ``state``'s D) on what it sees,
    D's mean logits on the raw and on the merely augmented batches, and G's loss and gradient norm
    (at ``new``'s D, the one Dmain left). A view of a batch: DiffAugment with the first half of
    split(fold_in(augment key, which)) (which: 0 real, 1 fake), then ``std`` times N(0, I) drawn
    with one key per example from the second half."""
    from gan_jax.augment import diff_augment

    g, d, d_new = state.nets["G"], state.nets["D"], new.nets["D"]

    def view(v, key, which):
        k_aug, k_noise = jax.random.split(jax.random.fold_in(key, which))
        augmented = diff_augment(v, k_aug, AUG.augment)
        noise = jax.vmap(lambda k: jax.random.normal(k, v.shape[1:]))(jax.random.split(k_noise, v.shape[0]))
        return augmented, augmented + std * noise

    d_fn = lambda p, v: d.module.apply({"params": p}, v)
    g_fn = lambda p, z: g.module.apply({"params": p}, z)
    fake = g_fn(g.params, jax.random.normal(dmain_keys["latent"], (4, 4)))
    real_aug, real_seen = view(x, dmain_keys["augment"], 0)
    _, fake_seen = view(fake, dmain_keys["augment"], 1)
    d_loss = lambda p: losses.minimax_d(real_logits=d_fn(p, real_seen), fake_logits=d_fn(p, fake_seen))
    l_r, l_f = d_loss(d.params)
    z = jax.random.normal(gmain_keys["latent"], (4, 4))
    g_loss = lambda p: losses.nonsaturating_g(fake_logits=d_fn(d_new.params, view(g_fn(p, z), gmain_keys["augment"], 1)[1]))
    mean = lambda p, v: jnp.mean(d_fn(p, v))
    return {"loss/d_real": l_r, "loss/d_fake": l_f, "d/real_logits": mean(d.params, real_seen), "d/fake_logits": mean(d.params, fake_seen),
            "grad_norm/Dmain": optax.tree.norm(jax.grad(lambda p: sum(d_loss(p)))(d.params)),
            "loss/g": g_loss(g.params), "grad_norm/Gmain": optax.tree.norm(jax.grad(g_loss)(g.params)),
            "raw real": mean(d.params, x), "raw fake": mean(d.params, fake), "augmented real": mean(d.params, real_aug)}


def aug_hand(state, new, std=0.5, gmain_keys=None):
    recipe = aug()[0]
    gmain_keys = phase_keys(recipe, state, "Gmain") if gmain_keys is None else gmain_keys
    return aug_by_hand(state, new, aug_batch()["x"], phase_keys(recipe, state, "Dmain"), gmain_keys, std)


def test_augmentation_applied_to_real_and_fake():
    recipe, state = aug()
    new, m = aug_run()
    assert all("augment" in p.keys for p in recipe.phases)
    hand = aug_hand(state, new)
    for key in BASE_D_KEYS - {"loss/d"} | G_KEYS:
        np.testing.assert_allclose(float(m[key]), float(hand[key]), rtol=1e-5, atol=1e-7, err_msg=key)
    # D did not see the raw batches: with the same keys, no transform gives other logits
    assert not np.isclose(float(m["d/real_logits"]), float(hand["raw real"]), rtol=1e-4)
    assert not np.isclose(float(m["d/fake_logits"]), float(hand["raw fake"]), rtol=1e-4)
    # G's gradient flows through the augmentation: grad_norm/Gmain above is differentiated through it


def test_instance_noise_changes_what_d_sees():
    recipe, state = aug()
    new, m = aug_run()
    hand = aug_hand(state, new)
    np.testing.assert_allclose(float(m["d/real_logits"]), float(hand["d/real_logits"]), rtol=1e-5)
    assert not np.isclose(float(m["d/real_logits"]), float(hand["augmented real"]), rtol=1e-4)
    # annealed over 2 steps: at step 2 the std is 0 and D sees the augmented batch alone
    at2 = state.replace(step=jnp.asarray(2, jnp.int32))
    new2, m2 = run(recipe, at2, aug_batch())
    hand = aug_hand(at2, new2, std=0.0)
    np.testing.assert_allclose(float(m2["d/real_logits"]), float(hand["augmented real"]), rtol=1e-5)
    np.testing.assert_allclose(float(m2["loss/g"]), float(hand["loss/g"]), rtol=1e-5)
    assert not np.isclose(float(m2["d/real_logits"]), float(hand["raw real"]), rtol=1e-4)


# ----------------------------------------------------------------------------- (k) optimizers


def test_optimizers():
    g1, g2 = np.array([0.5, -2.0]), np.array([-0.1, 3.0])
    p = {"w": jnp.array([1.0, 1.0])}

    def updates(tx):
        state = tx.init(p)
        u1, state = tx.update({"w": jnp.asarray(g1)}, state, p)
        u2, _ = tx.update({"w": jnp.asarray(g2)}, state, p)
        return np.asarray(u1["w"]), np.asarray(u2["w"])

    def adam_by_hand(lr, b1, b2, eps=1e-8):
        m = v = 0.0
        out = []
        for t, g in enumerate((g1, g2), 1):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            out.append(-lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps))
        return out

    # adam; lazy_every=4 rescales lr by r = 4/5 and the betas to the power r (StyleGAN2)
    for every, r in ((1, 1.0), (4, 0.8)):
        for tx in (steps.make_optimizer("adam", 0.1, 0.5, 0.9, lazy_every=every), steps.adam(0.1, 0.5, 0.9, lazy_every=every)):
            for got, want in zip(updates(tx), adam_by_hand(0.1 * r, 0.5**r, 0.9**r)):
                np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"every={every}")
    # a schedule is rescaled too: lr(count) * r
    tx = steps.make_optimizer("adam", lambda count: 0.1 / (1.0 + count), 0.5, 0.9, lazy_every=3)
    want = adam_by_hand(1.0, 0.5**0.75, 0.9**0.75)
    np.testing.assert_allclose(updates(tx)[0], 0.1 * 0.75 * want[0], rtol=1e-5)
    np.testing.assert_allclose(updates(tx)[1], 0.05 * 0.75 * want[1], rtol=1e-5)
    # optimistic Adam (optax's alpha = beta = 1): Adam on 2 g_t - g_{t-1}; rescaled like Adam
    for every, r in ((1, 1.0), (4, 0.8)):
        ref = optax.optimistic_adam_v2(0.1 * r, b1=0.5**r, b2=0.9**r)
        for got, want in zip(updates(steps.make_optimizer("optimistic_adam", 0.1, 0.5, 0.9, lazy_every=every)), updates(ref)):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    # PyTorch RMSprop: v = 0.99 v + 0.01 g^2; update = -lr g / (sqrt(v) + eps); lazy_every scales lr
    for every, r in ((1, 1.0), (4, 0.8)):
        u1, u2 = updates(steps.make_optimizer("rmsprop", 0.1, lazy_every=every))
        v1 = 0.01 * g1**2
        v2 = 0.99 * v1 + 0.01 * g2**2
        np.testing.assert_allclose(u1, -0.1 * r * g1 / (np.sqrt(v1) + 1e-8), rtol=1e-5)
        np.testing.assert_allclose(u2, -0.1 * r * g2 / (np.sqrt(v2) + 1e-8), rtol=1e-5)
    assert steps.lazy_ratio(1) == 1.0 and steps.lazy_ratio(4) == 0.8 and steps.lazy_ratio(16) == 16 / 17
    with pytest.raises(ValueError, match="every"):
        steps.lazy_ratio(0)
    with pytest.raises(ValueError, match="optimizer"):
        steps.make_optimizer("sgd", 0.1)


def test_diff_augment_policy_traces_through_the_step():
    """The real ``gan_jax.augment.diff_augment`` in every phase of a DCGAN (abstract evaluation)."""
    from gan_jax.augment import diff_augment

    spec = ClassicSpec(z_dim=8, augment=("color", "translation", "cutout", "flip"))
    state = jax.eval_shape(
        lambda k: steps.classic_gan(generator=G_DCGAN, discriminator=D_DCGAN, g_tx=TX_DCGAN, d_tx=TX_DCGAN, spec=spec, data_shape=(16, 16, 1), rng=k)[1],
        jax.random.PRNGKey(0),
    )
    recipe = steps.classic_recipe(spec)
    assert all("augment" in p.keys for p in recipe.phases)
    x = jax.ShapeDtypeStruct((4, 16, 16, 1), jnp.uint8)
    new_state, metrics = jax.eval_shape(train_step_fn(recipe), state, {"x": x})
    assert set(metrics) == BASE_D_KEYS | G_KEYS
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert diff_augment(jnp.zeros((1, 4, 4, 1)), jax.random.PRNGKey(0), ()).shape == (1, 4, 4, 1)
    with pytest.raises(ValueError, match="DiffAugment"):
        jax.eval_shape(train_step_fn(steps.classic_recipe(ClassicSpec(z_dim=8, augment=("zoom",)))), state, {"x": x})
