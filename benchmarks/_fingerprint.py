"""Parameter fingerprints: a few float64 reductions per array leaf, to compare two codes' results.

Shared by ``fingerprints_v1.py`` (run on the pre-Core-v2 commit, for the record) and
``fingerprints.py`` (the current code); numpy only, so either gan_jax can import it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def leaf_stats(x) -> list[float]:
    """[sum, sum of squares, sum weighted by sin(index)] in float64: a change of any value,
    or a permutation of values, moves at least one of them."""
    a = np.asarray(x, np.float64).ravel()
    w = np.sin(np.arange(a.size, dtype=np.float64) + 1.0)
    return [float(a.sum()), float((a * a).sum()), float((a * w).sum())]


def fingerprint(named: dict) -> dict[str, list[float]]:
    """{"G/params/Dense_0/kernel": [...], ...} for a nested dict of arrays (dicts, lists, tuples)."""
    out: dict[str, list[float]] = {}

    def walk(prefix: str, node):
        if isinstance(node, dict):
            for k in sorted(node, key=str):
                walk(f"{prefix}/{k}" if prefix else str(k), node[k])
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(f"{prefix}/{i}", v)
        elif node is None:
            return
        else:
            out[prefix] = leaf_stats(node)

    walk("", named)
    return out


def compare(ref: dict[str, list[float]], got: dict[str, list[float]], rtol: float = 1e-5, atol: float = 1e-6) -> list[str]:
    """Mismatch lines (empty list: equal within tolerance). Scales with the leaf's magnitude."""
    bad = []
    for k in sorted(set(ref) | set(got)):
        if k not in got or k not in ref:
            bad.append(f"{k}: only in {'reference' if k in ref else 'new'}")
            continue
        r, g = np.asarray(ref[k]), np.asarray(got[k])
        scale = np.sqrt(abs(r[1])) + atol  # the leaf's L2 norm
        if np.any(np.abs(r - g) > rtol * np.maximum(np.abs(r), scale) + atol):
            bad.append(f"{k}: reference {r.tolist()} vs new {g.tolist()}")
    return bad


def load(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def save(obj: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
