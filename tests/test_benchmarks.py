"""The step-throughput benchmark: quick mode end to end (both frameworks, DCGAN and the MLP cGAN), and
every model family's PyTorch networks against gan_jax's (same parameter counts, same experiment)."""

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

FIELDS = {
    "model", "framework", "variant", "dtype", "batch", "images_per_sec", "g_steps_per_sec", "seconds_per_step", "real_batches_per_step",
    "device", "versions", "threads", "precision", "loadavg_start", "loadavg_end", "n_params_g", "n_params_d", "n_params_match",
    "flops_per_step", "flops_source", "flops_per_step_analytic", "achieved_tflops", "peak_tflops", "mfu",
}
QUICK_PEAK = 0.5  # TFLOP/s: any number, to check the MFU arithmetic


def test_step_throughput_quick(tmp_path):
    out = tmp_path / "quick.jsonl"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    # --threads 1: on a busy 2-core machine PyTorch's spinning OpenMP threads slow down by orders of magnitude
    proc = subprocess.run(
        [sys.executable, str(BENCH / "step_throughput.py"), "--quick", "--threads", "1", "--peak-tflops", f"float32={QUICK_PEAK}",
         "--peak-source", "test", "--forbid-imports", "grain,tensorflow_datasets,tensorflow", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines == [json.loads(line) for line in out.read_text().splitlines()]

    keys = {(r["model"], r["framework"], r["variant"], r["batch"]) for r in lines}
    assert len(keys) == len(lines), "one line per (model, framework, variant, batch)"
    assert {r["model"] for r in lines} == {"dcgan32", "mlp_cgan_mnist"}
    measured = [r for r in lines if "skipped" not in r]
    for r in measured:
        assert FIELDS <= r.keys(), FIELDS - r.keys()
        assert "error" not in r, r["error"]
        assert r["batch"] == 8 and r["width"] == 8 and r["real_batches_per_step"] == 1
        assert r["images_per_sec"] > 0 and r["seconds_per_step"] > 0
        # images/s counts real images: batch x n_critic per generator step
        assert abs(r["images_per_sec"] * r["seconds_per_step"] - r["batch"] * r["real_batches_per_step"]) < 1e-2 * r["batch"]
        assert abs(r["g_steps_per_sec"] * r["seconds_per_step"] - 1) < 1e-2
        assert len(r["loadavg_end"]) == 3 and r["threads"]["torch"] == 1
        # the model's FLOPs: XLA's count, the same on every line of the model, close to the hand count
        assert r["flops_per_step"] > 0 and 0.8 < r["flops_per_step"] / r["flops_per_step_analytic"] < 1.25, r
        assert r["achieved_tflops"] == pytest.approx(r["flops_per_step"] / r["seconds_per_step"] / 1e12, rel=1e-3)
        assert r["peak_tflops"] == QUICK_PEAK and r["mfu"] == pytest.approx(r["achieved_tflops"] / QUICK_PEAK, rel=1e-3)
    for model in ("dcgan32", "mlp_cgan_mnist"):
        rows = [r for r in measured if r["model"] == model]
        assert {r["framework"] for r in rows} == {"jax", "torch"}, model
        # both frameworks train the same parameter set, and every line of a model has one FLOP count
        assert len({(r["n_params_g"], r["n_params_d"]) for r in rows}) == 1 and all(r["n_params_match"] for r in rows)
        assert len({r["flops_per_step"] for r in rows}) == 1
    assert {"jit", "scan"} <= {r["variant"] for r in measured if r["framework"] == "jax"}
    assert "eager" in {r["variant"] for r in measured if r["framework"] == "torch"}
    dcgan = next(r for r in measured if r["model"] == "dcgan32")
    assert dcgan["n_params_g"] > dcgan["n_params_d"] > 0
    mlp = next(r for r in measured if r["model"] == "mlp_cgan_mnist")
    assert mlp["conditioning"] == "concat" and mlp["num_classes"] == 10 and mlp["g_hidden"] == [32, 64, 128]
    for r in lines:
        if "skipped" in r:
            assert r["images_per_sec"] is None and r["variant"] == "compile"

    # the tables read it
    from make_perf_table import markdown, text_table

    md = markdown([r for r in lines])
    assert "mlp_cgan_mnist" in md and "MFU" in md
    assert "dcgan32" in text_table(out)


def _families(width):
    from gan_families import FAMILIES, get_family

    return [get_family(name, width) for name in FAMILIES]


@pytest.mark.parametrize("width", [8, 64])
def test_families_same_parameter_count(width):
    """Every family's PyTorch G and D have gan_jax's parameter counts (jax.eval_shape; torch on the meta device)."""
    from step_throughput import jax_param_counts
    from torch_models import build_models, n_params

    for fam in _families(width):
        with torch.device("meta"):
            g, d = build_models(fam)
        assert jax_param_counts(fam) == {"g": n_params(g), "d": n_params(d)}, fam.name


def test_families_are_the_experiments():
    """At full size the benchmark's JAX networks and recipe settings are those of the shipped experiment."""
    from gan_jax.config import load_experiment
    from gan_jax.families import classic
    from step_throughput import jax_param_counts, jax_spec

    import jax
    import jax.numpy as jnp

    for fam in _families(64):
        if not fam.experiment.isidentifier():
            continue  # dcgan64: the PyTorch DCGAN example, no experiment
        config = load_experiment(fam.experiment)
        h, w, c = fam.image_shape
        dataset = types.SimpleNamespace(name=config.data.name, data_shape=fam.image_shape, num_classes=10, is_image=True)
        assert config.data.image_size == h, fam.name
        g, d = classic.build_models(config, dataset)
        y = jnp.zeros((1,), jnp.int32) if fam.conditional else None
        count = lambda m, *a: sum(math.prod(x.shape) for x in jax.tree.leaves(jax.eval_shape(lambda: m.init(jax.random.key(0), *a, y, train=False))["params"]))
        assert jax_param_counts(fam) == {"g": count(g, jnp.zeros((1, fam.z_dim))), "d": count(d, jnp.zeros((1, h, w, c)))}, fam.name
        ours, theirs = jax_spec(fam), classic.build_spec(config, dataset.num_classes)
        for field in ("z_dim", "loss", "n_critic", "num_classes"):
            assert getattr(ours, field) == getattr(theirs, field), (fam.name, field)
        assert [(p.name, p.weight, p.every) for p in ours.d_penalties] == [(p.name, p.weight, p.every) for p in theirs.d_penalties], fam.name
        # the EMA's decay and ramp-up are scalars of the update, not work: only its presence matters here
        assert (ours.ema is None) == (theirs.ema is None), fam.name
        r = config.recipe
        assert (fam.lr_g, fam.lr_d, fam.betas) == (r.lr_g, r.lr_d, (r.b1, r.b2)), fam.name


def test_torch_steps_every_family():
    """One eager PyTorch step of every family at tiny size: finite losses, n_critic real batches per step."""
    from torch_models import TorchGAN

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for fam in _families(4):
            gan = TorchGAN(fam)
            h, w, c = fam.image_shape
            reals = torch.rand(fam.n_critic, 4, c, h, w) * 2 - 1
            labels = torch.randint(0, fam.num_classes, (fam.n_critic, 4)) if fam.conditional else None
            before = [p.detach().clone() for p in gan.G_ema.parameters()]
            loss_d, loss_g = gan.step(reals, labels)
            assert torch.isfinite(loss_d) and torch.isfinite(loss_g), fam.name
            assert gan.t == 1 and any(not torch.equal(a, b) for a, b in zip(before, gan.G_ema.parameters())), fam.name
            if fam.d_spectral_norm:
                assert gan.sn_modules and not any(m.training for m in gan.sn_modules)  # iterated on the real pass only
            with pytest.raises(ValueError, match="real batches"):
                gan.step(reals[:1].expand(fam.n_critic + 1, *reals.shape[1:]), None if labels is None else labels[:1].expand(fam.n_critic + 1, 4))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_step_throughput_resnet_families(tmp_path):
    """The SNGAN / WGAN-GP / projection ResNets through the benchmark on both frameworks (slow: ~30 s of XLA compile each)."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "step_throughput.py"), "--models", "sngan32,wgan_gp32,sngan_proj32", "--variants", "jit,jit_bf16,eager",
         "--width", "4", "--batch", "4", "--reps", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "JAX_PLATFORMS": "cpu"}, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 9
    for r in lines:
        if r["variant"] == "jit_bf16":
            assert "skipped" in r and "dtype" in r["skipped"]
            continue
        assert "error" not in r and r["images_per_sec"] > 0 and r["n_params_match"], r
        assert r["real_batches_per_step"] == 5
        assert abs(r["images_per_sec"] * r["seconds_per_step"] - 4 * 5) < 0.1
        assert 0.7 < r["flops_per_step"] / r["flops_per_step_analytic"] < 1.4, r


def test_quality_vs_torch_end_to_end(tmp_path):
    """Both frameworks train the same tiny DCGAN on the bundled digits and are scored by the same
    code; a recipe the PyTorch side lacks is one line and exit code 2."""
    bad = subprocess.run([sys.executable, str(BENCH / "quality_vs_torch.py"), "wgan_mnist"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"}, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "wgan_mnist" in bad.stderr, bad.stderr[-2000:]

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
