"""The train step on tiny models: D/G updates, jit + donation, n_critic scan, uint8, EMA,
PacGAN packing, spec validation and DCGAN shapes."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import losses, steps
from gan_jax.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from gan_jax.regularizers import Penalty, gradient_penalty
from gan_jax.state import GANSpec, GANState, adam, create_state, pack

BASE_D_KEYS = {"loss/d_real", "loss/d_fake", "d/real_logits", "d/fake_logits", "loss/d", "grad_norm/d"}
G_KEYS = {"loss/g", "grad_norm/g"}


# ----------------------------------------------------------------------------- helpers
#
# Compilation dominates the run time on CPU, so the tests share as much as they can: one
# optimizer object per model family (the transformations are static fields of the state, so
# equal modules + the same tx + an equal spec hit jit's cache), cached initial states (never
# donated: ``fresh`` copies one) and module-level jitted steps.

TX_MLP = adam(1e-2)
TX_DCGAN = adam(1e-3)
G_MLP = MLPGenerator(output_shape=(2,), hidden=(16,), output_activation="linear")
D_MLP = MLPDiscriminator(hidden=(16,))
G_DCGAN = DCGANGenerator(image_shape=(16, 16, 1), width=8)
D_DCGAN = DCGANDiscriminator(width=8)


@functools.lru_cache(maxsize=None)
def _mlp_state(spec_items, num_classes) -> GANState:
    return create_state(
        generator=G_MLP,
        discriminator=D_MLP,
        g_tx=TX_MLP,
        d_tx=TX_MLP,
        spec=GANSpec(**dict(spec_items)),
        data_shape=(2,),
        rng=jax.random.PRNGKey(0),
        num_classes=num_classes,
    )


def mlp_state(*, num_classes=0, z_dim=4, ema_decay=0.9, **spec_kw) -> GANState:
    """A tiny MLP GAN on 2-D data (z_dim 4, one hidden layer of 16); cached, do not donate."""
    return _mlp_state(tuple(sorted(dict(spec_kw, z_dim=z_dim, ema_decay=ema_decay).items())), num_classes)


@functools.lru_cache(maxsize=None)
def _dcgan_state(spec_items) -> GANState:
    # jitted: one compilation instead of one per initialiser shape (same values as eager)
    init = jax.jit(
        lambda rng: create_state(
            generator=G_DCGAN,
            discriminator=D_DCGAN,
            g_tx=TX_DCGAN,
            d_tx=TX_DCGAN,
            spec=GANSpec(**dict(spec_items)),
            data_shape=(16, 16, 1),
            rng=rng,
        )
    )
    return init(jax.random.PRNGKey(0))


def dcgan_state(*, z_dim=8, **spec_kw) -> GANState:
    """A tiny DCGAN at 16x16x1, width 8, BatchNorm in G and D; cached, do not donate."""
    return _dcgan_state(tuple(sorted(dict(spec_kw, z_dim=z_dim).items())))


def fresh(state: GANState) -> GANState:
    """A copy with its own buffers, safe to donate."""
    return jax.tree.map(jnp.copy, state)


def real_batch(shape, seed=123):
    return jnp.tanh(jax.random.normal(jax.random.PRNGKey(seed), shape) + 0.5)


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6, what=""):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb, f"{what}: tree structures differ"
    for path_leaf, y in zip(jax.tree_util.tree_flatten_with_path(a)[0], lb):
        path, x = path_leaf
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=f"{what}{jax.tree_util.keystr(path)}"
        )


def array_leaves(state: GANState):
    """The array content of a state (the static fields compare by identity/equality)."""
    return {
        "step": state.step,
        "g_params": state.g_params,
        "g_state": state.g_state,
        "d_params": state.d_params,
        "d_state": state.d_state,
        "g_opt_state": state.g_opt_state,
        "d_opt_state": state.d_opt_state,
        "ema_params": state.ema_params,
        "rng": state.rng,
    }


d_step_jit = jax.jit(steps.d_step)
g_step_jit = jax.jit(steps.g_step, static_argnums=1)
train_step_donating = jax.jit(steps.train_step, donate_argnums=0)


def run_step(state, batch, rng):
    """One jitted, donating train step on a copy of ``state`` (cached states stay intact)."""
    return train_step_donating(fresh(state), batch, rng)


# ----------------------------------------------------------------------------- (a) D step lowers the D loss


@pytest.mark.parametrize("make", ["mlp", "dcgan"])
def test_d_step_lowers_d_loss_on_fixed_batch(make):
    if make == "mlp":
        state = mlp_state()
        real = real_batch((16, 2)) * 2.0 + 1.0
    else:
        state = dcgan_state()
        real = real_batch((8, 16, 16, 1))
    rng = jax.random.PRNGKey(7)  # the same rng every time -> the same fake batch every time
    g_params0 = state.g_params
    d_losses = []
    for _ in range(6):
        # metrics are measured at the incoming parameters, before the update
        state, m = d_step_jit(state, real, None, rng)
        d_losses.append(float(m["loss/d"]))
    assert all(np.isfinite(d_losses))
    assert d_losses[1] < d_losses[0], d_losses
    assert d_losses[-1] < d_losses[0], d_losses
    assert sum(b < a for a, b in zip(d_losses, d_losses[1:])) >= 4, d_losses
    # a D step never touches G's parameters, its optimizer or the EMA
    assert_trees_close(state.g_params, g_params0, rtol=0, atol=0, what="g_params")
    assert_trees_close(state.ema_params, g_params0, rtol=0, atol=0, what="ema")
    assert int(state.step) == 0


def test_d_step_metrics_match_hand_computation():
    """d_step draws z from the first half of split(rng); its losses equal the loss functions on D's logits."""
    state = mlp_state(loss="minimax", label_smoothing=0.2)
    real = real_batch((8, 2))
    rng = jax.random.PRNGKey(3)
    _, m = steps.d_step(state, real, None, rng)
    k_z, _ = jax.random.split(rng)
    z = jax.random.normal(k_z, (8, 4))
    fake = state.generator.apply({"params": state.g_params}, z, train=True)
    rl = state.discriminator.apply({"params": state.d_params}, real, train=True)
    fl = state.discriminator.apply({"params": state.d_params}, fake, train=True)
    r, f = losses.minimax_d(real_logits=rl, fake_logits=fl, label_smoothing=0.2)
    np.testing.assert_allclose(m["loss/d_real"], r, rtol=1e-6)
    np.testing.assert_allclose(m["loss/d_fake"], f, rtol=1e-6)
    np.testing.assert_allclose(m["loss/d"], r + f, rtol=1e-6)
    np.testing.assert_allclose(m["d/real_logits"], jnp.mean(rl), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m["d/fake_logits"], jnp.mean(fl), rtol=1e-5, atol=1e-7)
    grads = jax.grad(
        lambda p: sum(
            losses.minimax_d(
                real_logits=state.discriminator.apply({"params": p}, real),
                fake_logits=state.discriminator.apply({"params": p}, fake),
                label_smoothing=0.2,
            )
        )
    )(state.d_params)
    np.testing.assert_allclose(m["grad_norm/d"], optax.tree.norm(grads), rtol=1e-5)


