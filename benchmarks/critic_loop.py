"""Time the train step with n_critic=5: lax.scan vs the unrolled critic loop (XLA:CPU).

    python benchmarks/critic_loop.py scan
    python benchmarks/critic_loop.py unroll

WGAN-GP, DCGAN width 32 at 32x32x3 (no BatchNorm in D), batch 64; prints the first-call and
steady-state times. ``gan_jax.engine`` unrolls a repeated phase with at most
``CRITIC_UNROLL_MAX`` repeats into a static loop and runs longer ones with ``lax.scan``;
``scan`` sets that limit to 0 for this process (every repeated phase scanned), ``unroll`` to 8.
"""

import sys
import time

import jax
import jax.numpy as jnp

from gan_jax import engine, steps
from gan_jax.models import DCGANDiscriminator, DCGANGenerator
from gan_jax.regularizers import gradient_penalty

mode = sys.argv[1] if len(sys.argv) > 1 else "unroll"  # scan | unroll
if mode not in ("scan", "unroll"):
    sys.exit(f"usage: {sys.argv[0]} scan|unroll")
engine.CRITIC_UNROLL_MAX = 0 if mode == "scan" else 8  # read when the step is traced
n, b, w = 5, 64, 32
spec = steps.ClassicSpec(z_dim=64, loss="wasserstein", n_critic=n, d_penalties=(steps.Penalty("gp", gradient_penalty, 10.0),))
G, D = DCGANGenerator(image_shape=(32, 32, 3), width=w), DCGANDiscriminator(width=w, batch_norm=False)
recipe, state = steps.classic_gan(generator=G, discriminator=D, g_tx=steps.adam(1e-4), d_tx=steps.adam(1e-4), spec=spec, data_shape=(32, 32, 3),
                                  rng=jax.random.PRNGKey(0))
batch = {"x": jnp.tanh(jax.random.normal(jax.random.PRNGKey(1), (n, b, 32, 32, 3)))}  # recipe.batches_per_step real batches
train_step = steps.make_train_step(recipe)
t0 = time.perf_counter()
state, m = train_step(state, batch, step=0)
jax.block_until_ready(m)
t_first = time.perf_counter() - t0
iters = 5
t0 = time.perf_counter()
for i in range(1, iters + 1):
    state, m = train_step(state, batch, step=i)
jax.block_until_ready(m)
dt = (time.perf_counter() - t0) / iters
print(f"{mode}: first call (compile+run) {t_first:.1f} s, steady {dt*1000:.0f} ms/train step ({n} critic steps, batch {b}, DCGAN width {w} 32x32x3, WGAN-GP)")
