"""The engine (``gan_jax.engine``): lazy phases and their compiled variants, the one run key and its
schedule, EMA collections, phases that only write ``extra``, ``after`` hooks, validation, and the
classic recipe's refusal of gradient penalties on a BatchNorm discriminator.

Shares the models, cached states and compiled steps of ``tests/test_steps.py``.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_steps import (
    BASE_D_KEYS,
    D_MLP,
    G_DCGAN,
    G_KEYS,
    TX_DCGAN,
    TX_MLP,
    assert_trees_close,
    aug,
    aug_hand,
    aug_run,
    base,
    compiled,
    dcgan,
    dcgan_run,
    fast_jit,
    fresh,
    gan,
    phase_keys,
    real_batch,
    run,
    trees_differ,
)

from gan_jax import losses, steps
from gan_jax.engine import train_step_fn
from gan_jax.models import DCGANDiscriminator, MLPGenerator
from gan_jax.regularizers import (
    dragan_penalty,
    gradient_penalty,
    r1_penalty,
    r2_penalty,
)
from gan_jax.steps import EMA, ClassicSpec, Penalty, Phase, Recipe

G_MLP_BN = MLPGenerator(output_shape=(2,), hidden=(16,), output_activation="linear", batch_norm=True)
#: a lazy R1 penalty (every 4 steps, its own Dreg phase); G with BatchNorm; EMA(0) (a copy)
LAZY = ClassicSpec(z_dim=4, d_penalties=(Penalty("r1", r1_penalty, 0.5, every=4),), ema=EMA(0.0))
N_LAZY_STEPS = 9


def lazy():
    return gan(LAZY, g=G_MLP_BN)


def lazy_batch(i):
    return {"x": real_batch((8, 2), seed=i)}


@functools.lru_cache(maxsize=None)
def lazy_runs():
    """States 0..9 and metrics 0..8 of nine steps, each step's variant picked from the loop counter."""
    recipe, state = lazy()
    states, metrics = [state], []
    for i in range(N_LAZY_STEPS):
        state, m = run(recipe, state, lazy_batch(i), step=i)
        states.append(state)
        metrics.append(m)
    return states, metrics


def hand_r1(d, params, x):
    """E ||grad_x D(x)||^2 by hand."""
    g = jax.grad(lambda v: jnp.sum(d.module.apply({"params": params}, v)))(x)
    return jnp.mean(jnp.sum(g**2, axis=1))