def test_g_step_metrics_match_hand_computation():
    state = mlp_state(loss="nonsaturating")
    rng = jax.random.PRNGKey(5)
    _, m = steps.g_step(state, 6, None, rng)
    z = jax.random.normal(rng, (6, 4))
    fl = state.discriminator.apply({"params": state.d_params}, state.generator.apply({"params": state.g_params}, z))
    np.testing.assert_allclose(m["loss/g"], losses.nonsaturating_g(fake_logits=fl), rtol=1e-6)


def test_g_step_lowers_g_loss():
    state = mlp_state()
    rng = jax.random.PRNGKey(11)
    g_step = g_step_jit
    d_params0 = state.d_params
    vals = []
    for _ in range(5):
        state, m = g_step(state, 16, None, rng)
        vals.append(float(m["loss/g"]))
    assert vals[-1] < vals[0], vals
    assert_trees_close(state.d_params, d_params0, rtol=0, atol=0, what="d_params")


# ----------------------------------------------------------------------------- (b) jit + donation, metric names


def test_train_step_jit_donate_increments_step_and_metric_names():
    state = fresh(dcgan_state())
    step = train_step_donating
    batch = {"x": real_batch((4, 16, 16, 1))}
    rng = jnp.array(state.rng)  # a copy: state (and state.rng) is donated
    for i in range(3):
        old = state
        state, metrics = step(state, batch, rng)
        assert int(state.step) == i + 1
        assert set(metrics) == BASE_D_KEYS | G_KEYS
        for k, v in metrics.items():
            assert jnp.shape(v) == (), k
            assert np.isfinite(float(v)), k
        # donated: the incoming state's buffers were handed to XLA (CPU supports donation)
        assert any(leaf.is_deleted() for leaf in jax.tree.leaves(old)), "state was not donated"
    # the step does not change the run's base key, and the static fields survive
    np.testing.assert_array_equal(np.asarray(state.rng), np.asarray(rng))
    assert isinstance(state.generator, DCGANGenerator) and state.spec.z_dim == 8
    # BatchNorm running statistics moved away from their initial values
    init = dcgan_state()
    for name in ("g_state", "d_state"):
        a, b = jax.tree.leaves(getattr(state, name)), jax.tree.leaves(getattr(init, name))
        assert a and any(not np.allclose(x, y) for x, y in zip(a, b)), name


