"""The step-throughput benchmark runs end to end (quick mode) and reports both frameworks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"model", "framework", "variant", "dtype", "batch", "images_per_sec", "seconds_per_step", "device", "versions", "threads", "loadavg_start", "loadavg_end"}


def test_step_throughput_quick(tmp_path):
    out = tmp_path / "quick.jsonl"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step_throughput.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines == [json.loads(line) for line in out.read_text().splitlines()]

    measured = [r for r in lines if "skipped" not in r]
    keys = {(r["model"], r["framework"], r["variant"], r["batch"]) for r in lines}
    assert len(keys) == len(lines), "one line per (model, framework, variant, batch)"
    for r in measured:
        assert FIELDS <= r.keys(), FIELDS - r.keys()
        assert "error" not in r, r["error"]
        assert r["model"] == "dcgan32" and r["batch"] == 8 and r["width"] == 8
        assert r["images_per_sec"] > 0 and r["seconds_per_step"] > 0
        assert abs(r["images_per_sec"] * r["seconds_per_step"] - r["batch"]) < 1e-2 * r["batch"]
        assert len(r["loadavg_end"]) == 3 and r["threads"]["torch"] >= 1
    assert {r["framework"] for r in measured} == {"jax", "torch"}
    assert {"jit", "scan"} <= {r["variant"] for r in measured if r["framework"] == "jax"}
    assert "eager" in {r["variant"] for r in measured if r["framework"] == "torch"}
    # both frameworks train the same parameter set
    assert len({(r["n_params_g"], r["n_params_d"]) for r in measured}) == 1
    for r in lines:
        if "skipped" in r:
            assert r["images_per_sec"] is None and r["variant"] == "compile"
