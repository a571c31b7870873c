"""Image translation: U-Net / PatchGAN / ResNet networks, pix2pix and CycleGAN losses, the image
pool, phases sharing values, the CLI (train, translate, eval, bad input) and exact resume after SIGKILL."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from gan_jax import checkpoint
from gan_jax.cli import main
from gan_jax.config import read_config
from gan_jax.data.digits import load_digits
from gan_jax.engine import Phase, Recipe, init_network, init_state, make_train_step
from gan_jax.experiment import build_state
from gan_jax.models.translation import PatchGANDiscriminator, ResNetGenerator, UNetGenerator, UpConv3x3, patch_receptive_field
from gan_jax.recipes.translation import cycle_losses, gan_loss, identity_losses, init_pool, match_channels, pool_query

REPO = Path(__file__).resolve().parent.parent


def test_network_shapes_and_the_70x70_patch():
    x = jnp.zeros((2, 32, 32, 1))
    unet = UNetGenerator(out_channels=3, num_downs=5, ngf=4)
    v = jax.eval_shape(lambda: unet.init(jax.random.PRNGKey(0), x, train=False))
    assert jax.eval_shape(lambda v: unet.apply(v, x, train=False, rngs={"dropout": jax.random.PRNGKey(1)}), v).shape == (2, 32, 32, 3)
    p = v["params"]
    # skips: every decoder level but the innermost reads its own output concatenated with the encoder's
    assert p["up_4"]["kernel"].shape == (4, 4, 32, 32)  # innermost: 8 ngf in
    assert p["up_3"]["kernel"].shape == (4, 4, 64, 16)  # 2 x 8 ngf in (skip), 4 ngf out
    assert p["up_0"]["kernel"].shape == (4, 4, 8, 3)
    assert "bias" not in p["down_1"] and "scale" in p["down_norm_1"]["BatchNorm_0"]  # conv -> BatchNorm: no bias (the reference)
    # dropout blocks: num_downs - 5 (the reference's rule): none at 32 px, three at 256 px
    assert UNetGenerator(num_downs=8).num_downs - 5 == 3

    res = ResNetGenerator(out_channels=3, ngf=4, n_blocks=2)
    vr = jax.eval_shape(lambda: res.init(jax.random.PRNGKey(0), x, train=False))
    assert jax.eval_shape(lambda v: res.apply(v, x, train=False), vr).shape == (2, 32, 32, 3)
    assert sum(k.startswith("block_") and k.endswith("conv_0") for k in vr["params"]) == 2

    # PatchGAN: the receptive field of one logit, from the gradient w.r.t. the input (BatchNorm in
    # inference mode is per-pixel affine, so it does not spread the gradient)
    d = PatchGANDiscriminator(ndf=2, n_layers=3)
    img = jax.random.normal(jax.random.PRNGKey(0), (1, 128, 128, 3))
    vd = d.init(jax.random.PRNGKey(1), img, train=False)
    out = d.apply(vd, img, train=False)
    assert out.shape == (1, 14, 14)
    g = jax.grad(lambda z: d.apply(vd, z, train=False)[0, 7, 7])(img)
    rows, cols = np.nonzero(np.abs(np.asarray(g[0])).sum(-1))
    assert rows.max() - rows.min() + 1 == 70 == cols.max() - cols.min() + 1 == patch_receptive_field(3)
    assert patch_receptive_field(1) == 16


def test_upconv3x3_is_the_transposed_conv_of_cyclegan():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7, 3))
    layer = UpConv3x3(4)
    v = layer.init(jax.random.PRNGKey(1), x)
    ref = nn.ConvTranspose(4, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2))).apply(v, x)
    got = layer.apply(v, x)
    assert got.shape == (2, 10, 14, 4)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    torch = pytest.importorskip("torch")
    # PyTorch's ConvTranspose2d(3, stride 2, padding 1, output_padding=1): the same map with the kernel flipped
    t = torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(np.asarray(v["params"]["kernel"])[::-1, ::-1].transpose(2, 3, 0, 1).copy()))
        t.bias.copy_(torch.tensor(np.asarray(v["params"]["bias"])))
        y = t(torch.tensor(np.asarray(x).transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, y, atol=1e-5)


def test_losses_against_hand_computed_values():
    x = jnp.array([[0.0, 2.0], [-1.0, 1.0]])
    np.testing.assert_allclose(gan_loss(x, True, "lsgan"), ((1 + 1 + 4 + 0) / 4))
    np.testing.assert_allclose(gan_loss(x, False, "lsgan"), ((0 + 4 + 1 + 1) / 4))
    sp = lambda v: np.log1p(np.exp(v))
    np.testing.assert_allclose(gan_loss(x, True, "vanilla"), np.mean([sp(0), sp(-2), sp(1), sp(-1)]), rtol=1e-6)
    np.testing.assert_allclose(gan_loss(x, False, "vanilla"), np.mean([sp(0), sp(2), sp(-1), sp(1)]), rtol=1e-6)
    a = jnp.array([0.0, 0.5, -1.0, 1.0])
    rec_a = jnp.array([0.5, 0.5, -0.5, 1.0])  # |diff| = .5 0 .5 0 -> mean .25
    b = jnp.array([1.0, 1.0])
    rec_b = jnp.array([0.0, 1.0])  # mean .5
    ca, cb = cycle_losses(a, rec_a, b, rec_b, weight=10.0)
    np.testing.assert_allclose([ca, cb], [2.5, 5.0])
    ia, ib = identity_losses(a, rec_a, b, rec_b, weight=0.5, cycle_weight=10.0)  # the reference: 0.5 x 10 = 5
    np.testing.assert_allclose([ia, ib], [1.25, 2.5])
    # lambda_B apart from lambda_A: it weighs the cycle b -> a -> b and the identity G_ab(b) ~ b
    ca, cb = cycle_losses(a, rec_a, b, rec_b, weight=10.0, weight_b=2.0)
    np.testing.assert_allclose([ca, cb], [2.5, 1.0])
    ia, ib = identity_losses(a, rec_a, b, rec_b, weight=0.5, cycle_weight=10.0, cycle_weight_b=2.0)
    np.testing.assert_allclose([ia, ib], [1.25, 0.5])
    # domains with other channels meet through gray <-> RGB (ITU-R 601 luma)
    rgb = jnp.array([[[[1.0, 0.0, -1.0]]]])
    np.testing.assert_allclose(match_channels(rgb, 1), [[[[0.299 - 0.114]]]], rtol=1e-6)
    np.testing.assert_array_equal(match_channels(jnp.full((1, 1, 1, 1), 0.5), 3), jnp.full((1, 1, 1, 3), 0.5))
    with pytest.raises(ValueError, match="channels"):
        match_channels(jnp.zeros((1, 1, 1, 2)), 3)


def _reference_pool(size, images, draws):
    """pytorch-CycleGAN-and-pix2pix's ImagePool.query, fed the same uniforms and slots."""
    stored, out = [], []
    for image, (u, slot) in zip(images, draws):
        if len(stored) < size:
            stored.append(image)
            out.append(image)
        elif u > 0.5:
            out.append(stored[slot])
            stored[slot] = image
        else:
            out.append(image)
    return stored, out


