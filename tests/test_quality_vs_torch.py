"""benchmarks/quality_vs_torch.py: both frameworks train the same recipe and are scored by the same code;
the PyTorch side (torch_models.TorchGAN) has gan_jax's networks and recipe pieces.

A file of its own so that pytest-xdist (``--dist loadfile``) runs it beside test_benchmarks.py."""

import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))


def test_quality_vs_torch_end_to_end(tmp_path):
    """Both frameworks train the same tiny DCGAN on the bundled digits and are scored by the same
    code; a recipe the PyTorch side lacks is one line and exit code 2."""
    for name in ("dcgan_digits", "stylegan2_mnist"):  # DiffAugment; another family
        bad = subprocess.run([sys.executable, str(BENCH / "quality_vs_torch.py"), name], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"}, cwd=ROOT)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and name in bad.stderr, bad.stderr[-2000:]

    out = tmp_path / "q.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "quality_vs_torch.py"), "dcgan_digits", "--steps", "3", "--seeds", "0", "--num", "64",
         "--metrics", "fid", "--threads", "1", "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "log.every=1",
         "--set", "log.sample_every=1000", "--set", "log.num_samples=16", "--set", "data.augment=", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["framework"], r["variant"]) for r in rows] == [("gan_jax", "raw"), ("gan_jax", "ema"), ("pytorch", "raw")]
    # the same networks on both sides, trained for the same steps, scored by the same metric
    assert len({(r["n_params_g"], r["n_params_d"], r["steps"]) for r in rows}) == 1 and rows[0]["steps"] == 3
    assert all(math.isfinite(r["fid_mnist"]) and r["fid_mnist"] > 0 for r in rows)
    assert "| pytorch | raw | 1 |" in proc.stderr


def test_quality_vs_torch_conditional(tmp_path):
    """A class-conditional recipe (cgan_mnist's MLP cGAN, at 16 px on the bundled digits): both frameworks
    report the label accuracy of balanced-class samples beside FID, and save comparable grids."""
    out, grids = tmp_path / "q.json", tmp_path / "grids"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "quality_vs_torch.py"), "cgan_mnist", "--steps", "3", "--seeds", "0", "--num", "50",
         "--metrics", "fid", "--threads", "1", "--set", "data.name=digits", "--set", "data.image_size=16", "--set", "model.g_hidden=16,32",
         "--set", "model.d_hidden=32,16", "--set", "log.every=1", "--set", "log.num_samples=20", "--out", str(out), "--grids", str(grids)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["framework"], r["variant"]) for r in rows] == [("gan_jax", "raw"), ("gan_jax", "ema"), ("pytorch", "raw")]
    assert len({(r["n_params_g"], r["n_params_d"]) for r in rows}) == 1
    assert all(0.0 <= r["acc_mnist"] <= 1.0 and math.isfinite(r["fid_mnist"]) for r in rows)
    assert "acc_mnist" in proc.stderr  # a column of the table
    assert sorted(p.name for p in grids.iterdir()) == ["cgan_mnist_gan_jax_seed0.png", "cgan_mnist_pytorch_seed0.png"]


def test_quality_vs_torch_experiments_same_parameter_counts():
    """Every experiment quality_vs_torch.py trains in PyTorch builds networks with gan_jax's parameter
    counts at the experiment's full size (torch on the meta device, gan_jax through jax.eval_shape)."""
    import jax
    import jax.numpy as jnp
    from quality_vs_torch import _config, torch_family
    from torch_models import build_models, n_params

    from gan_jax.config import UserError, list_experiments
    from gan_jax.families import classic

    args = types.SimpleNamespace(steps=0, set=[], data_dir="")
    checked = []
    for name in list_experiments():
        try:
            config = _config(name, args, 0)
        except UserError:
            continue  # no PyTorch side (refused in one line, tested above)
        shape = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3)}.get(config.data.name, (config.data.image_size,) * 2 + (1,))
        dataset = types.SimpleNamespace(name=config.data.name, data_shape=shape, num_classes=10, is_image=True)
        g, d = classic.build_models(config, dataset)
        fam = torch_family(config, dataset)
        y = jnp.zeros((1,), jnp.int32) if fam.num_classes else None
        count = lambda m, *a: sum(math.prod(x.shape) for x in jax.tree.leaves(
            jax.eval_shape(lambda: m.init(jax.random.key(0), *a, y, train=False))["params"]))
        with torch.device("meta"):
            tg, td = build_models(fam)
        assert (count(g, jnp.zeros((1, fam.z_dim))), count(d, jnp.zeros((1, *shape)))) == (n_params(tg), n_params(td)), name
        checked.append(name)
    assert {"gan_mnist", "dcgan_mnist", "dcgan_cifar10", "cgan_mnist", "acgan_mnist", "wgan_mnist", "dragan_mnist", "lsgan_cifar10",
            "wgan_gp_cifar10", "sngan_cifar10", "sngan_proj_cifar10"} <= set(checked), checked


def test_torch_gan_recipe_pieces():
    """TorchGAN's WGAN pieces (RMSprop, clipping), the linear learning-rate decay and the least-squares loss
    against hand values; an ACGAN step on a tiny DCGAN."""
    from gan_families import Family
    from torch_models import TorchGAN, _d_loss, _g_loss

    real, fake = torch.tensor([1.5, 0.5]), torch.tensor([0.0, 2.0])
    assert _d_loss("least_squares", real, fake).item() == pytest.approx(0.5 * (0.25 + 0.25) / 2 + 0.5 * (0 + 4) / 2)
    assert _g_loss("least_squares", fake).item() == pytest.approx(0.5 * (1 + 1) / 2)

    wgan = Family("w", "dcgan", (16, 16, 1), 4, g_width=2, d_width=2, loss="wasserstein", n_critic=2, optimizer="rmsprop",
                  weight_clip=0.01, lr_g=1e-3, lr_d=1e-3, lr_schedule="linear", ema_decay=0.0, ema_rampup=0.0)
    gan = TorchGAN(wgan, total_steps=4)
    assert isinstance(gan.opt_d, torch.optim.RMSprop) and gan.opt_d.defaults["alpha"] == 0.99
    for t in range(2):
        gan.step(torch.rand(2, 3, 1, 16, 16) * 2 - 1)
    assert all(p.abs().max().item() <= 0.01 for p in gan.D.parameters())
    # optax.linear_schedule(1e-3, 0, N) at the next update's count: G 2 of 4 updates done, D 4 of 8
    assert gan.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * (1 - 2 / 4))
    assert gan.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 * (1 - 4 / 8))

    acgan = Family("a", "dcgan", (16, 16, 1), 4, g_width=2, d_width=2, conditioning="acgan", num_classes=3, aux_weight=1.0,
                   weight_init="normal", ema_decay=0.0, ema_rampup=0.0)
    gan = TorchGAN(acgan)
    logits, cls = gan.D(torch.zeros(5, 1, 16, 16))
    assert logits.shape == (5,) and cls.shape == (5, 3)
    loss_d, loss_g = gan.step(torch.zeros(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]))
    # with the class terms, both losses exceed the adversarial part's ln 2 scale by about ln 3
    assert loss_d.item() > 2 * math.log(3) and loss_g.item() > math.log(3)