def n_eqns(jaxpr) -> int:
    """Equations of a jaxpr, those of its sub-jaxprs (pjit, scan, custom_jvp, ...) included."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += n_eqns(inner)
    return total


# ----------------------------------------------------------------------------- lazy phases


def test_lazy_phase_schedule_and_compiled_variants():
    recipe, _ = lazy()
    assert [p.name for p in recipe.phases] == ["Dmain", "Dreg", "Gmain"]
    dreg = recipe.phases[1]
    assert dreg.every == 4 and dreg.lazy and recipe.lazy_phases == (dreg,) and not recipe.phases[0].lazy
    assert [recipe.active_at(i) for i in range(N_LAZY_STEPS)] == [frozenset({"Dreg"}) if i % 4 == 0 else frozenset() for i in range(N_LAZY_STEPS)]
    states, metrics = lazy_runs()
    # one compiled variant per set of lazy phases that run together
    assert set(compiled(recipe).compiled_variants) == {frozenset(), frozenset({"Dreg"})}
    for i, m in enumerate(metrics):
        if i in (0, 4, 8):
            assert set(m) == BASE_D_KEYS | G_KEYS | {"penalty/r1", "grad_norm/Dreg"}, i
            assert float(m["penalty/r1"]) > 0
        else:
            assert set(m) == BASE_D_KEYS | G_KEYS, i
    assert [int(s.step) for s in states] == list(range(N_LAZY_STEPS + 1))


def test_lazy_phase_gradient_is_every_times_the_penalty_gradient():
    recipe, s0 = lazy()
    states, metrics = lazy_runs()
    m = metrics[0]
    # the step-0 variant without Dreg: D after Dmain (Gmain does not touch D); the keys of Dmain
    # do not depend on whether Dreg runs
    no_reg, _ = compiled(recipe).variant(frozenset())(fresh(s0), lazy_batch(0))

    @fast_jit
    def by_hand(d, x):
        grads = jax.grad(lambda p: 4 * 0.5 * hand_r1(d, p, x))(d.params)  # the loss: every * weighted penalty
        updates, _ = d.tx.update(grads, d.opt_state, d.params)  # from Dmain's optimizer state
        return 0.5 * hand_r1(d, d.params, x), optax.tree.norm(grads), optax.apply_updates(d.params, updates)

    penalty, grad_norm, d_params = by_hand(no_reg.nets["D"], lazy_batch(0)["x"])
    np.testing.assert_allclose(float(m["penalty/r1"]), float(penalty), rtol=1e-5)  # the metric: unscaled
    np.testing.assert_allclose(float(m["grad_norm/Dreg"]), float(grad_norm), rtol=1e-5)
    # and D's update in Dreg is one optimizer step with that gradient
    assert_trees_close(states[1].nets["D"].params, d_params, what="D after Dreg ")


def test_variant_without_the_lazy_phase_contains_no_dreg_computation():
    recipe, s0 = lazy()
    batch = lazy_batch(0)
    n_plain = n_eqns(jax.make_jaxpr(train_step_fn(recipe, frozenset()))(s0, batch).jaxpr)
    n_reg = n_eqns(jax.make_jaxpr(train_step_fn(recipe, {"Dreg"}))(s0, batch).jaxpr)
    # the same recipe without a Dreg phase at all traces to as many equations (only the number
    # of phase keys differs): nothing of Dreg is left behind, not even under a lax.cond
    eager = Recipe("no Dreg", tuple(p for p in recipe.phases if p.name != "Dreg"), latent_dim=4)
    assert n_plain == n_eqns(jax.make_jaxpr(train_step_fn(eager))(s0, batch).jaxpr)
    assert n_reg > n_plain + 20
    assert "cond" not in str(jax.make_jaxpr(train_step_fn(recipe, frozenset()))(s0, batch))
    # the compiled variants' programs: the one without Dreg is the smaller
    lazy_runs()
    step = compiled(recipe)
    hlo = {k: step.variant(k).lower(s0, batch).as_text() for k in step.compiled_variants}
    assert len(hlo[frozenset()]) < len(hlo[frozenset({"Dreg"})])


def test_train_step_reads_the_step_from_the_state_without_a_step_argument():
    recipe, _ = lazy()
    states, metrics = lazy_runs()
    step = compiled(recipe)
    for i in (4, 5):
        new, m = step(fresh(states[i]), lazy_batch(i))  # step=None: reads state.step (a device sync)
        assert ("penalty/r1" in m) == (i == 4)
        assert_trees_close((new, m), (states[i + 1], metrics[i]), rtol=0, atol=0, what=f"step {i} ")


def test_phase_keys_are_by_position_whether_or_not_the_lazy_phase_runs():
    recipe, _ = lazy()
    states, metrics = lazy_runs()
    s1, s2 = states[1], states[2]  # step 1: Dreg does not run

    @fast_jit
    def g_loss(s1, s2, key):
        g, d = s1.nets["G"], s2.nets["D"]
        z = jax.random.normal(key, (8, 4))
        fake, _ = g.module.apply({"params": g.params, **g.collections}, z, train=True, mutable=["batch_stats"])
        return losses.nonsaturating_g(fake_logits=d.module.apply({"params": d.params}, fake))

    step_key = jax.random.fold_in(s1.rng, 1)
    loss = float(metrics[1]["loss/g"])
    np.testing.assert_allclose(loss, float(g_loss(s1, s2, phase_keys(recipe, s1, "Gmain")["latent"])), rtol=1e-5)
    np.testing.assert_allclose(loss, float(g_loss(s1, s2, jax.random.split(jax.random.split(step_key, 3)[2], 1)[0])), rtol=1e-5)
    # as if the skipped phase had no key: other latents, another loss
    assert not np.isclose(loss, float(g_loss(s1, s2, jax.random.split(jax.random.split(step_key, 2)[1], 1)[0])), rtol=1e-4)


def quad_loss(ctx):
    return 0.5 * sum(jnp.sum(p**2) for p in jax.tree.leaves(ctx.params("D"))), {}


#: two lazy phases on a quadratic loss 0.5 ||theta_D||^2 (gradient: theta_D), one unscaled
QUAD = Recipe("quad", (Phase("Q", quad_loss, updates=("D",), every=3), Phase("Q1", quad_loss, updates=("D",), every=3, scale_lazy_loss=False)))


def test_lazy_loss_scaling_can_be_switched_off():
    """The scaled lazy phase's gradient is every * theta, the unscaled one's theta."""
    _, state = base()
    assert QUAD.active_at(0) == {"Q", "Q1"} and QUAD.active_at(1) == frozenset() and QUAD.active_at(3) == {"Q", "Q1"}
    new, m = fast_jit(train_step_fn(QUAD, {"Q", "Q1"}))(state, {"x": real_batch((8, 2))})

    @fast_jit
    def by_hand(d):
        updates, opt_state = d.tx.update(jax.tree.map(lambda p: 3 * p, d.params), d.opt_state, d.params)
        p1 = optax.apply_updates(d.params, updates)
        updates, _ = d.tx.update(p1, opt_state, p1)
        return optax.tree.norm(d.params), p1, optax.tree.norm(p1), optax.apply_updates(p1, updates)

    norm0, _, norm1, p2 = by_hand(state.nets["D"])
    np.testing.assert_allclose(float(m["grad_norm/Q"]), 3 * float(norm0), rtol=1e-5)
    np.testing.assert_allclose(float(m["grad_norm/Q1"]), float(norm1), rtol=1e-5)
    assert_trees_close(new.nets["D"].params, p2, what="D after Q, Q1 ")
    assert_trees_close(new.nets["G"].params, state.nets["G"].params, rtol=0, atol=0, what="G ")

def test_make_train_step_jits_and_donates():
    """``make_train_step``: jax.jit with the state donated (or not), the variant picked by ``step``."""
    _, state = base()
    batch = {"x": real_batch((8, 2))}
    step = steps.make_train_step(QUAD)
    assert isinstance(step, steps.TrainStep) and step.recipe is QUAD
    incoming = fresh(state)
    new, m = step(incoming, batch, step=0)
    assert any(leaf.is_deleted() for leaf in jax.tree.leaves(incoming))  # donated
    assert set(m) == {"grad_norm/Q", "grad_norm/Q1"}
    np.testing.assert_allclose(float(m["grad_norm/Q"]), 3 * float(optax.tree.norm(state.nets["D"].params)), rtol=1e-5)
    new2, m2 = step(new, batch, step=1)  # no phase runs at step 1: only the step counter moves
    assert m2 == {} and int(new2.step) == 2
    assert set(step.compiled_variants) == {frozenset({"Q", "Q1"}), frozenset()}
    kept = fresh(new2)
    new3, _ = steps.make_train_step(QUAD, donate=False)(kept, batch, step=1)
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(kept))  # not donated
    assert_trees_close(new3.nets, kept.nets, rtol=0, atol=0)
    assert int(new3.step) == 3


# ----------------------------------------------------------------------------- BatchNorm + gradient penalty


@pytest.mark.parametrize(
    "penalty",
    [Penalty("gp", gradient_penalty, 10.0), Penalty("r1", r1_penalty, 1.0), Penalty("r2", r2_penalty, 1.0),
     Penalty("dragan", dragan_penalty, 10.0), Penalty("r1", r1_penalty, 1.0, every=16)],
    ids=["gp", "r1", "r2", "dragan", "lazy_r1"],
)
def test_gradient_penalty_with_a_batchnorm_discriminator_raises(penalty):
    spec = ClassicSpec(z_dim=8, loss="wasserstein", d_penalties=(penalty,))

    def build(batch_norm):
        return jax.eval_shape(  # abstract: shapes only
            lambda k: steps.classic_gan(generator=G_DCGAN, discriminator=DCGANDiscriminator(width=4, batch_norm=batch_norm), g_tx=TX_DCGAN,
                                        d_tx=TX_DCGAN, spec=spec, data_shape=(16, 16, 1), rng=k)[1],
            jax.random.PRNGKey(0),
        )

    with pytest.raises(ValueError, match=r"model\.d_batch_norm=false") as err:
        build(True)
    assert penalty.name in str(err.value) and "BatchNorm" in str(err.value)
    state = build(False)
    assert "batch_stats" not in state.nets["D"].collections and "batch_stats" in state.nets["G"].collections


# ----------------------------------------------------------------------------- one rng in the state


def test_the_step_takes_no_rng_and_the_state_key_decides():
    recipe, state = base()
    assert list(inspect.signature(train_step_fn(recipe)).parameters) == ["state", "batch"]
    assert list(inspect.signature(steps.TrainStep.__call__).parameters) == ["self", "state", "batch", "step"]
    batch = {"x": real_batch((8, 2))}
    a, ma = run(recipe, state, batch)
    other, m_other = run(recipe, state.replace(rng=jax.random.PRNGKey(1)), batch)
    # an equal state with buffers of its own (through the host): bitwise the same step
    twin = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), state)
    b, mb = run(recipe, twin, batch)
    assert_trees_close((a, ma), (b, mb), rtol=0, atol=0, what="equal states ")
    # only the key differs: other latents, so other fakes, losses and parameters
    assert float(ma["loss/d_real"]) == float(m_other["loss/d_real"])  # the real pass does not use the key
    assert float(ma["loss/d_fake"]) != float(m_other["loss/d_fake"])
    assert trees_differ(a.nets["G"].params, other.nets["G"].params) and trees_differ(a.nets["D"].params, other.nets["D"].params)
    np.testing.assert_array_equal(np.asarray(other.rng), np.asarray(jax.random.PRNGKey(1)))


def test_g_phase_draws_latents_and_augmentation_from_their_own_subkeys():
    """AUG's Gmain declares keys ("latent", "augment"): z from the first subkey; DiffAugment and
    instance noise of the fakes (which = 1) from the second, by hand for step 0."""
    recipe, state = aug()
    new, m = aug_run()
    assert recipe.phases[-1].keys == ("latent", "augment")
    k_latent, k_augment = jax.random.split(jax.random.split(jax.random.fold_in(state.rng, 0), 2)[1], 2)
    loss = float(m["loss/g"])
    np.testing.assert_allclose(loss, float(aug_hand(state, new, gmain_keys={"latent": k_latent, "augment": k_augment})["loss/g"]), rtol=1e-5)
    assert not np.isclose(loss, float(aug_hand(state, new, gmain_keys={"latent": k_augment, "augment": k_latent})["loss/g"]), rtol=1e-4)  # swapped
    assert not np.isclose(loss, float(aug_hand(state, new, gmain_keys={"latent": k_latent, "augment": k_latent})["loss/g"]), rtol=1e-4)  # one key


# ----------------------------------------------------------------------------- EMA collections


#: G_DCGAN's BatchNorm statistics after one training-mode pass, compiled once
g_dcgan_stats = fast_jit(lambda variables, z: G_DCGAN.apply(variables, z, train=True, mutable=["batch_stats"])[1])


def test_ema_collections_are_those_of_the_ema_params_dcgan():
    recipe, s0 = dcgan()
    s1, _ = dcgan_run()
    g0, g1 = s0.nets["G"], s1.nets["G"]
    assert_trees_close(g1.ema_params, jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, g0.ema_params, g1.params), rtol=1e-5, atol=1e-7, what="ema params ")
    # one training-mode pass of the EMA copy (EMA params, its own statistics) on Gmain's latents
    z = jax.random.normal(phase_keys(recipe, s0, "Gmain")["latent"], (4, 8))
    expected = g_dcgan_stats({"params": g1.ema_params, **g0.ema_collections}, z)
    assert_trees_close(g1.ema_collections, expected, rtol=1e-5, atol=1e-6, what="ema collections ")
    # not the raw network's statistics, nor those of the raw parameters on the same latents
    assert trees_differ(g1.ema_collections, g1.collections)
    assert trees_differ(g1.ema_collections, g_dcgan_stats({"params": g1.params, **g0.ema_collections}, z))
    assert s1.nets["D"].ema is None and s1.nets["D"].ema_collections == {}


def test_ema_decay_zero_copies_params_and_ema_collections_follow_the_gmain_inputs():
    recipe, s0 = lazy()
    states, _ = lazy_runs()
    s1 = states[1]
    g1 = s1.nets["G"]
    assert_trees_close(g1.ema_params, g1.params, rtol=0, atol=0, what="EMA(0.0) ")

    @fast_jit
    def by_hand(s0, s1):
        g0, g1 = s0.nets["G"], s1.nets["G"]
        z_d = jax.random.normal(phase_keys(recipe, s0, "Dmain")["latent"], (8, 4))
        z_g = jax.random.normal(phase_keys(recipe, s0, "Gmain")["latent"], (8, 4))
        apply = lambda params, cols, z: g0.module.apply({"params": params, **cols}, z, train=True, mutable=["batch_stats"])[1]
        # the EMA copy: one pass with its parameters and its own statistics on Gmain's latents;
        # the raw statistics: G's pass in Dmain, then the one in Gmain (Dreg's pass keeps none)
        return apply(g1.ema_params, g0.ema_collections, z_g), apply(g0.params, apply(g0.params, g0.collections, z_d), z_g)

    ema_cols, raw_cols = by_hand(s0, s1)
    assert_trees_close(g1.ema_collections, ema_cols, rtol=1e-5, atol=1e-6, what="ema collections ")
    assert_trees_close(g1.collections, raw_cols, rtol=1e-5, atol=1e-6, what="raw collections ")
    assert trees_differ(g1.collections, g1.ema_collections)

# ----------------------------------------------------------------------------- phases that only write extra; after hooks


def stats_loss(ctx):
    """No update: a running mean of D's mean logit on the real batch, in ``extra``."""
    m = jnp.mean(ctx.apply("D", steps.to_float(ctx.batch["x"]), train=False))
    n = ctx.extra["n"]
    ctx.set_extra({**ctx.extra, "mean_real_logit": (ctx.extra["mean_real_logit"] * n + m) / (n + 1), "n": n + 1})
    return jnp.zeros(()), {"stats/real_logits": m}


