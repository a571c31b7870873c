"""Time train_step with n_critic=5: lax.scan vs the unrolled critic loop (XLA:CPU).

    python benchmarks/critic_loop.py scan
    python benchmarks/critic_loop.py unroll

WGAN-GP, DCGAN width 32 at 32x32x3, batch 64; prints the first-call and steady-state times.
"""
import sys, time
import jax, jax.numpy as jnp
from gan_jax import steps
from gan_jax.models import DCGANDiscriminator, DCGANGenerator
from gan_jax.regularizers import Penalty, gradient_penalty
from gan_jax.state import GANSpec, adam, create_state

mode = sys.argv[1]  # scan | unroll
steps.CRITIC_UNROLL_MAX = 0 if mode == "scan" else 8
n, b, w = 5, 64, 32
spec = GANSpec(z_dim=64, loss="wasserstein", n_critic=n, d_penalties=(Penalty("gp", gradient_penalty, 10.0),))
G, D = DCGANGenerator(image_shape=(32, 32, 3), width=w), DCGANDiscriminator(width=w, batch_norm=False)
state = create_state(generator=G, discriminator=D, g_tx=adam(1e-4), d_tx=adam(1e-4), spec=spec, data_shape=(32, 32, 3), rng=jax.random.PRNGKey(0))
batch = {"x": jnp.tanh(jax.random.normal(jax.random.PRNGKey(1), (n, b, 32, 32, 3)))}
f = jax.jit(steps.train_step, donate_argnums=0)
rng = jax.random.PRNGKey(2)
t0 = time.perf_counter(); state, m = f(state, batch, rng); jax.block_until_ready(m); t_first = time.perf_counter() - t0
iters = 5
t0 = time.perf_counter()
for _ in range(iters):
    state, m = f(state, batch, rng)
jax.block_until_ready(m)
dt = (time.perf_counter() - t0) / iters
print(f"{mode}: first call (compile+run) {t_first:.1f} s, steady {dt*1000:.0f} ms/train step ({n} critic steps, batch {b}, DCGAN width {w} 32x32x3, WGAN-GP)")
