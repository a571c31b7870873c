"""Check that the core and the GPU-check benchmarks import neither grain nor TensorFlow (Datasets).

    PYTHONPATH=. python benchmarks/core_imports.py [--out env.jsonl]

The GPU machine of ``benchmarks/gpu_check.sh`` has jax, flax, optax, orbax and torch but not
grain or tensorflow-datasets, so everything the check runs must import only the core. This
makes ``grain``, ``tensorflow_datasets`` and ``tensorflow`` look absent (``None`` in
``sys.modules``: ``import`` fails, ``importlib.util.find_spec`` returns None; it works on a
machine that has them too), imports the core modules and the benchmark
modules, and prints one JSON line (``"bench": "env"``) with the result, the versions and the
devices; exit status 1 if any import failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys

BLOCKED = ("grain", "tensorflow_datasets", "tensorflow")
CORE = (
    "gan_jax.engine", "gan_jax.steps", "gan_jax.models", "gan_jax.recipes", "gan_jax.recipes.classic", "gan_jax.losses",
    "gan_jax.regularizers", "gan_jax.noise", "gan_jax.parallel", "gan_jax.optimizers", "gan_jax.metrics.fid",
)
BENCHMARKS = ("gan_families", "torch_models", "step_throughput", "frechet_timing", "make_perf_table")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="also append the JSON line to this file")
    args = p.parse_args(argv)
    for name in BLOCKED:
        sys.modules[name] = None  # as if not installed
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    sys.path.insert(1, os.path.dirname(here))
    failures = {}
    for name in CORE + BENCHMARKS:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001
            failures[name] = f"{type(e).__name__}: {e}"
    leaked = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] in BLOCKED and mod is not None)
    rec = {"bench": "env", "core_ok": not failures and not leaked, "failures": failures, "blocked_modules_loaded": leaked,
           "python": platform.python_version(), "modules_checked": list(CORE + BENCHMARKS)}
    try:
        import jax

        rec["jax"] = jax.__version__
        rec["jax_devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    except Exception as e:  # noqa: BLE001
        rec["jax_error"] = f"{type(e).__name__}: {e}"
    for mod in ("flax", "optax", "orbax.checkpoint", "scipy", "numpy"):
        try:
            rec[mod.split(".")[0] if mod != "orbax.checkpoint" else "orbax"] = getattr(importlib.import_module(mod), "__version__", "present")
        except Exception:  # noqa: BLE001
            rec[mod.split(".")[0] if mod != "orbax.checkpoint" else "orbax"] = None
    try:
        import torch

        rec["torch"] = torch.__version__
        rec["torch_cuda"] = torch.cuda.is_available() and torch.cuda.get_device_name(0)
        rec["torch_cuda_version"] = torch.version.cuda
    except Exception as e:  # noqa: BLE001
        rec["torch_error"] = f"{type(e).__name__}: {e}"
    line = json.dumps(rec)
    print(line, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0 if rec["core_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