def test_train_step_is_deterministic_and_uses_fold_in_step():
    state = mlp_state()
    batch = {"x": real_batch((16, 2))}
    rng = jax.random.PRNGKey(9)
    s1, m1 = run_step(state, batch, rng)
    s2, m2 = run_step(state, batch, rng)
    assert_trees_close(array_leaves(s1), array_leaves(s2), rtol=0, atol=0)
    assert_trees_close(m1, m2, rtol=0, atol=0)
    # by hand: k_d, k_g = split(fold_in(rng, step)); d_step(k_d); g_step(k_g); step + 1
    for state in (state, s1):  # at step 0 and at step 1
        new, metrics = run_step(state, batch, rng)
        k_d, k_g = jax.random.split(jax.random.fold_in(rng, state.step))
        h, d_m = d_step_jit(state, batch["x"], None, k_d)
        h, g_m = g_step_jit(h, 16, None, k_g)
        h = h.replace(step=h.step + 1)
        assert_trees_close(array_leaves(new), array_leaves(h), what=f"train_step vs by hand at step {int(state.step)}: ")
        assert_trees_close(metrics, {**d_m, **g_m}, what="metrics ")


# ----------------------------------------------------------------------------- (c) n_critic scan


def test_n_critic_scan_equals_manual_loop():
    # a lazy penalty makes the D-step index observable: it must be step * n_critic + i
    spec_kw = dict(loss="wasserstein", n_critic=3, d_penalties=(Penalty("gp", gradient_penalty, 1.0, every=2),))
    state = mlp_state(**spec_kw)
    rng = jax.random.PRNGKey(21)
    x = real_batch((3, 8, 2))

    # advance one step first so that state.step == 1 (d-step indices 3, 4, 5) is tested too
    state, _ = run_step(state, {"x": x * 0.5}, rng)
    assert int(state.step) == 1
    out, metrics = run_step(state, {"x": x}, rng)

    k_d, k_g = jax.random.split(jax.random.fold_in(rng, state.step))
    h = state
    d_ms = []
    for i in range(3):
        h, m = d_step_jit(h, x[i], None, jax.random.fold_in(k_d, i), state.step * 3 + i)
        d_ms.append(m)
    h, g_m = g_step_jit(h, 8, None, k_g)
    h = h.replace(step=h.step + 1)

    assert int(out.step) == 2
    assert_trees_close(array_leaves(out), array_leaves(h), what="n_critic=3 scan vs loop: ")
    assert set(metrics) == BASE_D_KEYS | G_KEYS | {"penalty/gp"}
    for m in d_ms:  # the D loss is the two loss terms plus the (weighted, scheduled) penalty
        np.testing.assert_allclose(m["loss/d"], m["loss/d_real"] + m["loss/d_fake"] + m["penalty/gp"], rtol=1e-5, atol=1e-6)
    expected = {k: np.mean([float(m[k]) for m in d_ms]) for k in d_ms[0]}
    expected.update({k: float(v) for k, v in g_m.items()})
    assert set(metrics) == set(expected)
    for k in expected:
        np.testing.assert_allclose(float(metrics[k]), expected[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # the lazy penalty fired on d-steps 4 only (indices 3, 4, 5): mean is 1/3 of that one value
    assert float(metrics["penalty/gp"]) != 0.0
    np.testing.assert_allclose(float(metrics["penalty/gp"]), float(d_ms[1]["penalty/gp"]) / 3, rtol=1e-5)
    assert float(d_ms[0]["penalty/gp"]) == 0.0 and float(d_ms[2]["penalty/gp"]) == 0.0


def test_n_critic_needs_leading_axis():
    state = mlp_state(n_critic=2)
    with pytest.raises(ValueError, match="n_critic"):
        steps.train_step(state, {"x": real_batch((8, 2))}, jax.random.PRNGKey(0))


# ----------------------------------------------------------------------------- (d) uint8 input


def test_to_float():
    x = jnp.array([0, 1, 127, 128, 255], jnp.uint8)
    np.testing.assert_allclose(steps.to_float(x), np.array([0, 1, 127, 128, 255]) / 127.5 - 1.0, rtol=1e-6, atol=1e-7)
    assert steps.to_float(x).dtype == jnp.float32
    assert float(steps.to_float(x)[0]) == -1.0 and float(steps.to_float(x)[-1]) == 1.0
    f = jnp.array([0.5, -0.25], jnp.bfloat16)
    assert steps.to_float(f).dtype == jnp.float32


def test_uint8_input_equals_float_input():
    state = dcgan_state()
    x8 = jax.random.randint(jax.random.PRNGKey(1), (4, 16, 16, 1), 0, 256).astype(jnp.uint8)
    xf = np.asarray(x8).astype(np.float32) / 127.5 - 1.0
    rng = jax.random.PRNGKey(2)
    s8, m8 = run_step(state, {"x": x8}, rng)
    sf, mf = run_step(state, {"x": jnp.asarray(xf)}, rng)
    assert_trees_close(array_leaves(s8), array_leaves(sf), rtol=1e-5, atol=1e-6, what="uint8 vs float: ")
    assert_trees_close(m8, mf, rtol=1e-5, atol=1e-6, what="metrics ")


# ----------------------------------------------------------------------------- (e) EMA


def test_ema_update():
    decay = 0.9
    state = mlp_state(ema_decay=decay)
    batch = {"x": real_batch((16, 2))}
    rng = jax.random.PRNGKey(4)
    # make EMA differ from the online parameters before the step so both terms matter
    state = state.replace(ema_params=jax.tree.map(lambda p: p + 0.5, state.g_params))
    new, _ = run_step(state, batch, rng)
    expected = jax.tree.map(lambda old, p: decay * old + (1.0 - decay) * p, state.ema_params, new.g_params)
    assert_trees_close(new.ema_params, expected, rtol=1e-6, atol=1e-6, what="ema")
    # and once more from the updated state
    new2, _ = run_step(new, batch, rng)
    expected2 = jax.tree.map(lambda old, p: decay * old + (1.0 - decay) * p, new.ema_params, new2.g_params)
    assert_trees_close(new2.ema_params, expected2, rtol=1e-6, atol=1e-6, what="ema step 2")


def test_generate_uses_ema_in_inference_mode():
    state = dcgan_state()
    state, _ = run_step(state, {"x": real_batch((4, 16, 16, 1))}, jax.random.PRNGKey(0))
    state = state.replace(ema_params=jax.tree.map(lambda p: p * 0.9, state.g_params))
    z = jax.random.normal(jax.random.PRNGKey(1), (3, 8))
    out = steps.generate(state, z)
    ref = state.generator.apply({"params": state.ema_params, **state.g_state}, z, train=False)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    online = steps.generate(state, z, use_ema=False)
    ref = state.generator.apply({"params": state.g_params, **state.g_state}, z, train=False)
    np.testing.assert_allclose(online, ref, rtol=1e-6, atol=1e-6)
    assert out.shape == (3, 16, 16, 1)
    assert not np.allclose(out, online)


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
    # abstract evaluation of create_state and the whole train step: shapes only, no compilation
    spec = GANSpec(z_dim=8, pack=2)
    state = jax.eval_shape(
        lambda k: create_state(
            generator=G_DCGAN, discriminator=D_DCGAN, g_tx=TX_DCGAN, d_tx=TX_DCGAN, spec=spec, data_shape=(16, 16, 1), rng=k
        ),
        jax.random.PRNGKey(0),
    )
    # D was initialised on packed inputs: 2 * 1 input channels
    assert state.d_params["Conv_0"]["kernel"].shape == (4, 4, 2, 8)
    x = jax.ShapeDtypeStruct((6, 16, 16, 1), jnp.float32)
    packed = jax.eval_shape(lambda x: pack(x, 2), x)
    assert packed.shape == (3, 16, 16, 2)
    logits = jax.eval_shape(
        lambda p, s, x: state.discriminator.apply({"params": p, **s}, x, train=False), state.d_params, state.d_state, packed
    )
    assert logits.shape == (3,)
    new_state, metrics = jax.eval_shape(steps.train_step, state, {"x": x}, jax.random.PRNGKey(0))
    assert new_state.d_params["Conv_0"]["kernel"].shape == (4, 4, 2, 8)
    assert set(metrics) == BASE_D_KEYS | G_KEYS


def test_packed_discriminator_mlp_with_penalty():
    state = mlp_state(pack=2, loss="wasserstein", d_penalties=(Penalty("gp", gradient_penalty, 10.0),))
    assert state.d_params["Dense_0"]["kernel"].shape == (4, 16)
    state, m = run_step(state, {"x": real_batch((8, 2))}, jax.random.PRNGKey(0))
    assert all(np.isfinite(float(v)) for v in m.values())
    with pytest.raises(ValueError, match="pack"):
        steps.train_step(state, {"x": real_batch((7, 2))}, jax.random.PRNGKey(0))


# ----------------------------------------------------------------------------- (g) spec validation


def test_conditional_without_num_classes_raises():
    with pytest.raises(ValueError, match="num_classes"):
        mlp_state(conditional=True)
    with pytest.raises(ValueError, match="num_classes"):
        mlp_state(conditional=True, num_classes=0)


def test_conditional_state_trains():
    state = mlp_state(conditional=True, num_classes=3, n_critic=2)
    batch = {"x": real_batch((2, 6, 2)), "y": jnp.array([[0, 1, 2, 0, 1, 2]] * 2, jnp.int32)}
    state, m = run_step(state, batch, jax.random.PRNGKey(0))
    assert int(state.step) == 1 and all(np.isfinite(float(v)) for v in m.values())


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(loss="wgan"), "unknown GAN loss"),
        (dict(n_critic=0), "n_critic"),
        (dict(pack=0), "pack"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(ema_decay=-0.1), "ema_decay"),
        (dict(loss="hinge", label_smoothing=0.1), "label_smoothing"),
        (dict(conditional=True, pack=2), "pack"),
    ],
)
def test_spec_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        GANSpec(z_dim=4, **kw)


