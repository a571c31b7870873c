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


@pytest.mark.slow  # CI time; the default run keeps the families' parameter parity (below) and quality_vs_torch end to end
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


# ----------------------------------------------------------------------------- image translation

TRANSLATION_NETS = {"pix2pix64": {"G", "D"}, "cyclegan64": {"G_ab", "G_ba", "D_a", "D_b"}}


def test_translation_nets_same_parameter_counts():
    """pix2pix's and CycleGAN's PyTorch networks (benchmarks/torch_translation.py) have gan_jax's parameter
    counts, per network, at 64 and 256 px and full width (jax.eval_shape; torch on the meta device)."""
    import torch_translation
    from step_throughput import TRANSLATION_MODELS, get_model, jax_translation_param_counts

    for name in TRANSLATION_MODELS:
        tr = get_model(name, 64)
        with torch.device("meta"):
            nets = torch_translation.build_networks(tr)
        assert set(nets) == TRANSLATION_NETS[name.rstrip("0123456789") + "64"], name
        assert jax_translation_param_counts(tr) == torch_translation.n_params_gd(nets), name


def test_pix2pix_step_runs_g_forward_once():
    """The reference's pix2pix step is 3 F_G + 8 F_D (G forward once, its backward 2 F_G); a step that
    ran G's forward again in its G phase would be 4 F_G + 8 F_D (1.14x here). XLA's count of the
    step lowered with lax.conv (64 px, width 4, batch 2) against the hand count."""
    import torch_translation
    from step_throughput import TRANSLATION_MODELS, translation_reference_flops

    tr = TRANSLATION_MODELS["pix2pix64"].scaled(4)
    got, _ = translation_reference_flops(tr, 2)
    hand = torch_translation.analytic_step_flops(tr, 2)
    assert hand["flops_per_step"] + 0.5 * hand["fwd_flops_g"] > got > hand["flops_per_step"], (got, hand)


@pytest.mark.slow  # the two networks' parameter counts are checked in the default run (above)
def test_step_throughput_translation(tmp_path):
    """pix2pix and CycleGAN through the benchmark on both frameworks (64 px, width 4, batch 2, one round)."""
    out = tmp_path / "translation.jsonl"
    # + unoptimised LLVM code generation: the two steps' XLA compilations take ~10 s instead of ~30 s on
    # 2 busy cores (a smoke test of the lines' fields; its timings mean nothing)
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true".strip()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "step_throughput.py"), "--models", "pix2pix64,cyclegan64", "--variants", "jit,jit_bf16,eager",
         "--width", "4", "--batch", "2", "--reps", "1", "--scan-k", "1", "--threads", "1", "--peak-tflops", f"float32={QUICK_PEAK}",
         "--peak-source", "test", "--forbid-imports", "grain,tensorflow_datasets,tensorflow", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines == [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["model"], r["framework"], r["variant"]) for r in lines) == sorted(
        (m, fw, v) for m in TRANSLATION_NETS for fw, v in (("jax", "jit"), ("jax", "jit_bf16"), ("torch", "eager")))
    measured = [r for r in lines if "skipped" not in r]
    assert len(measured) == 4
    for r in measured:
        assert FIELDS <= r.keys(), FIELDS - r.keys()
        assert "error" not in r, r["error"]
        assert r["batch"] == 2 and r["width"] == 4 and r["g_width"] == r["d_width"] == 4 and r["real_batches_per_step"] == 1
        assert r["images_per_sec"] > 0 and abs(r["images_per_sec"] * r["seconds_per_step"] - 2) < 2e-2
        assert abs(r["g_steps_per_sec"] * r["seconds_per_step"] - 1) < 1e-2
        assert r["threads"]["torch"] == 1 and len(r["loadavg_end"]) == 3 and "pix2pix: D on" in r["notes"]
        # the same networks: per-network counts, G = all generators, D = all discriminators
        assert r["n_params_match"] and set(r["n_params_nets"]) == TRANSLATION_NETS[r["model"]]
        assert r["n_params_g"] == sum(n for k, n in r["n_params_nets"].items() if k.startswith("G"))
        assert r["n_params_d"] == sum(n for k, n in r["n_params_nets"].items() if k.startswith("D"))
        # XLA's count (the step lowered with lax.conv) against the hand count of the reference step
        # (convolutions only: the rest is elementwise work)
        assert r["flops_per_step"] > 0 and "lowered for cuda" in r["flops_source"]
        assert 1.0 < r["flops_per_step"] / r["flops_per_step_analytic"] < 1.1, r
        assert r["mfu"] == pytest.approx(r["flops_per_step"] / r["seconds_per_step"] / 1e12 / QUICK_PEAK, rel=1e-3)
    for model in TRANSLATION_NETS:
        rows = [r for r in measured if r["model"] == model]
        assert {r["framework"] for r in rows} == {"jax", "torch"}
        assert len({(r["n_params_g"], r["n_params_d"], json.dumps(r["n_params_nets"], sort_keys=True)) for r in rows}) == 1
        assert len({r["flops_per_step"] for r in rows}) == 1
    pix, cyc = (next(r for r in measured if r["model"] == m) for m in TRANSLATION_NETS)
    assert (pix["arch"], pix["unet_depth"], pix["norm"], pix["loss"], pix["l1_weight"], pix["channels"]) == ("unet", 6, "batch", "vanilla", 100.0, [3, 3])
    assert (cyc["arch"], cyc["n_blocks"], cyc["norm"], cyc["loss"], cyc["identity_weight"], cyc["pool_size"]) == ("resnet", 6, "instance", "lsgan", 0.5, 50)
    jit = next(r for r in measured if r["framework"] == "jax")
    assert jit["compile_s"] > 0 and jit["xla_flops_own"] > 0
    for r in lines:
        if "skipped" in r:
            assert r["variant"] == "jit_bf16" and r["images_per_sec"] is None
    from make_perf_table import markdown

    assert "cyclegan64" in markdown(lines)