def test_image_pool_swap_rule():
    size = 3
    pool = init_pool(size, (1, 1, 1))
    seen, expected_stored = [], None
    images_all = np.arange(1, 13, dtype=np.float32).reshape(4, 3, 1, 1, 1)  # 4 batches of 3 images
    returned = []
    draws = []
    for i, batch in enumerate(images_all):
        key = jax.random.PRNGKey(i)
        pool, out = pool_query(pool, jnp.asarray(batch), key)
        returned += list(np.asarray(out).ravel())
        for k in jax.random.split(key, len(batch)):  # the draws pool_query makes per image
            ku, ki = jax.random.split(k)
            draws.append((float(jax.random.uniform(ku)), int(jax.random.randint(ki, (), 0, size))))
        seen += list(batch.ravel())
    expected_stored, expected_out = _reference_pool(size, seen, draws)
    assert returned == expected_out
    assert list(np.asarray(pool["images"]).ravel()) == expected_stored and int(pool["count"]) == size
    assert returned[:size] == [1.0, 2.0, 3.0]  # filling: the new images pass through
    swaps = sum(u > 0.5 for u, _ in draws[size:])
    assert 0 < swaps < len(draws) - size  # both branches were taken
    assert pool_query(init_pool(0, (1, 1, 1)), jnp.ones((2, 1, 1, 1)), jax.random.PRNGKey(0))[1].shape == (2, 1, 1, 1)


