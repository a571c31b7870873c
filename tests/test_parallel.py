"""Data parallelism on 8 forced CPU devices: jit+mesh and pmap equal the single-device step.

The device count must be fixed before JAX is imported, so the check runs in a fresh
process (``tests/parallel_check.py``); this file also holds the host-only helpers' tests and
the single-device acceptance test that the toy cycle GAN (``tests/cycle_toy.py``: two G/D
pairs in one recipe) trains.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_jax import parallel

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for cycle_toy and parallel_check under any pytest import mode
    sys.path.insert(0, str(HERE))
TIMEOUT_S = 600  # about 155 s on 2 idle cores; a loaded machine has taken more than 300


def _run_helper(script: str, n_devices: int, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n_devices}"])
    env["JAX_PLATFORMS"] = "cpu"
    env.update(extra_env or {})
    try:
        return subprocess.run(
            [sys.executable, str(HERE / script)],
            env=env,
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:  # subprocess.run kills the child on timeout
        pytest.fail(f"{script} timed out after {TIMEOUT_S} s\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")


def test_data_parallel_equals_single_device_on_8_devices():
    from parallel_check import CONFIGS, STEPS

    proc = _run_helper("parallel_check.py", 8)
    if proc.returncode != 0 and "Unknown flag" in proc.stderr:
        # a jaxlib without one of the check's compile-time flags: rerun with XLA's defaults (slower)
        proc = _run_helper("parallel_check.py", 8, {"PARALLEL_CHECK_XLA_FLAGS": ""})
    out = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, f"parallel_check.py exited {proc.returncode}\n{out}"
    assert "devices=8" in proc.stdout, out
    assert "size=8" in proc.stdout, out
    assert f"OK: single-device, jit+mesh and pmap train steps agree for {len(CONFIGS)} configurations" in proc.stdout, out
    # every configuration, both parallel paths, the state and every step's metrics were compared
    assert set(CONFIGS) >= {"dcgan_bn_acgan", "mlp_gp_r1_lazy", "dcgan_diffaug_noise_dragan", "mlp_relativistic_hist_n_critic2",
                            "cycle_toy"}
    for config in CONFIGS:
        whats = ["jit_mesh state", "pmap state"] + [f"{w} metrics[step {i}]" for w in ("jit_mesh", "pmap") for i in range(STEPS)]
        for what in whats:
            assert f"[{config}] {what}: " in proc.stdout, f"{config}: {what} not compared\n{out}"


# ----------------------------------------------------------------------------- host-side helpers


def test_split_for_pmap_layout():
    x = np.arange(8 * 3).reshape(8, 3)
    out = parallel.split_for_pmap({"x": x}, 4)["x"]
    assert out.shape == (4, 2, 3)
    np.testing.assert_array_equal(out.reshape(8, 3), x)  # device d holds examples 2d, 2d+1
    xk = np.arange(2 * 8 * 3).reshape(2, 8, 3)
    outk = parallel.split_for_pmap({"x": xk}, 4, 2)["x"]
    assert outk.shape == (4, 2, 2, 3)
    for d in range(4):
        np.testing.assert_array_equal(outk[d], xk[:, 2 * d : 2 * d + 2])
    # every leaf of the batch (labels too) is split the same way
    both = parallel.split_for_pmap({"x": xk, "y": np.arange(2 * 8).reshape(2, 8)}, 4, batches_per_step=2)
    assert both["y"].shape == (4, 2, 2)
    np.testing.assert_array_equal(both["y"][1], [[2, 3], [10, 11]])
    with pytest.raises(ValueError, match="divisible"):
        parallel.split_for_pmap({"x": np.zeros((6, 2))}, 4)
    with pytest.raises(ValueError, match="divisible"):
        parallel.split_for_pmap({"x": np.zeros((2, 6, 2))}, 4, batches_per_step=2)


def test_batch_sharding_specs():
    mesh = parallel.make_mesh()
    assert mesh.axis_names == (parallel.DATA_AXIS,)
    assert tuple(parallel.batch_sharding(mesh).spec) == (parallel.DATA_AXIS,)
    assert tuple(parallel.batch_sharding(mesh, 1).spec) == (parallel.DATA_AXIS,)
    assert tuple(parallel.batch_sharding(mesh, batches_per_step=3).spec) == (None, parallel.DATA_AXIS)
    assert tuple(parallel.replicated(mesh).spec) == ()


def _tiny_mlp_gan(**spec_kw):
    import jax

    from gan_jax.models import MLPDiscriminator, MLPGenerator
    from gan_jax.steps import EMA, ClassicSpec, adam, classic_gan

    return classic_gan(
        generator=MLPGenerator(output_shape=(2,), hidden=(4,)),
        discriminator=MLPDiscriminator(hidden=(4,)),
        g_tx=adam(1e-3),
        d_tx=adam(1e-3),
        spec=ClassicSpec(z_dim=3, ema=EMA(0.5), **spec_kw),
        data_shape=(2,),
        rng=jax.random.PRNGKey(0),
    )


def test_pmap_train_step_compiles_once():
    """A pmap training loop must compile the step once. ``replicate_for_pmap`` places the
    state on a mesh whose axis is called ``"pmap"``, while the step's outputs live on a mesh
    named after the pmap axis (``"data"``); the shardings differ, so the second call (fed the
    first call's output) compiles the whole step again."""
    import logging

    import jax

    recipe, state = _tiny_mlp_gan()
    n = jax.local_device_count()
    s = parallel.replicate_for_pmap(parallel.pmap_state(state))
    batch = parallel.split_for_pmap({"x": np.zeros((2 * n, 2), np.float32)}, n)
    step = parallel.pmap_train_step(recipe)
    compiles: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            if "Finished XLA compilation" in record.getMessage():
                compiles.append(record.getMessage())

    logger, handler = logging.getLogger("jax"), Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # keep jax's very long compile logs out of the test report
    try:
        with jax.log_compiles():
            for i in range(3):
                s, _ = step(s, batch, step=i)
            jax.block_until_ready(s)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    assert int(parallel.unreplicate(s).step) == 3
    assert len(compiles) == 1, f"the pmapped train step compiled {len(compiles)} times in 3 calls:\n" + "\n".join(compiles)


# ----------------------------------------------------------------------------- the toy cycle GAN


def _train_cycle_toy(seed: int, steps: int = 200, batch_size: int = 64):
    """(measures before, measures after, last metrics, final state) of a single-device run;
    measures: (cycle error, mean |G_ab(a) - centre of B|, mean |G_ba(b) - centre of A|) on held-out points."""
    import cycle_toy
    import jax

    from gan_jax.steps import make_train_step

    recipe, state = cycle_toy.make_cycle_toy(jax.random.PRNGKey(seed), hidden=(32, 32))
    held_out = cycle_toy.sample_batch(np.random.default_rng(1000 + seed), 512)

    def measure(s):
        return (
            cycle_toy.cycle_error(s, held_out),
            cycle_toy.domain_distance(cycle_toy.translate(s, "G_ab", held_out["a"]), cycle_toy.CENTER_B),
            cycle_toy.domain_distance(cycle_toy.translate(s, "G_ba", held_out["b"]), cycle_toy.CENTER_A),
        )

    before = measure(state)
    step = make_train_step(recipe)
    data = np.random.default_rng(seed)
    metrics = {}
    for i in range(steps):
        state, metrics = step(state, cycle_toy.sample_batch(data, batch_size), step=i)
    return before, measure(state), metrics, recipe, state


def test_cycle_toy_trains_on_one_device():
    """Two G/D pairs in one recipe (phases Gmain on ("G_ab", "G_ba"), Dmain on ("D_a", "D_b")):
    after 200 steps the cycle error and the distance of translated points to the other domain
    are far below their initial values (the translators map each blob onto the other)."""
    import cycle_toy

    before, after, metrics, recipe, state = _train_cycle_toy(0)
    assert set(state.nets) == {"G_ab", "G_ba", "D_a", "D_b"}
    assert [(p.name, p.updates) for p in recipe.phases] == [("Gmain", ("G_ab", "G_ba")), ("Dmain", ("D_a", "D_b"))]
    assert int(state.step) == 200
    metric_names = {"loss/g", "loss/g_ab", "loss/g_ba", "loss/cycle", "loss/d_a", "loss/d_b", "grad_norm/Gmain/G_ab",
                    "grad_norm/Gmain/G_ba", "grad_norm/Dmain/D_a", "grad_norm/Dmain/D_b"}
    assert metric_names <= set(metrics), sorted(metrics)
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    msg = f"(cycle error, |G_ab(a) - B|, |G_ba(b) - A|): before {before}, after {after}"
    # a domain's own points lie at mean distance DOMAIN_RADIUS (~0.094) from its centre; the
    # domains' centres are 1.03 apart
    cycle, a_to_b, b_to_a = after
    assert cycle < 0.25 * before[0] and cycle < cycle_toy.DOMAIN_RADIUS, msg
    assert a_to_b < 0.5 * before[1] and a_to_b < 2 * cycle_toy.DOMAIN_RADIUS, msg
    assert b_to_a < 0.5 * before[2] and b_to_a < 2 * cycle_toy.DOMAIN_RADIUS, msg
