"""A non-editable install works: build the wheel, install it in a fresh virtualenv, run gan-jax there.

Colab users install with ``pip install git+URL``; before Core v2 the experiment configs lived
beside the package, so such an install said ``unknown experiment 'dcgan_digits'; available:
none``. The wheel must carry ``gan_jax.experiments`` (the repository's ``experiments/``), the
embedded digits and the classifier weights.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path):
    # build from a copy of the sources, so setuptools' build/ folder never lands in the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("gan_jax", "experiments"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(src)])
    (wheel,) = wheels.glob("gan_jax-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gan_jax/experiments/dcgan_digits.py" in names and "gan_jax/experiments/__init__.py" in names
    assert {"gan_jax/data/digits.npz", "gan_jax/metrics/weights/mnist_classifier.npz"} <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in meta
    assert not [l for l in meta.splitlines() if l.startswith("Requires-Dist: torch") and "extra == \"test\"" in l], "torch in the test extra"

    venv = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "--quiet", str(wheel)])
    # Dependencies (jax, flax, ...) come from this environment's site-packages on PYTHONPATH; the
    # package itself only from the fresh venv (an editable install's finder is not on that path).
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "JAX_PLATFORMS": "cpu"}
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import gan_jax; print(gan_jax.__file__)"], cwd=work, env=env).stdout.strip()
    assert where.startswith(str(venv)), where
    listed = _run([str(venv / "bin" / "gan-jax"), "list"], cwd=work, env=env).stdout.split()
    assert {"dcgan_digits", "dcgan_mnist", "toy_ring", "wgan_gp_cifar10"} <= set(listed), listed
    run = work / "run"
    _run([str(venv / "bin" / "gan-jax"), "train", "--workdir", str(run), "--no-progress", "--set", "train.steps=2", "--set", "model.g_width=4",
          "--set", "model.d_width=4", "--set", "data.image_size=16", "--set", "train.batch_size=8", "--set", "log.tensorboard=false"],
         cwd=work, env=env)
    assert (run / "samples.png").is_file() and (run / "checkpoints" / "2").is_dir()
