"""One process of a two-process data-parallel run on localhost (or the one-device reference).

Used by ``tests/test_multiprocess.py``; run with ``JAX_PLATFORMS=cpu`` and, for the
distributed mode, ``XLA_FLAGS=--xla_force_host_platform_device_count=2``::

    python tests/multiprocess_worker.py --process-id 0 --num-processes 2 --port 12345
    python tests/multiprocess_worker.py --process-id 1 --num-processes 2 --port 12345
    python tests/multiprocess_worker.py --reference

Both modes build the same tiny MLP GAN (``recipes.classic.classic_gan``) from the same seed,
train it for ``STEPS`` steps on the same fixed global batch (``step(state, batch, step=i)``)
and print one line ``RESULT {json}`` with per-leaf sums of every network's parameters,
collections, optimizer state, EMA parameters and EMA collections and of the last metrics,
plus a SHA-256 digest of those bytes. In the distributed mode each process feeds only its half of the global batch
(``parallel.shard_batch``), the state is replicated with ``parallel.replicate`` and the step is
``parallel.jit_train_step(mesh, recipe)``; the numbers come from ``x.addressable_data(0)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

GLOBAL_BATCH = 8
STEPS = 2


def global_batch() -> np.ndarray:
    return np.random.default_rng(1234).normal(size=(GLOBAL_BATCH, 2)).astype(np.float32)


def build():
    """(recipe, state) of the tiny MLP GAN; the same on every process."""
    import jax

    from gan_jax.models import MLPDiscriminator, MLPGenerator
    from gan_jax.steps import EMA, ClassicSpec, adam, classic_gan

    return classic_gan(
        generator=MLPGenerator(output_shape=(2,), hidden=(16, 16), output_activation="linear"),
        discriminator=MLPDiscriminator(hidden=(16, 16)),
        g_tx=adam(1e-2),
        d_tx=adam(1e-2),
        spec=ClassicSpec(z_dim=4, loss="nonsaturating", ema=EMA(0.9)),
        data_shape=(2,),
        rng=jax.random.PRNGKey(0),
    )


FIELDS = ("params", "collections", "opt_state", "ema_params", "ema_collections")


def summarise(state, metrics, fetch) -> dict:
    import jax

    out: dict = {"step": int(fetch(state.step)), "leaves": {}, "metrics": {}}
    digest = hashlib.sha256()
    for net_name, net in sorted(state.nets.items()):
        for field in FIELDS:
            for path, leaf in jax.tree_util.tree_flatten_with_path(getattr(net, field))[0]:
                x = np.asarray(fetch(leaf))
                digest.update(np.ascontiguousarray(x).tobytes())
                x64 = x.astype(np.float64)
                out["leaves"][f"{net_name}.{field}{jax.tree_util.keystr(path)}"] = [float(x64.sum()), float((x64**2).sum())]
    for k, v in metrics.items():
        out["metrics"][k] = float(np.asarray(fetch(v)))
    out["digest"] = digest.hexdigest()
    return out


def run_reference() -> dict:
    import jax

    from gan_jax import steps

    recipe, state = build()
    batch = {"x": global_batch()}
    step = steps.make_train_step(recipe)
    for i in range(STEPS):
        state, metrics = step(state, batch, step=i)
    result = summarise(state, metrics, lambda x: x)
    result.update(process_id=-1, process_count=1, device_count=jax.device_count())
    return result


def run_distributed(process_id: int, num_processes: int, port: int) -> dict:
    from gan_jax import parallel

    # with arguments this is jax.distributed.initialize(**kwargs), before any other JAX call
    parallel.initialize_distributed(
        coordinator_address=f"localhost:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=120,
    )
    import jax
    from jax.experimental import multihost_utils

    assert jax.process_count() == num_processes, jax.process_count()
    assert jax.process_index() == process_id, jax.process_index()
    local = jax.local_device_count()
    assert jax.device_count() == num_processes * local, (jax.device_count(), local)

    mesh = parallel.make_mesh()  # over jax.devices(): every device of every process
    assert mesh.devices.size == jax.device_count()

    full = global_batch()
    per_process = GLOBAL_BATCH // num_processes
    mine = full[process_id * per_process : (process_id + 1) * per_process]
    batch = parallel.shard_batch(mesh, {"x": mine})
    assert batch["x"].shape == full.shape, batch["x"].shape
    # the global array assembled from the processes' halves is the fixed global batch
    gathered = np.asarray(multihost_utils.process_allgather(batch["x"], tiled=True))
    np.testing.assert_array_equal(gathered, full)

    recipe, state = build()
    state = parallel.replicate(mesh, state)
    step = parallel.jit_train_step(mesh, recipe)
    for i in range(STEPS):
        state, metrics = step(state, batch, step=i)

    leaf = jax.tree.leaves(state.nets["G"].params)[0]
    assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == jax.device_count()
    # every local copy of the replicated parameters is the same
    for leaf in jax.tree.leaves(state.nets["D"].params):
        shards = [np.asarray(s.data) for s in leaf.addressable_shards]
        assert all(np.array_equal(shards[0], s) for s in shards[1:])

    result = summarise(state, metrics, lambda x: x.addressable_data(0))
    result.update(process_id=process_id, process_count=jax.process_count(), device_count=jax.device_count())
    multihost_utils.sync_global_devices("done")
    return result


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--reference", action="store_true")
    p.add_argument("--process-id", type=int, default=0)
    p.add_argument("--num-processes", type=int, default=2)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", help="also write the result JSON to this file (stdout is shared with Gloo's C++ logging)")
    args = p.parse_args()
    if args.reference:
        result = run_reference()
    else:
        result = run_distributed(args.process_id, args.num_processes, args.port)
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, sort_keys=True))
    if not args.reference:
        import jax

        jax.distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