def test_invalid_label_smoothing_raises_in_step():
    state = mlp_state(loss="minimax", label_smoothing=1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        steps.train_step(state, {"x": real_batch((4, 2))}, jax.random.PRNGKey(0))


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
    state = dcgan_state()
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 8))
    x = steps.generate(state, z, use_ema=False)
    assert x.shape == (4, 16, 16, 1) and float(jnp.max(jnp.abs(x))) <= 1.0
    logits = state.discriminator.apply({"params": state.d_params, **state.d_state}, x, train=False)
    assert logits.shape == (4,) and np.all(np.isfinite(np.asarray(logits)))


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


# ----------------------------------------------------------------------------- (i) GAN family: spectral norm in the step

import flax.linen as nn  # noqa: E402

from gan_jax import parallel  # noqa: E402
from gan_jax.models import SN_COLLECTION, SNDense  # noqa: E402
from gan_jax.models.spectral import power_iteration  # noqa: E402
from gan_jax.regularizers import orthogonal_penalty  # noqa: E402
from gan_jax.state import make_optimizer  # noqa: E402


class SNMLPDiscriminator(nn.Module):
    """A tiny spectrally normalised critic; ``aux_classes > 0`` adds an ACGAN head."""

    hidden: int = 16
    aux_classes: int = 0
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, y=None, *, train: bool = True):
        h = nn.leaky_relu(SNDense(self.hidden)(x, update_stats=train), 0.2)
        logits = SNDense(1)(h, update_stats=train)[:, 0]
        if self.aux_classes:
            return logits, nn.Dense(self.aux_classes)(h)
        return logits


