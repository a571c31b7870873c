import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Tests run on the CPU with one device unless a test starts its own subprocess.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
_SESSION_CACHE: str | None = None
_SESSION_XLA_CACHE: str | None = None
#: Compiling dominates the suite on CPU. XLA:CPU's legacy (non-"fusion emitter") code generator
#: and LLVM at -O1 without its expensive passes compile these small programs several times
#: faster (the CycleGAN SIGKILL test: 62 s -> 41 s; the whole suite: docs/ci.md) and run them
#: about as fast; every test compares programs compiled with the same flags, and the
#: fingerprint tests pass with them. (-O0 compiles faster still, but runs the oracle LSTM's
#: 20,000 samples 9x slower.) Only the test suite (and its subprocesses) sets them; benchmark
#: runs keep XLA's defaults. GAN_JAX_TEST_FAST_COMPILE=0 keeps XLA's defaults.
FAST_COMPILE_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=1 --xla_llvm_disable_expensive_passes=true"


def _add_fast_compile_flag() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("GAN_JAX_TEST_FAST_COMPILE", "1") == "0" or "xla_cpu_use_fusion_emitters" in flags:
        return
    candidate = f"{flags} {FAST_COMPILE_FLAGS}".strip()
    # An XLA that no longer knows a flag aborts the process: try them in a child first (~2 s).
    probe = subprocess.run([sys.executable, "-c", "import jax.numpy as jnp; jnp.zeros(2).block_until_ready()"],
                           env={**os.environ, "XLA_FLAGS": candidate, "JAX_PLATFORMS": "cpu"}, capture_output=True, timeout=120)
    if probe.returncode == 0:
        os.environ["XLA_FLAGS"] = candidate


def pytest_configure(config):
    """Real datasets come from ../shared/datasets (no network in CI), built into a per-session
    cache that every test shares (hermetic; set GAN_JAX_CACHE_DIR to reuse a cache across runs)."""
    global _SESSION_CACHE, _SESSION_XLA_CACHE
    if not hasattr(config, "workerinput"):  # the xdist controller (or a plain run): workers inherit the environment
        _add_fast_compile_flag()
    if (SHARED_DATASETS / "mnist.npz").is_file():
        os.environ.setdefault("GAN_JAX_DATA_DIR", str(SHARED_DATASETS))
    if "GAN_JAX_CACHE_DIR" not in os.environ:
        _SESSION_CACHE = tempfile.mkdtemp(prefix="gan_jax_test_cache_")
        os.environ["GAN_JAX_CACHE_DIR"] = _SESSION_CACHE
    # Compiling dominates the suite on CPU, and many tests (and the subprocesses of the driver,
    # parallel and CLI tests, which inherit the environment) compile the same programs: JAX's
    # persistent compilation cache, one per session (jax reads these when it is first imported,
    # which happens after this hook). The compiled code is the same, so results are too.
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        _SESSION_XLA_CACHE = tempfile.mkdtemp(prefix="gan_jax_test_xla_cache_")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_XLA_CACHE
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
        os.environ.pop("GAN_JAX_CACHE_DIR", None)
    if _SESSION_XLA_CACHE is not None:
        shutil.rmtree(_SESSION_XLA_CACHE, ignore_errors=True)
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real offline datasets (``../shared/datasets`` beside the repository), or skip."""
    if not (SHARED_DATASETS / "mnist.npz").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS} (CI links ../shared beside the clone)")
    return SHARED_DATASETS


@pytest.fixture
def kill_after_checkpoint():
    """``run(cmd, workdir, min_step, timeout=240) -> step``: start ``cmd`` (a training run), SIGKILL
    it as soon as ``workdir`` holds a checkpoint of step >= ``min_step``, return the newest one."""
    import signal
    import time

    def run(cmd: list[str], workdir: Path, min_step: int, timeout: float = 240) -> int:
        repo = Path(__file__).resolve().parents[1]
        proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        ckpts = workdir / "checkpoints"
        try:
            while not (ckpts.is_dir() and any(p.name.isdigit() and int(p.name) >= min_step for p in ckpts.iterdir())):
                assert proc.poll() is None, proc.stderr.read()[-2000:]
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.005)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        return max(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())

    return run