def test_translation_networks_match():
    """Every translation model's PyTorch networks have gan_jax's parameter tensors (sizes, network by
    network; jax.eval_shape and the meta device: nothing computed), and at full width the reference's
    published counts (unet_256 54.414 M, resnet_9blocks 11.378 M, PatchGAN 2.769 M / 2.765 M)."""
    from step_throughput import TRANSLATION_MODELS, _translation_init, get_model, jax_translation_param_counts
    from torch_translation import build_networks, n_params_gd

    import jax

    for name in TRANSLATION_MODELS:
        tr = get_model(name, 8)
        with torch.device("meta"):
            nets = build_networks(tr)
        shapes = jax.eval_shape(_translation_init(tr, []))
        assert set(shapes.nets) == set(nets), name
        for k, net in shapes.nets.items():
            assert sorted(math.prod(x.shape) for x in jax.tree.leaves(net.params)) == sorted(p.numel() for p in nets[k].parameters()), (name, k)
    for name, g, d in (("pix2pix256", 54_413_955, 2_768_705), ("cyclegan256", 2 * 11_378_179, 2 * 2_764_737)):
        tr = get_model(name, 64)
        with torch.device("meta"):
            assert n_params_gd(build_networks(tr)) == {"g": g, "d": d} == jax_translation_param_counts(tr), name


def test_translation_models_are_the_experiments():
    """The benchmark's JAX networks are those the shipped experiments' configs build (at the benchmark's image size)."""
    from gan_jax.config import load_experiment
    from gan_jax.families import translation
    from step_throughput import TRANSLATION_MODELS, _translation_dataset, get_model, jax_translation_param_counts

    import jax

    # the 256 px recipes: the 32 px pix2pix experiments use a smaller PatchGAN than the reference (README)
    for name, experiment in (("pix2pix256", "pix2pix_folder"), ("cyclegan256", "cyclegan_folder")):
        tr = get_model(name, 64)
        assert TRANSLATION_MODELS[name].method == load_experiment(experiment).recipe.method
        state = jax.eval_shape(lambda e=experiment, t=tr: translation.build(load_experiment(e), _translation_dataset(t))[1])
        counts = {k: sum(math.prod(x.shape) for x in jax.tree.leaves(n.params)) for k, n in state.nets.items()}
        ours = jax_translation_param_counts(tr)
        assert ours == {"g": sum(n for k, n in counts.items() if k[0] == "G"), "d": sum(n for k, n in counts.items() if k[0] == "D")}, name