def stats_after(state, call_index):
    return {**state.extra, "last_call": call_index, "n_seen_by_after": state.extra["n"]}


STATS = Phase("stats", stats_loss, after=stats_after)


@functools.lru_cache(maxsize=None)
def custom():
    recipe, state = base()
    extra = {"mean_real_logit": jnp.zeros(()), "n": jnp.zeros((), jnp.int32), "last_call": jnp.full((), -1, jnp.int32),
             "n_seen_by_after": jnp.zeros((), jnp.int32)}
    return Recipe("classic+stats", recipe.phases + (STATS,), latent_dim=4), state.replace(extra=extra)


def test_phase_without_updates_writes_extra_and_after_hook_runs():
    recipe, state = custom()
    s = state
    per_step = []
    d_mean = fast_jit(lambda d, x: jnp.mean(d.module.apply({"params": d.params}, x)))
    for t in range(3):
        s, m = run(recipe, s, {"x": real_batch((8, 2), seed=t)})
        assert set(m) == BASE_D_KEYS | G_KEYS | {"stats/real_logits"}  # no gradient norm: nothing updated
        # the stats phase runs after Gmain: D as Dmain left it, which is D after the step
        per_step.append(float(d_mean(s.nets["D"], real_batch((8, 2), seed=t))))
        np.testing.assert_allclose(float(m["stats/real_logits"]), per_step[-1], rtol=1e-5)
    np.testing.assert_allclose(float(s.extra["mean_real_logit"]), np.mean(per_step), rtol=1e-5)
    assert int(s.extra["n"]) == 3
    assert int(s.extra["last_call"]) == 2  # call index = step * repeats + i, at the last step
    assert int(s.extra["n_seen_by_after"]) == 3  # the hook sees the extra the phase just wrote