D_SN = SNMLPDiscriminator()
D_ACGAN = SNMLPDiscriminator(aux_classes=3)


@functools.lru_cache(maxsize=None)
def _custom_state(d, spec_items, num_classes):
    return create_state(
        generator=G_MLP, discriminator=d, g_tx=TX_MLP, d_tx=TX_MLP, spec=GANSpec(**dict(spec_items)), data_shape=(2,), rng=jax.random.PRNGKey(0), num_classes=num_classes
    )


def sn_state(d=D_SN, num_classes=0, **spec_kw):
    return _custom_state(d, tuple(sorted(dict(spec_kw, z_dim=4, ema_decay=0.9).items())), num_classes)


def test_spectral_norm_one_power_iteration_per_d_step():
    state = sn_state(loss="hinge")
    real = real_batch((8, 2))
    rng = jax.random.PRNGKey(3)
    new, m = d_step_jit(state, real, None, rng)
    # exactly one power iteration per D update, from the parameters D had before the update
    for layer in ("SNDense_0", "SNDense_1"):
        expected, _ = power_iteration(state.d_params[layer]["kernel"], state.d_state[SN_COLLECTION][layer]["u"], 1)
        np.testing.assert_allclose(np.asarray(new.d_state[SN_COLLECTION][layer]["u"]), np.asarray(expected), rtol=1e-5, atol=1e-7)
    # both passes used the same (updated) sigma: D in eval mode with the new u reproduces the metrics
    d_eval = lambda x: state.discriminator.apply({"params": state.d_params, **new.d_state}, x, train=False)  # noqa: E731
    k_z, _ = jax.random.split(rng)
    fake = state.generator.apply({"params": state.g_params}, jax.random.normal(k_z, (8, 4)), train=True)
    r, f = losses.hinge_d(real_logits=d_eval(real), fake_logits=d_eval(fake))
    np.testing.assert_allclose(float(m["loss/d_real"]), float(r), rtol=1e-5)
    np.testing.assert_allclose(float(m["loss/d_fake"]), float(f), rtol=1e-5)
    # the G step reads u but never advances it
    after_g, _ = g_step_jit(new, 8, None, jax.random.PRNGKey(4))
    assert_trees_close(after_g.d_state, new.d_state, rtol=0, atol=0, what="u after g_step ")