def test_a_phase_shares_values_with_later_phases_of_the_step():
    class Lin(nn.Module):
        @nn.compact
        def __call__(self, x, *, train):
            return nn.Dense(1, use_bias=False)(x)

    x = jnp.ones((1, 2))

    def first(ctx):
        y = ctx.apply("A", x)
        ctx.share("y", y)
        return jnp.sum(y**2), {}

    def second(ctx):
        got = ctx.shared["y"]  # what the first phase computed, before A's update
        return jnp.sum(ctx.apply("B", x) * got), {"seen": jnp.sum(got)}

    tx = optax.sgd(0.1)
    state = init_state(jax.random.PRNGKey(0), {n: (lambda k: init_network(Lin(), tx, k, x)) for n in "AB"})
    recipe = Recipe("share", (Phase("first", first, updates=("A",)), Phase("second", second, updates=("B",))))
    before = float(jnp.sum(Lin().apply({"params": state.nets["A"].params}, x, train=False)))
    new, metrics = make_train_step(recipe, donate=False)(state, {})
    np.testing.assert_allclose(metrics["seen"], before, rtol=1e-6)
    assert jax.tree.structure(new) == jax.tree.structure(state)  # nothing shared is kept in the state


def test_a_later_phase_trains_through_a_kept_forward_pass():
    """pix2pix's G runs once per step: Gmain differentiates through the forward pass Dmain kept.
    The update must equal running G again in Gmain (the two-forward way), BatchNorm and dropout included."""

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, *, train):
            h = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x))
            h = nn.Dropout(0.5, deterministic=not train)(nn.relu(h))
            return nn.Dense(3)(h)

    class Disc(nn.Module):
        @nn.compact
        def __call__(self, x, *, train):
            return nn.Dense(1)(nn.tanh(nn.Dense(5)(x)))

    x = jax.random.normal(jax.random.PRNGKey(1), (6, 3))

    def phases(kept: bool):
        def d_main(ctx):
            rngs = {"dropout": ctx.key("dropout")}
            ctx.share("key", ctx.key("dropout"))
            f = ctx.apply_kept("G", x, rngs=rngs) if kept else jax.lax.stop_gradient(ctx.apply("G", x, keep_stats=False, rngs=rngs))
            return jnp.mean(ctx.apply("D", f) ** 2), {}

        def g_main(ctx):
            f = ctx.replay("G") if kept else ctx.apply("G", x, rngs={"dropout": ctx.shared["key"]})
            return jnp.mean(jnp.tanh(ctx.apply("D", f, keep_stats=False))) + jnp.mean(f**2), {"f": jnp.sum(f)}

        return (Phase("Dmain", d_main, updates=("D",), keys=("dropout",)), Phase("Gmain", g_main, updates=("G",)))

    tx = optax.adam(0.05)
    state = init_state(jax.random.PRNGKey(0), {"G": lambda k: init_network(Net(), tx, k, x),
                                               "D": lambda k: init_network(Disc(), tx, k, jnp.zeros((1, 3)))})
    ends = []
    for kept in (True, False):
        step, s = make_train_step(Recipe("p", phases(kept)), donate=False), state
        for i in range(3):
            s, m = step(s, {})
        ends.append((s, m))
    (a, ma), (b, mb) = ends
    assert float(jnp.abs(a.nets["G"].params["Dense_0"]["kernel"] - state.nets["G"].params["Dense_0"]["kernel"]).max()) > 1e-3
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):  # params, BatchNorm statistics, Adam states of G and D
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ma["f"], mb["f"], rtol=1e-5)

    def only_replay(ctx):
        return jnp.sum(ctx.replay("G")), {}

    with pytest.raises(ValueError, match="kept a forward pass"):
        make_train_step(Recipe("r", (Phase("Gmain", only_replay, updates=("G",)),)), donate=False)(state, {})