def test_phase_keys_with_an_extra_phase():
    """With three phases Dmain's key is split(step_key, 3)[0] (with jax's default partitionable
    threefry that equals split(step_key, 2)[0], so appending a phase leaves Dmain's draws alone)."""
    recipe, state = custom()
    base_recipe, _ = base()
    batch = {"x": real_batch((8, 2), seed=0)}
    _, m = run(recipe, state, batch)
    _, m_base = run(base_recipe, state.replace(extra={}), batch)

    @fast_jit
    def d_fake(state):
        g, d = state.nets["G"], state.nets["D"]
        k_latent = jax.random.split(jax.random.split(jax.random.fold_in(state.rng, 0), 3)[0], 2)[0]
        fake = g.module.apply({"params": g.params}, jax.random.normal(k_latent, (8, 4)))
        return jnp.mean(jax.nn.softplus(d.module.apply({"params": d.params}, fake)))

    np.testing.assert_allclose(float(m["loss/d_fake"]), float(d_fake(state)), rtol=1e-5)
    for key in ("loss/d_real", "loss/d_fake", "loss/g"):
        if jax.config.jax_threefry_partitionable:
            np.testing.assert_allclose(float(m[key]), float(m_base[key]), rtol=1e-6, err_msg=key)


# ----------------------------------------------------------------------------- validation, construction