def test_spectral_norm_critic_loop_unrolled_equals_scan(monkeypatch):
    state = sn_state(loss="hinge", n_critic=3)
    batch = {"x": real_batch((3, 8, 2))}
    rng = jax.random.PRNGKey(5)
    unrolled, m1 = run_step(state, batch, rng)
    monkeypatch.setattr(steps, "CRITIC_UNROLL_MAX", 0)
    scanned, m2 = jax.jit(lambda s, b, r: steps.train_step(s, b, r))(fresh(state), batch, rng)
    assert_trees_close(array_leaves(unrolled), array_leaves(scanned), what="unrolled vs scan: ")
    assert_trees_close(m1, m2, what="metrics ")
    u0 = state.d_state[SN_COLLECTION]["SNDense_0"]["u"]
    assert not np.allclose(np.asarray(unrolled.d_state[SN_COLLECTION]["SNDense_0"]["u"]), np.asarray(u0))


def test_spectral_norm_under_pmap_matches_single_device():
    state = sn_state(loss="hinge", n_critic=2)
    batch = {"x": real_batch((2, 8, 2))}
    rng = jax.random.PRNGKey(6)
    single, m_single = run_step(state, batch, rng)
    devices = jax.local_devices()[:1]
    step = parallel.pmap_train_step(devices=devices)
    rep = parallel.replicate_for_pmap(parallel.pmap_state(fresh(state)), devices)
    out, m = step(rep, parallel.split_for_pmap(batch, 1, n_critic=2), rng)
    out = parallel.pmap_state(parallel.unreplicate(out), None)
    assert_trees_close(array_leaves(out), array_leaves(single), what="pmap vs single: ")
    assert_trees_close(parallel.unreplicate(m), m_single, what="metrics ")


# ----------------------------------------------------------------------------- (j) GAN family: recipes in the step


