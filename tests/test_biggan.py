"""BigGAN: conditional BatchNorm, hierarchical z, projection D, orthogonal penalty exclusion,
standing statistics, shapes, the classic family's ``model.arch=biggan`` and its experiments.

Tiny widths throughout; every forward pass is jitted (eagerly XLA:CPU compiles each op alone).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optax

from gan_jax.config import DataConfig, UserError, apply_overrides, load_experiment
from gan_jax.engine import EMA, Network, train_step_fn
from gan_jax.experiment import build_state
from gan_jax.families import classic as classic_family
from gan_jax.models import biggan
from gan_jax.models.biggan import G_SN_COLLECTION, BigGANDiscriminator, BigGANGenerator, LinearConditionalBatchNorm
from gan_jax.models.spectral import SN_COLLECTION, power_iteration
from gan_jax.regularizers import orthogonal_penalty
from gan_jax.standing import latent_batches, standing_statistics, with_standing_statistics

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO.parent / "shared" / "datasets"
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _compile(f, *args):
    """``f`` compiled for ``args``' shapes at XLA:CPU's cheapest optimisation level (these tests
    spend most of their time compiling)."""
    return jax.jit(f).lower(*args).compile(compiler_options=FAST_COMPILE)


def _init(module, *args):
    key = jax.random.PRNGKey(0)
    return _compile(lambda k: module.init(k, *args, train=False), key)(key)


def _sigma(w, u):
    """The spectral-norm divisor a layer uses with stored vector ``u`` and no power iteration."""
    return float(power_iteration(jnp.asarray(w).reshape(-1, w.shape[-1]), jnp.asarray(u), 0)[1])


def _gen(size=32, ch=2, z_dim=8, attention=(), **kw):
    return BigGANGenerator(image_shape=(size, size, 1), ch=ch, z_dim=z_dim, shared_dim=4, num_classes=3, attention_resolutions=attention, **kw)


@pytest.fixture(scope="module")
def tiny_g():
    """A 32 px G with 8 channels, z 8 (4 chunks of 2), shared embedding 4, and its variables."""
    g = _gen()
    return g, _init(g, jnp.zeros((2, 8)), jnp.zeros((2,), jnp.int32))


# ----------------------------------------------------------------------------- layers


def test_conditional_batch_norm_gain_and_bias_per_example():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 2, 2, 4)) * 2 + 1, jnp.float32)
    cond = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
    bn = LinearConditionalBatchNorm()
    v = _init(bn, x, cond)
    wg, wb = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    params = {"gain": {"kernel": jnp.asarray(wg, jnp.float32)}, "bias": {"kernel": jnp.asarray(wb, jnp.float32)}}
    # u = the top right singular vector: the layers then divide by the exact spectral norm
    sn = {name: {"u": jnp.asarray(np.linalg.svd(w)[2][0], jnp.float32)} for name, w in (("gain", wg), ("bias", wb))}
    variables = {"params": params, G_SN_COLLECTION: sn, "batch_stats": v["batch_stats"]}
    out, upd = jax.jit(lambda v: bn.apply(v, x, cond, train=True, mutable=["batch_stats"]))(variables)
    xn = np.asarray(x, np.float64)
    mean, var = xn.mean((0, 1, 2)), xn.var((0, 1, 2))
    normed = (xn - mean) / np.sqrt(var + 1e-5)
    gain = np.asarray(cond) @ (wg / np.linalg.norm(wg, 2))
    bias = np.asarray(cond) @ (wb / np.linalg.norm(wb, 2))
    expected = normed * (1 + gain[:, None, None, :]) + bias[:, None, None, :]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)
    # running statistics: PyTorch momentum 0.1 from (0, 1); the spectral vectors were not mutable
    np.testing.assert_allclose(np.asarray(upd["batch_stats"]["bn"]["mean"]), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(upd["batch_stats"]["bn"]["var"]), 0.9 + 0.1 * var, rtol=1e-5)
    # inference: the running statistics instead of the batch's
    stats = {"bn": {"mean": jnp.full(4, 0.5), "var": jnp.full(4, 4.0)}}
    out = jax.jit(lambda v: bn.apply(v, x, cond, train=False))({**variables, "batch_stats": stats})
    expected = (xn - 0.5) / np.sqrt(4.0 + 1e-5) * (1 + gain[:, None, None, :]) + bias[:, None, None, :]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


def _conditions_fn(g, variables, z, y):
    """A compiled ``z -> (each block's condition vector, the linear's output)``; the conditions are
    read back from each block's first conditional BatchNorm gain (``cond @ W / sigma``) by solving
    the (full column rank) linear map."""
    def run(z):
        _, state = g.apply(variables, z, y, train=False, capture_intermediates=True, mutable=["intermediates"])
        inter = state["intermediates"]
        return [inter[f"block{i}"]["bn1"]["gain"]["__call__"][0] for i in range(3)], inter["linear"]["__call__"][0]

    compiled = _compile(run, z)
    w_sn = []
    for i in range(3):
        w = variables["params"][f"block{i}"]["bn1"]["gain"]["kernel"]
        w_sn.append(np.asarray(w) / _sigma(w, variables[G_SN_COLLECTION][f"block{i}"]["bn1"]["gain"]["u"]))

    def conditions(z):
        gains, lin = compiled(z)
        return [np.linalg.lstsq(w.T, np.asarray(gain).T, rcond=None)[0].T for w, gain in zip(w_sn, gains)], np.asarray(lin)

    return conditions


def test_hierarchical_z_chunks_go_to_their_blocks(tiny_g):
    g, v = tiny_g  # 32 px: 3 blocks -> 4 chunks of 2
    assert g.z_chunks() == (2, 2, 2, 2)
    with pytest.raises(ValueError, match="not divisible by 4"):
        _gen(z_dim=10).z_chunks()
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 8))
    y = jnp.array([0, 2])
    shared = np.asarray(v["params"]["shared"]["embedding"])[np.asarray(y)]
    conditions = _conditions_fn(g, v, z, y)
    conds, lin = conditions(z)
    for i, c in enumerate(conds):  # block i sees concat(shared(y), chunk i + 1)
        np.testing.assert_allclose(c, np.concatenate([shared, np.asarray(z[:, 2 * (i + 1) : 2 * (i + 2)])], 1), atol=1e-4)
    for k in range(4):  # changing chunk k changes block k - 1's condition only (chunk 0: the linear's input)
        conds2, lin2 = conditions(z.at[:, 2 * k : 2 * k + 2].add(1.0))
        assert [not np.allclose(a, b, atol=1e-4) for a, b in zip(conds, conds2)] == [i == k - 1 for i in range(3)]
        assert (not np.allclose(lin, lin2)) == (k == 0)
    # without hierarchy every block sees the class embedding alone, the linear the whole z
    flat = _gen(hierarchical=False)
    vf = _init(flat, z, y)
    assert vf["params"]["linear"]["kernel"].shape[0] == 8
    shared = np.asarray(vf["params"]["shared"]["embedding"])[np.asarray(y)]
    for c in _conditions_fn(flat, vf, z, y)(z)[0]:
        np.testing.assert_allclose(c, shared, atol=1e-4)


def test_orthogonal_penalty_excludes_the_shared_embedding(tiny_g):
    w = jnp.array([[1.0, 1.0], [0.0, 1.0]])  # W^T W = [[1, 1], [1, 2]]: off-diagonal 1, 1 -> 2
    e = jnp.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])  # E^T E = [[10, 14], [14, 21]] -> 2 * 14^2 = 392
    params = {"shared": {"embedding": e}, "linear": {"kernel": w}, "embed": {"embedding": e}}
    np.testing.assert_allclose(float(orthogonal_penalty(params)), 2.0 + 392.0, rtol=1e-6)
    np.testing.assert_allclose(float(orthogonal_penalty(params, exclude=())), 2.0 + 2 * 392.0, rtol=1e-6)
    # a real generator: every kernel with ndim >= 2 except the shared embedding, computed by hand
    _, v = tiny_g

    def by_hand(params, skip):
        total = 0.0
        for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
            if p.ndim < 2 or path[0].key in skip:
                continue
            m = np.asarray(p, np.float64).reshape(-1, p.shape[-1])
            gram = m.T @ m
            total += np.sum((gram - np.diag(np.diag(gram))) ** 2)
        return total

    penalties = _compile(lambda p: (orthogonal_penalty(p), orthogonal_penalty(p, exclude=())), v["params"])
    got, full = (float(t) for t in penalties(v["params"]))
    np.testing.assert_allclose(got, by_hand(v["params"], {"shared"}), rtol=1e-4)
    np.testing.assert_allclose(full - got, by_hand({"shared": v["params"]["shared"]}, set()), rtol=1e-4)
    assert full - got > 0  # the (3 x 4) embedding's columns cannot all be orthogonal: it did count


# ----------------------------------------------------------------------------- standing statistics


def _bn_inputs_fn(g, variables, z, y):
    """A compiled ``(z, y) -> {BatchNorm path: its input}`` for a (no-attention) BigGAN G in training
    mode, from the captured outputs of the layers that feed each BatchNorm."""
    def run(z, y):
        _, state = g.apply(variables, z, y, train=True, capture_intermediates=True, mutable=["batch_stats", "intermediates"])
        inter = state["intermediates"]
        h = inter["linear"]["__call__"][0].reshape(z.shape[0], 4, 4, -1)
        out = {}
        for i in range(3):
            out[(f"block{i}", "bn1", "bn")] = h
            out[(f"block{i}", "bn2", "bn")] = inter[f"block{i}"]["conv1"]["__call__"][0]
            h = inter[f"block{i}"]["__call__"][0]
        out[("bn_out",)] = h
        return out

    return _compile(run, z, y)


def test_standing_statistics_average_the_batch_statistics(tiny_g):
    g, v = tiny_g
    batches = latent_batches(jax.random.PRNGKey(3), 3, 5, 8, 3)
    got = standing_statistics(g, v, batches)
    bn_inputs = _bn_inputs_fn(g, v, *batches[0])
    per_batch = [jax.tree.map(np.asarray, bn_inputs(*b)) for b in batches]
    assert len(per_batch[0]) == 7  # 3 blocks x 2 + the output BatchNorm
    for path in per_batch[0]:
        node = got
        for name in path:
            node = node[name]
        means = [x[path].astype(np.float64).mean((0, 1, 2)) for x in per_batch]
        vars_ = [x[path].astype(np.float64).var((0, 1, 2)) for x in per_batch]
        np.testing.assert_allclose(np.asarray(node["mean"]), np.mean(means, 0), rtol=1e-4, atol=1e-5, err_msg=str(path))
        np.testing.assert_allclose(np.asarray(node["var"]), np.mean(vars_, 0), rtol=1e-4, atol=1e-5, err_msg=str(path))
    # on a Network: the EMA copy's statistics are replaced, the rest untouched
    cols = {k: val for k, val in v.items() if k != "params"}
    net = Network(params=v["params"], collections=cols, opt_state=(), ema_params=v["params"], ema_collections=cols, module=g,
                  tx=optax.identity(), ema=EMA(0.9))
    new = with_standing_statistics(net, batches)
    for a, b in zip(jax.tree.leaves(new.ema_collections["batch_stats"]), jax.tree.leaves(got)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert new.collections is net.collections and new.ema_collections[G_SN_COLLECTION] is cols[G_SN_COLLECTION]
    raw = with_standing_statistics(net, batches, ema=False)
    assert raw.ema_collections is net.ema_collections and raw.collections["batch_stats"] is not cols["batch_stats"]


# ----------------------------------------------------------------------------- shapes and projection


@pytest.mark.parametrize("size,ch,z_dim", [(32, 2, 8), (64, 4, 10), (128, 8, 12)])
def test_output_shapes_and_attention(size, ch, z_dim):
    g = _gen(size, ch=ch, z_dim=z_dim, attention=(16, 64))
    d = BigGANDiscriminator(ch=ch, num_classes=3, attention_resolutions=(16, 64))
    z, y = jnp.zeros((2, z_dim)), jnp.zeros((2,), jnp.int32)
    vg = jax.eval_shape(lambda k: g.init(k, z, y, train=False), jax.random.PRNGKey(0))
    x = jax.eval_shape(lambda v: g.apply(v, z, y, train=False), vg)
    assert x.shape == (2, size, size, 1)
    vd = jax.eval_shape(lambda k: d.init(k, x, y, train=False), jax.random.PRNGKey(0))
    assert jax.eval_shape(lambda v: d.apply(v, x, y, train=False), vd).shape == (2,)
    # G: attention after the blocks that output 16 and 64 px; D: after those that output 16 and 64
    g_res = [8 * 2**i for i in range(len(biggan.G_ARCH[size]) - 1)]
    assert sorted(k for k in vg["params"] if k.startswith("attention")) == sorted(f"attention{i}" for i, r in enumerate(g_res) if r in (16, 64))
    d_res, r = [], size
    for _, down in biggan.D_ARCH[size]:
        r //= 2 if down else 1
        d_res.append(r)
    assert sorted(k for k in vd["params"] if k.startswith("attention")) == sorted(f"attention{i}" for i, r in enumerate(d_res) if r in (16, 64))
    assert G_SN_COLLECTION in vg and SN_COLLECTION not in vg and SN_COLLECTION in vd


def test_layouts_follow_the_reference():
    # G's linear output and block widths, D's widths at 64 px with ch = 4 (BigGAN-PyTorch G_arch / D_arch)
    g, d = _gen(64, ch=4, z_dim=10), BigGANDiscriminator(ch=4, num_classes=3)
    vg = jax.eval_shape(lambda k: g.init(k, jnp.zeros((1, 10)), jnp.zeros((1,), jnp.int32), train=False), jax.random.PRNGKey(0))
    assert vg["params"]["linear"]["kernel"].shape == (2, 4 * 4 * 64)
    assert [vg["params"][f"block{i}"]["conv2"]["kernel"].shape[-1] for i in range(4)] == [64, 32, 16, 8]
    assert vg["params"]["shared"]["embedding"].shape == (3, 4)
    assert vg["params"]["block0"]["bn1"]["gain"]["kernel"].shape == (4 + 2, 64)  # shared dim + chunk
    vd = jax.eval_shape(lambda k: d.init(k, jnp.zeros((1, 64, 64, 1)), jnp.zeros((1,), jnp.int32), train=False), jax.random.PRNGKey(0))
    assert [vd["params"][f"block{i}"]["conv2"]["kernel"].shape[-1] for i in range(5)] == [4, 8, 16, 32, 64]
    assert vd["params"]["block4"]["conv_sc"]["kernel"].shape == (1, 1, 32, 64)  # no downsampling, but 32 -> 64 channels
    with pytest.raises(ValueError, match="class-conditional"):
        jax.eval_shape(lambda k: BigGANGenerator(image_shape=(32, 32, 1), ch=2, z_dim=8).init(k, jnp.zeros((1, 8)), None, train=False),
                       jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="sizes"):
        jax.eval_shape(lambda k: _gen(28).init(k, jnp.zeros((1, 8)), jnp.zeros((1,), jnp.int32), train=False), jax.random.PRNGKey(0))


def test_projection_term():
    d = BigGANDiscriminator(ch=2, num_classes=3, attention_resolutions=())
    x = jax.random.normal(jax.random.PRNGKey(4), (2, 32, 32, 1))
    y1, y2 = jnp.array([0, 1]), jnp.array([2, 2])
    v = _init(d, x, y1)

    def run(y):
        out, state = d.apply(v, x, y, train=False, mutable=["intermediates"])
        return out, state["intermediates"]["features"][0]

    run = _compile(run, y1)
    (o1, phi), (o2, _) = run(y1), run(y2)
    table = np.asarray(v["params"]["embed"]["embedding"])
    e = table / _sigma(table, v[SN_COLLECTION]["embed"]["u"])
    expected = np.sum((e[np.asarray(y1)] - e[np.asarray(y2)]) * np.asarray(phi), axis=1)
    np.testing.assert_allclose(np.asarray(o1 - o2), expected, rtol=1e-4, atol=1e-4)
    assert np.abs(expected).min() > 1e-3


# ----------------------------------------------------------------------------- the family


def _tiny(name: str, extra=()):
    config = load_experiment(name)
    overrides = ["model.g_width=2", "model.d_width=2", "model.z_dim=8", "model.biggan_shared_dim=4", "train.batch_size=4", "train.steps=2",
                 "recipe.n_critic=1", f"data.dir={DATA_DIR}", *extra]
    return apply_overrides(config, overrides)


def _two_steps(config):
    dataset, recipe, state = build_state(config)
    stream = dataset.stream(config.train.batch_size, 0)
    g0 = jax.tree.map(np.asarray, (state.nets["G"].collections, state.nets["D"].collections))
    step = None
    for _ in range(2):
        k = recipe.batches_per_step
        parts = [next(stream) for _ in range(k)]
        batch = parts[0] if k == 1 else {key: np.stack([p[key] for p in parts]) for key in parts[0]}
        step = step or jax.jit(train_step_fn(recipe)).lower(state, batch).compile(compiler_options=FAST_COMPILE)
        state, metrics = step(state, batch)
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    g, d = state.nets["G"], state.nets["D"]
    for leaf in jax.tree.leaves((g.params, g.collections, g.ema_params, g.ema_collections, d.params, d.collections)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    # G's spectral vectors advance in its training-mode passes, D's in its real passes
    assert not np.allclose(g0[0][G_SN_COLLECTION]["linear"]["u"], np.asarray(g.collections[G_SN_COLLECTION]["linear"]["u"]))
    assert not np.allclose(g0[1][SN_COLLECTION]["block0"]["conv1"]["u"], np.asarray(d.collections[SN_COLLECTION]["block0"]["conv1"]["u"]))
    return recipe, state, metrics


def test_biggan_mnist_trains_two_steps(monkeypatch):
    monkeypatch.setattr(classic_family, "classic_gan", _fast_classic_gan)
    config = _tiny("biggan_mnist", ["recipe.g_ortho_weight=5e-5"])
    assert config.recipe.ema_start == 500 and config.data.image_size == 32
    recipe, state, metrics = _two_steps(config)
    assert recipe.num_classes == 10 and "penalty/g_ortho" in metrics
    g = state.nets["G"]
    assert g.ema == EMA(0.999, rampup=0.0, start=500)
    # before ema_start the EMA is a copy of the generator
    for a, b in zip(jax.tree.leaves(g.ema_params), jax.tree.leaves(g.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_biggan_cifar10_config_builds():
    config = _tiny("biggan_cifar10")
    full = load_experiment("biggan_cifar10")
    assert (full.model.z_dim, full.model.g_width, full.model.d_width, full.recipe.n_critic, full.train.batch_size) == (80, 96, 48, 5, 64)
    # the full-width networks on shapes only (no compilation): 384 channels in G, 192 in D
    dataset = SimpleNamespace(name="cifar10", num_classes=10, data_shape=(32, 32, 3), is_image=True)
    g, d = classic_family.build_models(full, dataset)
    vg = jax.eval_shape(lambda k: g.init(k, jnp.zeros((1, 80)), jnp.zeros((1,), jnp.int32), train=False), jax.random.PRNGKey(0))
    vd = jax.eval_shape(lambda k: d.init(k, jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,), jnp.int32), train=False), jax.random.PRNGKey(0))
    assert vg["params"]["block0"]["conv2"]["kernel"].shape[-1] == 384 and vd["params"]["block0"]["conv2"]["kernel"].shape[-1] == 192
    assert "attention1" in vg["params"] and "attention0" in vd["params"]  # both at 16 px
    g, d = classic_family.build_models(config, dataset)
    assert (g.ch, g.z_dim, d.ch) == (2, 8, 2)


def _fast_classic_gan(**kwargs):
    from gan_jax.recipes.classic import classic_gan, classic_recipe

    rng = kwargs.pop("rng")
    state = jax.jit(lambda k: classic_gan(rng=k, **kwargs)[1]).lower(rng).compile(compiler_options=FAST_COMPILE)(rng)
    return classic_recipe(kwargs["spec"], kwargs.get("name", "classic")), state


def test_user_errors():
    config = _tiny("biggan_mnist")
    labelled = SimpleNamespace(name="mnist", num_classes=10, data_shape=(32, 32, 1), is_image=True)
    with pytest.raises(UserError, match="model.arch=biggan is class-conditional; dataset 'folder:x' has no labels"):
        classic_family.build_models(config, SimpleNamespace(name="folder:x", num_classes=0, data_shape=(32, 32, 3), is_image=True))
    with pytest.raises(UserError, match=r"supports image sizes \[32, 64, 128\], got 28 \(MNIST: data.image_size=32"):
        classic_family.build_models(config, SimpleNamespace(**{**vars(labelled), "data_shape": (28, 28, 1)}))
    with pytest.raises(UserError, match="got 48"):
        classic_family.build_models(config, SimpleNamespace(**{**vars(labelled), "data_shape": (48, 48, 1)}))
    with pytest.raises(UserError, match="model.z_dim=10 is not divisible by 4"):
        classic_family.build_models(apply_overrides(config, ["model.z_dim=10"]), labelled)
    with pytest.raises(UserError, match="model.conditioning"):
        classic_family.build_models(apply_overrides(config, ["model.conditioning=none"]), labelled)
    with pytest.raises(UserError, match="biggan_init"):
        classic_family.build_models(apply_overrides(config, ["model.biggan_init=zeros"]), labelled)
    # through build_state: the bundled digits at 28 px
    with pytest.raises(UserError, match="got 28"):
        build_state(apply_overrides(config, ["data.name=digits", "data.image_size=28"]))
    assert DataConfig().image_size == 32