def test_phase_and_recipe_validation():
    loss = lambda ctx: (jnp.zeros(()), {})
    for kw in (dict(every=0), dict(repeats=0), dict(every=-1)):
        with pytest.raises(ValueError, match="every and repeats must be >= 1"):
            Phase("P", loss, **kw)
    with pytest.raises(ValueError, match="distinct"):
        Phase("P", loss, keys=("latent", "latent"))
    with pytest.raises(ValueError, match="phase names must be distinct"):
        Recipe("r", (Phase("P", loss), Phase("P", loss, every=2)))
    recipe = Recipe("r", (Phase("P", loss), Phase("L", loss, every=2)))
    assert recipe.batches_per_step == 1 and [p.name for p in recipe.lazy_phases] == ["L"]
    assert Recipe("r", (Phase("P", loss, repeats=3), Phase("Q", loss, repeats=2))).batches_per_step == 3
    with pytest.raises(ValueError, match="no lazy or windowed phases"):
        train_step_fn(recipe, {"Nope"})
    with pytest.raises(ValueError, match="no lazy or windowed phases"):
        train_step_fn(recipe, {"P"})  # an every-step phase is not a lazy one
    train_step_fn(recipe, {"L"})
    # a phase may only draw from the keys it declares
    _, state = base()
    bad = Recipe("r", (Phase("P", lambda ctx: (jnp.sum(ctx.key("noise")), {}), keys=("latent",)),))
    with pytest.raises(ValueError, match="declares keys"):
        jax.eval_shape(train_step_fn(bad), state, {"x": real_batch((8, 2))})


