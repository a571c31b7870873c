"""Multi-process data parallelism: two JAX processes on localhost, 2 CPU devices each.

Each process (``tests/multiprocess_worker.py``) joins with ``jax.distributed`` (gloo
collectives on CPU), feeds its half of a fixed global batch of 8 through
``parallel.shard_batch``, replicates the ``TrainState`` of a classic MLP GAN recipe with
``parallel.replicate`` and runs two ``parallel.jit_train_step(mesh, recipe)`` steps over the
4-device mesh. Both must print the same
checksum, equal to a one-process one-device reference (also run in a subprocess, so this
pytest process keeps its own device setup).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE / "multiprocess_worker.py"
TIMEOUT_S = 240


def _free_port() -> int:
    try:
        import portpicker

        return portpicker.pick_unused_port()
    except ImportError:  # pragma: no cover
        import socket

        with socket.socket() as s:
            s.bind(("localhost", 0))
            return s.getsockname()[1]


def _env(n_devices: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    flags = " ".join(f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f)
    if n_devices is not None:
        flags = f"{flags} --xla_force_host_platform_device_count={n_devices}".strip()
    if flags:
        env["XLA_FLAGS"] = flags
    else:
        env.pop("XLA_FLAGS", None)
    for k in ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES"):
        env.pop(k, None)
    return env


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        env=env,
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_all(procs: dict[str, subprocess.Popen], timeout: float) -> dict[str, tuple[int | None, str, str]]:
    """Wait for every process until a shared deadline; kill all of them when it passes."""
    deadline = time.monotonic() + timeout
    results: dict[str, tuple[int | None, str, str]] = {}
    timed_out = False
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results[name] = (proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            timed_out = True
            break
    if timed_out:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        for name, proc in procs.items():
            if name not in results:
                out, err = proc.communicate()
                results[name] = (None, out, err)
    return results


def _report(results) -> str:
    parts = []
    for name, (rc, out, err) in results.items():
        parts.append(f"===== {name}: rc={rc}\n--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}")
    return "\n".join(parts)


def _parse(path: Path) -> dict:
    # The result comes through a file: Gloo's C++ logging shares stdout and can land mid-line.
    assert path.is_file(), f"no result file {path}"
    return json.loads(path.read_text())


def test_two_processes_match_each_other_and_single_device(tmp_path):
    port = _free_port()
    out = {k: tmp_path / f"{k.replace(' ', '_')}.json" for k in ("process 0", "process 1", "reference")}
    procs = {
        "process 0": _start(["--process-id", "0", "--num-processes", "2", "--port", str(port), "--out", str(out["process 0"])], _env(2)),
        "process 1": _start(["--process-id", "1", "--num-processes", "2", "--port", str(port), "--out", str(out["process 1"])], _env(2)),
        "reference": _start(["--reference", "--out", str(out["reference"])], _env(None)),
    }
    results = _wait_all(procs, TIMEOUT_S)
    report = _report(results)
    for name, (rc, _, _) in results.items():
        if rc is None:
            pytest.fail(f"{name} did not finish within {TIMEOUT_S} s (all processes killed)\n{report}")
        assert rc == 0, f"{name} exited with {rc}\n{report}"

    r0, r1, ref = (_parse(out[k]) for k in ("process 0", "process 1", "reference"))
    assert (r0["process_id"], r1["process_id"]) == (0, 1)
    assert r0["process_count"] == r1["process_count"] == 2
    assert r0["device_count"] == r1["device_count"] == 4
    assert ref["process_count"] == 1 and ref["device_count"] == 1
    assert r0["step"] == r1["step"] == ref["step"] == 2

    # the two processes hold bitwise the same replicated state and metrics
    assert r0["digest"] == r1["digest"], report
    assert r0["leaves"] == r1["leaves"], report
    assert r0["metrics"] == r1["metrics"], report

    # ... which is the single-device result up to float32 reduction order
    assert r0["leaves"].keys() == ref["leaves"].keys()
    for k in ref["leaves"]:
        np.testing.assert_allclose(r0["leaves"][k], ref["leaves"][k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert r0["metrics"].keys() == ref["metrics"].keys()
    for k in ref["metrics"]:
        np.testing.assert_allclose(r0["metrics"][k], ref["metrics"][k], rtol=1e-5, atol=1e-6, err_msg=k)


_INIT_SPY = textwrap.dedent(
    """
    import jax
    from jax._src import xla_bridge
    from gan_jax import parallel

    seen = []
    jax.distributed.initialize = lambda **kw: seen.append(xla_bridge.backends_are_initialized())
    parallel.initialize_distributed()
    assert seen, "initialize_distributed() did not call jax.distributed.initialize on a detected cluster"
    assert seen == [False], (
        "initialize_distributed() initialised the XLA backend before calling jax.distributed.initialize, "
        "which then raises 'jax.distributed.initialize() must be called before any JAX calls that might "
        "initialise the XLA backend'"
    )
    print("OK")
    """
)


def test_initialize_distributed_on_detected_cluster_does_not_touch_backend_first():
    """On a detected cluster (here: JAX_COORDINATOR_ADDRESS set) and no arguments,
    ``initialize_distributed()`` must call ``jax.distributed.initialize`` before anything
    initialises the backend. (``jax.distributed.initialize`` is replaced by a spy that records
    whether the backend was already up.)"""
    env = _env(None)
    env["JAX_COORDINATOR_ADDRESS"] = f"localhost:{_free_port()}"
    proc = subprocess.run([sys.executable, "-c", _INIT_SPY], env=env, cwd=HERE.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"


def test_initialize_distributed_single_process_is_noop():
    """Without arguments and without a cluster it must do nothing (no jax.distributed.initialize)."""
    code = textwrap.dedent(
        """
        import jax
        from gan_jax import parallel
        called = []
        jax.distributed.initialize = lambda **kw: called.append(kw)
        parallel.initialize_distributed()
        assert not called, called
        assert jax.process_count() == 1
        print("OK")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(None), cwd=HERE.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