def test_weight_clipping_after_d_update():
    state = mlp_state(loss="wasserstein", d_weight_clip=0.01, n_critic=2)
    new, _ = run_step(state, {"x": real_batch((2, 8, 2))}, jax.random.PRNGKey(0))
    for leaf in jax.tree.leaves(new.d_params):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01
    assert any(float(jnp.max(jnp.abs(leaf))) == np.float32(0.01) for leaf in jax.tree.leaves(new.d_params))  # clipping was active


def test_acgan_step_losses():
    state = sn_state(d=D_ACGAN, num_classes=3, conditional=True, aux_weight=0.5)
    y = jnp.array([0, 1, 2, 0, 1, 2], jnp.int32)
    real = real_batch((6, 2))
    new, m = d_step_jit(state, real, y, jax.random.PRNGKey(1))
    np.testing.assert_allclose(float(m["loss/d"]), float(m["loss/d_real"] + m["loss/d_fake"] + 0.5 * m["loss/d_aux"]), rtol=1e-6)
    # the real-data class term by hand (eval mode with the updated u reproduces the train-mode pass)
    _, cls = state.discriminator.apply({"params": state.d_params, **new.d_state}, real, y, train=False)
    real_ce = losses.classifier_ce(class_logits=cls, labels=y)
    assert 0.0 < float(real_ce) < float(m["loss/d_aux"])
    _, gm = g_step_jit(new, 6, y, jax.random.PRNGKey(2))
    np.testing.assert_allclose(float(gm["loss/g"]), float(gm["loss/g_adv"] + 0.5 * gm["loss/g_aux"]), rtol=1e-6)
    with pytest.raises(ValueError, match="ACGAN"):
        d_step_jit(sn_state(d=D_ACGAN, num_classes=3, conditional=True), real, y, jax.random.PRNGKey(1))


def test_relativistic_generator_step_uses_real_logits():
    state = mlp_state(loss="relativistic_avg")
    real = real_batch((8, 2))
    rng = jax.random.PRNGKey(2)
    _, m = steps.g_step(state, 8, None, rng, real)
    z = jax.random.normal(rng, (8, 4))
    d = lambda x: state.discriminator.apply({"params": state.d_params}, x, train=True)  # noqa: E731
    fake = state.generator.apply({"params": state.g_params}, z, train=True)
    np.testing.assert_allclose(float(m["loss/g"]), float(losses.relativistic_avg_g(fake_logits=d(fake), real_logits=d(real))), rtol=1e-5)
    with pytest.raises(ValueError, match="real batch"):
        steps.g_step(state, 8, None, rng)
    new, metrics = run_step(mlp_state(loss="relativistic_avg_ls", n_critic=2), {"x": real_batch((2, 8, 2))}, rng)
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_historical_averaging_state():
    state = mlp_state(hist_weight=0.1)
    assert set(state.hist_params) == {"g", "d"}
    new, m = run_step(state, {"x": real_batch((8, 2))}, jax.random.PRNGKey(0))
    assert float(m["penalty/d_hist"]) == 0.0 and float(m["penalty/g_hist"]) == 0.0  # average == current at step 0
    mean = lambda a, b: jax.tree.map(lambda x, y: (x + y) / 2, a, b)  # noqa: E731
    assert_trees_close(new.hist_params["d"], mean(state.d_params, new.d_params), what="d average ")
    assert_trees_close(new.hist_params["g"], mean(state.g_params, new.g_params), what="g average ")
    _, m2 = run_step(new, {"x": real_batch((8, 2))}, jax.random.PRNGKey(0))
    expected = 0.1 * sum(float(jnp.sum((p - a) ** 2)) for p, a in zip(jax.tree.leaves(new.d_params), jax.tree.leaves(new.hist_params["d"])))
    np.testing.assert_allclose(float(m2["penalty/d_hist"]), expected, rtol=1e-5)
    assert mlp_state().hist_params == {}


def test_orthogonal_regularisation_in_g_step():
    state = mlp_state(g_ortho_weight=0.1)
    _, m = g_step_jit(state, 8, None, jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(m["penalty/g_ortho"]), 0.1 * float(orthogonal_penalty(state.g_params)), rtol=1e-5)
    np.testing.assert_allclose(float(m["loss/g"]), float(m["loss/g_adv"] + m["penalty/g_ortho"]), rtol=1e-6)