def _folders(tmp_path: Path, size: int = 16, n: int = 20) -> tuple[Path, Path]:
    """Two unpaired image folders: gray digits (a) and the same-sized colour digits (b)."""
    digits, _ = load_digits(size)
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    for i in range(n):
        Image.fromarray(digits[i, ..., 0]).save(a / f"{i:03d}.png")
        rgb = np.stack([digits[n + i, ..., 0], 255 - digits[n + i, ..., 0], digits[n + i, ..., 0] // 2], -1)
        Image.fromarray(rgb).save(b / f"{i:03d}.png")
    return a, b


def _tiny_cyclegan(a: Path, b: Path) -> list[str]:
    sets = [f"data.name=folders:{a},{b}", "data.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_blocks=1", "model.d_layers=2",
            "recipe.pool_size=3", "recipe.identity_weight=0.5", "train.batch_size=2", "log.every=2", "log.sample_every=1000",
            "log.eval_samples=4", "log.num_samples=8", "log.tensorboard=false", "checkpoint.every=2"]
    return [x for s in sets for x in ("--set", s)]


def _leaves(workdir: Path, step: int) -> list[np.ndarray]:
    _, _, target = build_state(read_config(workdir / "config.json"))
    return [np.asarray(x) for x in jax.tree.leaves(checkpoint.restore_state(workdir, target, step))]


def test_cyclegan_sigkill_then_resume_equals_uninterrupted(tmp_path, kill_after_checkpoint):
    a, b = _folders(tmp_path)
    args = _tiny_cyclegan(a, b)
    total = 40  # the lr decays over the last 20 (recipe.decay_steps=-1), so the killed run keeps train.steps
    ref = tmp_path / "ref"
    assert main(["train", "cyclegan_mnist_mnistm", "--workdir", str(ref), "--no-progress", *args, "--set", f"train.steps={total}"]) == 0
    metrics = [json.loads(l) for l in (ref / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/cycle_a" in m and "loss/d_b" in m for m in metrics)
    pools = checkpoint.restore_state(ref, build_state(read_config(ref / "config.json"))[2], total).extra["pools"]
    assert int(pools["a"]["count"]) == 3 and float(jnp.abs(pools["b"]["images"]).sum()) > 0  # full pools, in the checkpoint

    workdir = tmp_path / "w"
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "cyclegan_mnist_mnistm", "--workdir", str(workdir), "--no-progress", *args,
           "--set", f"train.steps={total}"]
    killed_at = kill_after_checkpoint(cmd, workdir, 4)
    assert 4 <= killed_at < total
    assert main(["train", "cyclegan_mnist_mnistm", "--workdir", str(workdir), "--no-progress", *args, "--set", f"train.steps={total}"]) == 0
    x, y = _leaves(workdir, total), _leaves(ref, total)
    assert len(x) == len(y)
    for u, v in zip(x, y):  # four networks, their Adam states, both pools, step, rng
        np.testing.assert_array_equal(u, v)


def test_pix2pix_train_translate_eval_and_bad_input(tmp_path, capsys):
    w = tmp_path / "p"
    tiny = ["data.name=digits_edges", "model.ngf=4", "model.ndf=4", "train.batch_size=4", "train.steps=3", "log.every=1",
            "log.sample_every=3", "log.eval_samples=16", "log.num_samples=16", "log.tensorboard=false", "recipe.decay_steps=2"]
    sets = [x for s in tiny for x in ("--set", s)]
    assert main(["train", "pix2pix_cifar10_edges", "--workdir", str(w), "--no-progress", *sets]) == 0
    rows = [json.loads(l) for l in (w / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/g_l1" in r and "loss/d_real" in r for r in rows)
    ev = [r for r in rows if "eval/a2b/ssim" in r]
    assert ev and {"eval/a2b/l1", "eval/a2b/psnr", "eval/a2b/fd_mnist", "eval/a2b/label_acc_mnist"} <= set(ev[-1])
    assert Image.open(w / "samples.png").size[0] > 0
    # eval: pixel metrics and the Frechet distance on the held-out pairs
    assert main(["eval", "--workdir", str(w), "--num", "32", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["a2b/l1"] <= 1 and -1 <= result["a2b/ssim"] <= 1 and result["a2b/fd_mnist"] >= 0
    assert (w / "eval" / "step_3.json").is_file()
    # translate a folder and a file
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray((np.random.default_rng(i).random((40, 48, 3)) * 255).astype(np.uint8)).save(src / f"x{i}.jpg")
    out = tmp_path / "out"
    assert main(["translate", "--workdir", str(w), "--input", str(src), "--out", str(out), "--grid"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x0.png", "x1.png", "x2.png"]
    assert Image.open(out / "x0.png").size == (32, 32) and (tmp_path / "out_grid.png").is_file()
    capsys.readouterr()
    # bad input: one line, exit 2, nothing written
    for argv, needle in [
        (["translate", "--workdir", str(w), "--input", str(src), "--out", str(tmp_path / "o2"), "--direction", "b2a"], "a2b only"),
        (["translate", "--workdir", str(w), "--input", str(src), "--out", str(out)], "exists"),
        (["translate", "--workdir", str(w), "--input", str(src / "x0.jpg"), "--out", str(tmp_path / "o.jpg")], ".png"),
        (["translate", "--workdir", str(w), "--input", str(tmp_path / "missing"), "--out", str(tmp_path / "o3")], "not found"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
    a, b = _folders(tmp_path)
    for extra, needle in [(["--set", f"data.name=folders:{a},{b}"], "unpaired"),
                          (["--set", "recipe.method=unit"], "recipe.method"),
                          (["--set", "data.image_size=48"], "power-of-two"),
                          (["--set", "data.name=digits"], "image-translation dataset")]:
        assert main(["train", "pix2pix_cifar10_edges", "--workdir", str(tmp_path / "bad"), *sets, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "bad").exists()
    cyc = ["train", "cyclegan_mnist_mnistm", "--workdir", str(tmp_path / "bad"), "--no-progress", *_tiny_cyclegan(a, b)]
    assert main([*cyc, "--set", "recipe.cycle_weight_b=-0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "recipe.cycle_weight_b=-0.5 must be >= 0, or -1" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
    # lambda_B reaches the step: 0 switches the cycle b -> a -> b off, and only it
    good = tmp_path / "lambda_b"
    cyc[3] = str(good)
    assert main([*cyc, "--set", "recipe.cycle_weight_b=0", "--set", "train.steps=1", "--set", "log.every=1"]) == 0
    first = json.loads((good / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss/cycle_b"] == 0 and first["loss/cycle_a"] > 0 and first["loss/idt_b"] == 0 and first["loss/idt_a"] > 0


def test_32px_pix2pix_experiments_discriminate_patches_not_the_whole_image():
    from gan_jax.config import load_experiment

    for name in ("pix2pix_cifar10_edges", "pix2pix_cifar10_gray"):
        cfg = load_experiment(name)
        # the paper's 70x70 patch is 27% of a 256 px image; 3 layers would see all of a 32 px one
        assert patch_receptive_field(cfg.model.d_layers) <= cfg.data.image_size // 2 < patch_receptive_field(3)


def test_l1_only_ablation_has_no_discriminator():
    from gan_jax.config import apply_overrides, load_experiment

    cfg = apply_overrides(load_experiment("pix2pix_cifar10_edges"), ["data.name=digits_edges", "recipe.gan_weight=0", "model.ngf=4"])
    _, recipe, state = build_state(cfg)
    assert set(state.nets) == {"G"} and [p.name for p in recipe.phases] == ["Gmain"]


def test_test_batch_statistics_never_include_padding():
    """pix2pix's test mode normalises with the test batch's statistics, so a short last batch must
    not be padded to the compiled size: its images translate as that batch alone would."""
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.translation_eval import translate

    cfg = apply_overrides(load_experiment("pix2pix_cifar10_edges"), ["data.name=digits_edges", "model.ngf=4", "model.ndf=4"])
    dataset, recipe, state = build_state(cfg)
    src = dataset.translation.test_a[:7]
    full = translate(recipe, state, src, batch_size=4)
    assert full.shape[0] == 7
    np.testing.assert_array_equal(full[4:], translate(recipe, state, src[4:], batch_size=4))
    np.testing.assert_array_equal(full[:4], translate(recipe, state, src[:4], batch_size=4))


def test_longer_schedule_on_resume_before_the_decay_equals_one_longer_run(tmp_path, capsys):
    """The lr is constant for the first half of train.steps, then decays to 0 (decay_steps=-1): a
    run stopped at step 2 of 4 (decay from 2) may resume with train.steps=6 (decay from 3), since
    no step taken so far depends on train.steps, and equals a 6-step run; from step 4 it may not."""
    import shutil

    from gan_jax.families.translation import steps_free_until
    from gan_jax.config import apply_overrides, load_experiment

    tiny = ["data.name=digits_edges", "model.ngf=4", "model.ndf=4", "train.batch_size=4", "log.every=2", "log.sample_every=100",
            "log.eval_samples=0", "log.num_samples=4", "log.tensorboard=false", "checkpoint.every=2", "checkpoint.keep=10"]
    cfg = apply_overrides(load_experiment("pix2pix_cifar10_edges"), [*tiny, "train.steps=4"])
    assert cfg.recipe.decay_steps == -1 and steps_free_until(cfg) == 2

    def train(workdir, steps):
        argv = ["train", "pix2pix_cifar10_edges", "--workdir", str(workdir), "--no-progress"]
        return main([*argv, *[x for s in [*tiny, f"train.steps={steps}"] for x in ("--set", s)]])

    assert train(tmp_path / "a", 4) == 0
    assert train(tmp_path / "a", 6) == 2  # resumed at step 4, past step 2: the lr of steps 2-3 would change
    err = capsys.readouterr().err.strip()
    assert "resuming at step 4" in err and "train.steps=4" in err and len(err.splitlines()) == 1, err
    stopped = tmp_path / "stopped"
    shutil.copytree(tmp_path / "a", stopped)
    shutil.rmtree(stopped / "checkpoints" / "4")  # as if stopped after the checkpoint of step 2
    (stopped / "report.json").unlink()
    assert train(stopped, 6) == 0 and train(tmp_path / "full", 6) == 0
    x, y = _leaves(stopped, 6), _leaves(tmp_path / "full", 6)
    assert len(x) == len(y)
    for u, v in zip(x, y):
        np.testing.assert_array_equal(u, v)