def test_torch_translation_steps():
    """One eager PyTorch step of pix2pix and of CycleGAN at tiny size (finite losses, every network
    updated), and the image pool's fill-then-swap behaviour."""
    import dataclasses

    from step_throughput import get_model
    from torch_translation import ImagePool, make_trainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in TRANSLATION_NETS:
            tr = dataclasses.replace(get_model(name, 2), pool_size=1)
            trainer = make_trainer(tr)
            before = {k: [p.detach().clone() for p in m.parameters()] for k, m in trainer.nets.items()}
            a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
            losses = trainer.step(a, b)
            assert all(torch.isfinite(v) for v in losses.values()), name
            for k, m in trainer.nets.items():
                assert any(not torch.equal(x, y) for x, y in zip(before[k], m.parameters())), (name, k)
            if name.startswith("cyclegan"):
                assert trainer.pool_a.count == trainer.pool_b.count == 1
    finally:
        torch.set_num_threads(threads)
    pool = ImagePool(2, seed=0)
    x = torch.arange(8.0).view(8, 1)
    assert pool.query(x[:2]).view(-1).tolist() == [0.0, 1.0]  # filling: stored and returned
    out = pool.query(x[2:]).view(-1).tolist()
    # full: each new image is returned as is, or swapped for a stored one (which it replaces)
    stored = {0.0, 1.0}
    for new, got in zip(x[2:].view(-1).tolist(), out):
        assert got == new or got in stored
        if got != new:
            stored = (stored - {got}) | {new}
    assert set(pool.images.view(-1).tolist()) == stored
    assert ImagePool(0).query(x).data_ptr() == x.data_ptr()


# ----------------------------------------------------------------------------- StyleGAN2 and BigGAN