def test_augment_hook_applies_to_real_and_fake(monkeypatch):
    import sys
    import types

    calls = []

    def fake_diff_augment(x, rng, policy):
        calls.append(policy)
        return 2.0 * x + 1.0  # differentiable and easy to reproduce

    monkeypatch.setitem(sys.modules, "gan_jax.augment", types.SimpleNamespace(diff_augment=fake_diff_augment))
    state = mlp_state(augment=("double",))
    real = real_batch((8, 2))
    rng = jax.random.PRNGKey(1)
    _, m = steps.d_step(state, real, None, rng)
    d = lambda x: state.discriminator.apply({"params": state.d_params}, x, train=True)  # noqa: E731
    np.testing.assert_allclose(float(m["d/real_logits"]), float(jnp.mean(d(2.0 * real + 1.0))), rtol=1e-5)
    _, gm = steps.g_step(state, 8, None, rng)
    fake = lambda p: state.generator.apply({"params": p}, jax.random.normal(rng, (8, 4)), train=True)  # noqa: E731
    loss = lambda p: losses.nonsaturating_g(fake_logits=d(2.0 * fake(p) + 1.0))  # noqa: E731
    np.testing.assert_allclose(float(gm["loss/g"]), float(loss(state.g_params)), rtol=1e-5)
    # G's gradient flows through the augmentation
    np.testing.assert_allclose(float(gm["grad_norm/g"]), float(steps._global_norm(jax.grad(loss)(state.g_params))), rtol=1e-4)
    assert calls and all(c == ("double",) for c in calls)


def test_instance_noise_changes_what_d_sees():
    real = real_batch((8, 2))
    rng = jax.random.PRNGKey(1)
    _, m0 = steps.d_step(mlp_state(), real, None, rng)
    _, m1 = steps.d_step(mlp_state(instance_noise=0.5, instance_noise_anneal=100), real, None, rng)
    assert float(m0["d/real_logits"]) != float(m1["d/real_logits"])
    assert float(m0["d/fake_logits"]) != float(m1["d/fake_logits"])
    # annealed to zero: identical to no noise
    state = mlp_state(instance_noise=0.5, instance_noise_anneal=1).replace(step=jnp.asarray(1, jnp.int32))
    _, m2 = steps.d_step(state, real, None, rng)
    _, m3 = steps.d_step(mlp_state().replace(step=jnp.asarray(1, jnp.int32)), real, None, rng)
    assert_trees_close(m2, m3, rtol=1e-6, atol=1e-7, what="noise at std 0 ")


def test_optimizers():
    g = {"w": jnp.array([0.5, -2.0])}
    p = {"w": jnp.array([1.0, 1.0])}
    tx = make_optimizer("rmsprop", 0.1)
    u, _ = tx.update(g, tx.init(p), p)
    # PyTorch RMSprop, first step: v = 0.01 g^2; update = -lr g / (sqrt(v) + eps) = -lr sign(g) / 0.1
    np.testing.assert_allclose(np.asarray(u["w"]), -0.1 * np.sign([0.5, -2.0]) / (0.1 + 1e-8 / np.abs([0.5, -2.0])), rtol=1e-5)
    tx = make_optimizer("optimistic_adam", 0.1)
    u, _ = tx.update(g, tx.init(p), p)
    assert np.all(np.isfinite(np.asarray(u["w"])))
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("sgd", 0.1)


def test_diff_augment_policy_traces_through_the_step():
    """The real ``gan_jax.augment.diff_augment`` in both phases (abstract evaluation: shapes, no compilation)."""
    from gan_jax.augment import diff_augment

    spec = GANSpec(z_dim=8, augment=("color", "translation", "cutout"))
    state = jax.eval_shape(
        lambda k: create_state(generator=G_DCGAN, discriminator=D_DCGAN, g_tx=TX_DCGAN, d_tx=TX_DCGAN, spec=spec, data_shape=(16, 16, 1), rng=k),
        jax.random.PRNGKey(0),
    )
    x = jax.ShapeDtypeStruct((4, 16, 16, 1), jnp.uint8)
    new_state, metrics = jax.eval_shape(steps.train_step, state, {"x": x}, jax.random.PRNGKey(0))
    assert set(metrics) == BASE_D_KEYS | G_KEYS
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert diff_augment(jnp.zeros((1, 4, 4, 1)), jax.random.PRNGKey(0), ()).shape == (1, 4, 4, 1)
