"""Data parallelism on 8 forced CPU devices: jit+mesh and pmap equal the single-device step.

The device count must be fixed before JAX is imported, so the check runs in a fresh
process (``tests/parallel_check.py``); this file also holds the host-only helpers' tests.
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
TIMEOUT_S = 300


def _run_helper(script: str, n_devices: int) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n_devices}"])
    env["JAX_PLATFORMS"] = "cpu"
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
    proc = _run_helper("parallel_check.py", 8)
    out = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, f"parallel_check.py exited {proc.returncode}\n{out}"
    assert "devices=8" in proc.stdout, out
    assert "size=8" in proc.stdout, out
    assert "OK:" in proc.stdout, out
    # both configurations, both parallel paths were compared
    for config in ("dcgan_bn", "mlp_n_critic2"):
        for what in ("jit_mesh state", "pmap state", "jit_mesh metrics", "pmap metrics"):
            assert f"[{config}] {what}" in proc.stdout, out


# ----------------------------------------------------------------------------- host-side helpers


def test_split_for_pmap_layout():
    x = np.arange(8 * 3).reshape(8, 3)
    out = parallel.split_for_pmap({"x": x}, 4)["x"]
    assert out.shape == (4, 2, 3)
    np.testing.assert_array_equal(out.reshape(8, 3), x)  # device d holds examples 2d, 2d+1
    xk = np.arange(2 * 8 * 3).reshape(2, 8, 3)
    outk = parallel.split_for_pmap({"x": xk}, 4, n_critic=2)["x"]
    assert outk.shape == (4, 2, 2, 3)
    for d in range(4):
        np.testing.assert_array_equal(outk[d], xk[:, 2 * d : 2 * d + 2])
    with pytest.raises(ValueError, match="divisible"):
        parallel.split_for_pmap({"x": np.zeros((6, 2))}, 4)


def test_batch_sharding_specs():
    mesh = parallel.make_mesh()
    assert mesh.axis_names == (parallel.DATA_AXIS,)
    assert tuple(parallel.batch_sharding(mesh).spec) == (parallel.DATA_AXIS,)
    assert tuple(parallel.batch_sharding(mesh, n_critic=3).spec) == (None, parallel.DATA_AXIS)
    assert tuple(parallel.replicated(mesh).spec) == ()


def test_pmap_train_step_compiles_once():
    """A pmap training loop must compile the step once. ``replicate_for_pmap`` places the
    state on a mesh whose axis is called ``"pmap"``, while the step's outputs live on a mesh
    named after the pmap axis (``"data"``); the shardings differ, so the second call (fed the
    first call's output) compiles the whole step again."""
    import logging

    import jax

    from gan_jax.models import MLPDiscriminator, MLPGenerator
    from gan_jax.state import GANSpec, adam, create_state

    state = create_state(
        generator=MLPGenerator(output_shape=(2,), hidden=(4,)),
        discriminator=MLPDiscriminator(hidden=(4,)),
        g_tx=adam(1e-3),
        d_tx=adam(1e-3),
        spec=GANSpec(z_dim=3, ema_decay=0.5),
        data_shape=(2,),
        rng=jax.random.PRNGKey(0),
    )
    n = jax.local_device_count()
    s = parallel.replicate_for_pmap(parallel.pmap_state(state))
    batch = parallel.split_for_pmap({"x": np.zeros((2 * n, 2), np.float32)}, n)
    step = parallel.pmap_train_step()
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
            for _ in range(3):
                s, _ = step(s, batch, jax.random.PRNGKey(1))
            jax.block_until_ready(s)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    assert int(parallel.unreplicate(s).step) == 3
    assert len(compiles) == 1, f"the pmapped train step compiled {len(compiles)} times in 3 calls:\n" + "\n".join(compiles)