def test_init_state_splits_the_key_per_network_and_builds_extra():
    g_module = MLPGenerator(output_shape=(2,), hidden=(16,), output_activation="linear")
    z, x = jnp.zeros((1, 4)), jnp.zeros((1, 2))
    rng = jax.random.PRNGKey(3)

    @fast_jit
    def build(rng):
        state = steps.init_state(
            rng,
            {"G": lambda k: steps.init_network(g_module, TX_MLP, k, z, ema=EMA(0.5)), "D": lambda k: steps.init_network(D_MLP, TX_MLP, k, x)},
            extra=lambda nets: {"n_g": jnp.asarray(len(jax.tree.leaves(nets["G"].params)))},
        )
        k_g, k_d, _ = jax.random.split(rng, 3)
        return state, g_module.init(k_g, z, train=False)["params"], D_MLP.init(k_d, x)["params"]

    state, g_params, d_params = build(rng)
    k_run = jax.random.split(rng, 3)[2]
    assert_trees_close(state.nets["G"].params, g_params, rtol=0, atol=0, what="G ")
    assert_trees_close(state.nets["D"].params, d_params, rtol=0, atol=0, what="D ")
    np.testing.assert_array_equal(np.asarray(state.rng), np.asarray(k_run))
    assert int(state.step) == 0 and int(state.extra["n_g"]) == 4
    g = state.nets["G"]
    assert_trees_close(g.ema_params, g.params, rtol=0, atol=0)
    # the EMA copy has its own buffers (donating the state must not alias them)
    assert all(a is not b for a, b in zip(jax.tree.leaves(g.ema_params), jax.tree.leaves(g.params)))
    assert state.nets["D"].ema is None and state.nets["D"].ema_params == {}