@pytest.mark.slow  # the networks' parameter parity and the PyTorch StyleGAN2 phases run in the default run (below)
def test_step_throughput_stylegan2_biggan(tmp_path):
    """stylegan2-32 (with its lazy R1 step) and biggan-32 (n_critic 1 here: fewer unrolled D updates to
    compile) through the benchmark on both frameworks, width 4, batch 4, one round: one process per
    model, each on its own core, run at once."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true".strip()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}
    cpus = sorted(os.sched_getaffinity(0))
    runs = {"stylegan2-32": [], "biggan-32": ["--n-critic", "1"]}
    procs = {}
    for k, (model, extra) in enumerate(runs.items()):
        cpu = cpus[k % len(cpus)]  # one core each (the benchmark then runs torch with 1 thread)
        procs[model] = subprocess.Popen(
            [sys.executable, str(BENCH / "step_throughput.py"), "--models", model, "--variants", "jit,eager", "--width", "4", "--batch", "4",
             "--reps", "1", "--scan-k", "1", "--peak-tflops", f"float32={QUICK_PEAK}", "--peak-source", "test",
             "--forbid-imports", "grain,tensorflow_datasets,tensorflow", "--out", str(tmp_path / f"{model}.jsonl"), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, preexec_fn=lambda c=cpu: os.sched_setaffinity(0, {c}))
    lines = []
    try:
        for model, proc in procs.items():
            out, err = proc.communicate(timeout=400)
            assert proc.returncode == 0, err[-3000:]
            got = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            assert got == [json.loads(line) for line in (tmp_path / f"{model}.jsonl").read_text().splitlines()]
            lines += got
    finally:
        for proc in procs.values():  # a failure or timeout above: stop the other run too
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert sorted((r["model"], r["framework"], r["variant"]) for r in lines) == sorted(
        (m, fw, v) for m in runs for fw, v in (("jax", "jit"), ("torch", "eager")))
    for r in lines:
        assert FIELDS <= r.keys(), FIELDS - r.keys()
        assert "error" not in r and "skipped" not in r, r.get("error") or r.get("skipped")
        assert r["batch"] == 4 and r["width"] == 4 and r["threads"]["torch"] == 1 and len(r["loadavg_end"]) == 3
        assert r["images_per_sec"] > 0 and abs(r["images_per_sec"] * r["seconds_per_step"] - 4 * r["real_batches_per_step"]) < 2e-2
        assert r["n_params_match"] is True and r["n_params_g"] > r["n_params_d"] > 0
        # XLA's count of the jax step (lax.conv: the jit variant's own) against the hand count of the reference step
        assert r["flops_per_step"] > 0 and "this run's jax jit variant" in r["flops_source"]
        assert 0.8 < r["flops_per_step"] / r["flops_per_step_analytic"] < 1.4, r
        assert r["mfu"] == pytest.approx(r["flops_per_step"] / r["seconds_per_step"] / 1e12 / QUICK_PEAK, rel=1e-3)
    for model in runs:
        rows = [r for r in lines if r["model"] == model]
        assert len({(r["n_params_g"], r["n_params_d"], r["flops_per_step"]) for r in rows}) == 1, model
    for r in (r for r in lines if r["model"] == "stylegan2-32"):
        # the cifar preset at width 4: widths 512 x 4/64 everywhere, orig D, mbstd 32 -> the whole batch of 4, no path length
        assert (r["arch"], r["preset"], r["d_architecture"], r["mapping_layers"], r["mbstd_group"], r["mbstd_group_effective"]) == (
            "stylegan2", "cifar", "orig", 2, 32, 4)
        assert set(r["widths"].values()) == {32} and r["real_batches_per_step"] == 1 and r["pl_weight"] == 0 and r["r1_gamma"] == 0.01
        # the lazy step (Dreg: R1 through a double backward) timed on its own
        assert r["lazy_phases"] == ["Dreg"] and r["seconds_per_step_lazy"] > 0 and r["images_per_sec_lazy"] > 0
        assert r["flops_per_step_lazy_analytic"] > r["flops_per_step_analytic"]
        assert r.get("modconv", "grouped") == "grouped" and "Gmain + Dmain" in r["notes"]
    for r in (r for r in lines if r["model"] == "biggan-32"):
        assert (r["arch"], r["num_classes"], r["attention"], r["g_width"], r["d_width"], r["loss"], r["n_critic"]) == (
            "biggan", 10, [16], 6, 3, "hinge", 1)
        assert r["real_batches_per_step"] == 1 and "--n-critic 1" in r["n_critic_override"] and r["lazy_phases"] == []



def test_stylegan2_biggan_torch_networks_match_and_phases_run():
    """The four StyleGAN2 / BigGAN rows' PyTorch networks have gan_jax's parameter counts (jax.eval_shape,
    meta device), and one eager PyTorch StyleGAN2-64 step with every lazy phase (path length, R1) and one
    without run for both modulated-convolution implementations."""
    import jax
    import torch_biggan
    import torch_stylegan2
    from step_throughput import BIGGAN_MODELS, STYLEGAN2_MODELS, _built_init, get_model, stylegan2_settings

    from gan_jax import engine

    for name in (*STYLEGAN2_MODELS, *BIGGAN_MODELS):
        m = get_model(name, 8)
        shapes = jax.eval_shape(_built_init(m, 4, []))
        jax_counts = {k: engine.param_count(shapes.nets[k].params) for k in ("G", "D")}
        with torch.device("meta"):
            if name in STYLEGAN2_MODELS:
                nets = torch_stylegan2.build_networks(stylegan2_settings(m, 4))
            else:
                nets = dict(zip("GD", torch_biggan.build_models(m, spectral_norm=False)))
        assert jax_counts == {k: torch_stylegan2.n_params(n) for k, n in nets.items()}, name
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        settings = stylegan2_settings(get_model("stylegan2-64", 4), 4)
        assert (settings["d_architecture"], settings["mbstd_group"], settings["pl_weight"], settings["style_mixing"]) == ("resnet", 4, 2.0, 0.9)
        for modconv in torch_stylegan2.MODCONV_IMPLS:
            gan = torch_stylegan2.TorchStyleGAN2(settings, modconv=modconv)
            real = torch.rand(4, 3, 64, 64) * 2 - 1
            before = [p.detach().clone() for p in gan.G_ema.parameters()]
            lazy, main = gan.step(real, 0), gan.step(real, 1)
            assert set(lazy) == {"loss/g", "loss/g_pl", "loss/d", "loss/d_r1"} and set(main) == {"loss/g", "loss/d"}, modconv
            assert all(torch.isfinite(v) for v in (*lazy.values(), *main.values())) and gan.pl_mean > 0, modconv
            assert any(not torch.equal(a, b) for a, b in zip(before, gan.G_ema.parameters())), modconv
    finally:
        torch.set_num_threads(threads)
