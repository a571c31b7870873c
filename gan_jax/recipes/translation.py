"""Image-to-image translation as phases of the engine: pix2pix and CycleGAN.

Batches are ``{"a": source images, "b": target images}`` (uint8 or floats in [-1, 1]); paired for
pix2pix, independent draws of the two domains for CycleGAN.

* pix2pix (Isola et al. 2017), networks ``G`` (a -> b) and ``D`` (sees ``concat(a, image)``):
  ``Dmain`` then ``Gmain``, as the reference's ``optimize_parameters`` (D updates on the current
  G's fake, G then against the updated D, with the same fake: G's dropout key is shared, and G's
  BatchNorm statistics advance once per step). ``gan_weight=0`` trains the L1-only U-Net (no D),
  ``l1_weight=0`` the GAN-only one, ``conditional=False`` an unconditional D: the paper's ablation.
* CycleGAN (Zhu et al. 2017), networks ``G_ab``, ``G_ba``, ``D_a`` (real a vs ``G_ba(b)``), ``D_b``:
  ``Gmain`` updates both generators (adversarial + cycle + identity losses) and shares its fakes;
  ``Dmain`` updates both discriminators on those fakes through the image pools (the last 50
  fakes of each domain, ``state.extra``, so they are checkpointed).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import noise
from gan_jax.engine import Phase, PhaseContext, Recipe, TrainState, init_network, init_state, to_float

Array = jax.Array

GAN_LOSSES = ("vanilla", "lsgan")


def gan_loss(logits: Array, target_real: bool, kind: str) -> Array:
    """The reference's ``GANLoss``: mean over the patch map of BCE-with-logits (``vanilla``) or of
    the squared error to the target label 1/0 (``lsgan``)."""
    if kind == "vanilla":
        return jnp.mean(jax.nn.softplus(-logits) if target_real else jax.nn.softplus(logits))  # -log s(x) / -log(1 - s(x))
    if kind == "lsgan":
        return jnp.mean((logits - (1.0 if target_real else 0.0)) ** 2)
    raise ValueError(f"unknown GAN loss {kind!r}; choose one of {GAN_LOSSES}")


def l1(x: Array, y: Array) -> Array:
    return jnp.mean(jnp.abs(x - y))


def cycle_losses(real_a: Array, rec_a: Array, real_b: Array, rec_b: Array, *, weight: float,
                 weight_b: float | None = None) -> tuple[Array, Array]:
    """CycleGAN's cycle-consistency losses ``weight * |G_ba(G_ab(a)) - a|_1`` and ``weight_b * |G_ab(G_ba(b)) - b|_1``
    (means; the reference's ``lambda_A``, ``lambda_B``; ``weight_b`` None: ``weight``)."""
    return weight * l1(rec_a, real_a), (weight if weight_b is None else weight_b) * l1(rec_b, real_b)


def match_channels(x: Array, channels: int) -> Array:
    """``x`` with ``channels`` channels: gray repeated to RGB, RGB to gray by ITU-R 601 luma (for the
    identity loss between domains that differ in channels, e.g. MNIST <-> MNIST-M)."""
    c = x.shape[-1]
    if c == channels:
        return x
    if (c, channels) == (1, 3):
        return jnp.repeat(x, 3, axis=-1)
    if (c, channels) == (3, 1):
        return x @ jnp.array([[0.299], [0.587], [0.114]], x.dtype)
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels (the identity loss needs 1 or 3)")


def identity_losses(real_a: Array, idt_a: Array, real_b: Array, idt_b: Array, *, weight: float, cycle_weight: float,
                    cycle_weight_b: float | None = None) -> tuple[Array, Array]:
    """``weight * cycle_weight * |G_ba(a) - a|_1`` and ``weight * cycle_weight_b * |G_ab(b) - b|_1`` (the
    reference's ``lambda_identity * lambda_A`` and ``* lambda_B``; ``idt_a = G_ba(a)``, ``idt_b = G_ab(b)``;
    ``cycle_weight_b`` None: ``cycle_weight``)."""
    wb = cycle_weight if cycle_weight_b is None else cycle_weight_b
    return weight * cycle_weight * l1(idt_a, real_a), weight * wb * l1(idt_b, real_b)


# ----------------------------------------------------------------------------- the image pool


def init_pool(size: int, shape: tuple[int, ...]) -> dict[str, Array]:
    """An empty pool of ``size`` images: ``{"images": (size, *shape) float32, "count": int32}``."""
    return {"images": jnp.zeros((size, *shape), jnp.float32), "count": jnp.zeros((), jnp.int32)}


def pool_query(pool: dict[str, Array], images: Array, key: Array) -> tuple[dict[str, Array], Array]:
    """The reference's ``ImagePool.query`` for a batch, image by image in order: while the pool is
    not full, store the image and return it; once full, with probability 1/2 return a random
    stored image and store the new one in its place, else return the new image.

    Deterministic in ``key`` (one uniform and one slot per image). Returns ``(pool, images D sees)``.
    """
    size = pool["images"].shape[0]
    if size == 0:
        return pool, images
    keys = jax.random.split(key, images.shape[0])

    def one(carry, xs):
        stored, count = carry
        image, k = xs
        ku, ki = jax.random.split(k)
        swap = jax.random.uniform(ku) > 0.5
        slot = jax.random.randint(ki, (), 0, size)
        full = count >= size
        old = stored[slot]
        out = jnp.where(full & swap, old, image)
        where = jnp.where(full, slot, count)
        write = (~full) | swap
        stored = stored.at[where].set(jnp.where(write, image, stored[where]))
        return (stored, jnp.minimum(count + 1, size)), out

    (stored, count), out = jax.lax.scan(one, (pool["images"], pool["count"]), (images.astype(jnp.float32), keys))
    return {"images": stored, "count": count}, out


def _pool_query_global(pool, images: Array, key: Array, axis_name: str | None):
    """``pool_query`` on the global batch: under pmap every device gathers the batch, runs the
    same query (same key), so the pools stay equal, and keeps its own slice."""
    if axis_name is None:
        return pool_query(pool, images, key)
    n = images.shape[0]
    pool, out = pool_query(pool, jax.lax.all_gather(images, axis_name, tiled=True), key)
    return pool, noise._local_slice(out, n, axis_name)


# ----------------------------------------------------------------------------- specs and phases


@dataclasses.dataclass(frozen=True)
class Pix2PixSpec:
    gan_loss: str = "vanilla"
    l1_weight: float = 100.0
    #: 0: the L1-only U-Net (no discriminator)
    gan_weight: float = 1.0
    #: D sees concat(source, image) (cGAN); False: D sees the image alone
    conditional: bool = True

    def __post_init__(self):
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {self.gan_loss!r}; choose one of {GAN_LOSSES}")
        if self.l1_weight < 0 or self.gan_weight < 0 or self.l1_weight == self.gan_weight == 0:
            raise ValueError(f"need l1_weight, gan_weight >= 0, not both 0; got {self.l1_weight}, {self.gan_weight}")


@dataclasses.dataclass(frozen=True)
class CycleGANSpec:
    gan_loss: str = "lsgan"
    #: lambda_A: the weight of the cycle a -> b -> a
    cycle_weight: float = 10.0
    #: lambda_B, of the cycle b -> a -> b (None: lambda_A, the paper's)
    cycle_weight_b: float | None = None
    #: lambda_identity (the identity losses weigh identity_weight * lambda_A and * lambda_B); 0 = off
    identity_weight: float = 0.5
    pool_size: int = 50

    def __post_init__(self):
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {self.gan_loss!r}; choose one of {GAN_LOSSES}")
        if min(self.cycle_weight, self.lambda_b, self.identity_weight, self.pool_size) < 0:
            raise ValueError("cycle_weight, cycle_weight_b, identity_weight and pool_size must be >= 0")

    @property
    def lambda_b(self) -> float:
        return self.cycle_weight if self.cycle_weight_b is None else self.cycle_weight_b


def _pix2pix_phases(spec: Pix2PixSpec) -> tuple[Phase, ...]:
    def d_input(a, image):
        return jnp.concatenate([a, image], axis=-1) if spec.conditional else image

    def d_main(ctx: PhaseContext):
        a, b = to_float(ctx.batch["a"]), to_float(ctx.batch["b"])
        # G runs once per step, as in the reference: D trains on the detached fake, and Gmain
        # back-propagates through this same forward pass (ctx.replay) against the updated D
        f = ctx.apply_kept("G", a, rngs={"dropout": ctx.key("dropout")})
        real_logits = ctx.apply("D", d_input(a, b), update_sn=True)
        fake_logits = ctx.apply("D", d_input(a, f))
        real, fk = ctx.mean(gan_loss(real_logits, True, spec.gan_loss)), ctx.mean(gan_loss(fake_logits, False, spec.gan_loss))
        loss = 0.5 * (real + fk)  # the reference halves D's loss (D learns slower than G)
        return loss, {"loss/d": loss, "loss/d_real": real, "loss/d_fake": fk,
                      "d/real_logit": ctx.mean(jnp.mean(real_logits)), "d/fake_logit": ctx.mean(jnp.mean(fake_logits))}

    def g_main(ctx: PhaseContext):
        a, b = to_float(ctx.batch["a"]), to_float(ctx.batch["b"])
        # the L1-only U-Net has no D phase: G runs here
        f = ctx.replay("G") if spec.gan_weight else ctx.apply("G", a, rngs={"dropout": ctx.key("dropout")})
        metrics = {}
        loss = 0.0
        if spec.gan_weight:
            adv = ctx.mean(gan_loss(ctx.apply("D", d_input(a, f), keep_stats=False), True, spec.gan_loss))
            loss = loss + spec.gan_weight * adv
            metrics["loss/g_gan"] = adv
        rec = ctx.mean(l1(f, b))
        loss = loss + spec.l1_weight * rec
        metrics.update({"loss/g": loss, "loss/g_l1": rec})
        return loss, metrics

    phases = [Phase("Gmain", g_main, updates=("G",), keys=("dropout",))]
    if spec.gan_weight:
        phases.insert(0, Phase("Dmain", d_main, updates=("D",), keys=("dropout",)))
    return tuple(phases)


def _cyclegan_phases(spec: CycleGANSpec) -> tuple[Phase, ...]:
    def g_main(ctx: PhaseContext):
        a, b = to_float(ctx.batch["a"]), to_float(ctx.batch["b"])
        fake_b = ctx.apply("G_ab", a)
        rec_a = ctx.apply("G_ba", fake_b)
        fake_a = ctx.apply("G_ba", b)
        rec_b = ctx.apply("G_ab", fake_a)
        adv_ab = ctx.mean(gan_loss(ctx.apply("D_b", fake_b, keep_stats=False), True, spec.gan_loss))
        adv_ba = ctx.mean(gan_loss(ctx.apply("D_a", fake_a, keep_stats=False), True, spec.gan_loss))
        cyc_a, cyc_b = (ctx.mean(x) for x in cycle_losses(a, rec_a, b, rec_b, weight=spec.cycle_weight, weight_b=spec.lambda_b))
        loss = adv_ab + adv_ba + cyc_a + cyc_b
        metrics = {"loss/g_ab": adv_ab, "loss/g_ba": adv_ba, "loss/cycle_a": cyc_a, "loss/cycle_b": cyc_b}
        if spec.identity_weight:
            # G_ba(a) ~ a, G_ab(b) ~ b; a domain with other channels is converted (gray <-> RGB) on the way in
            idt_a = match_channels(ctx.apply("G_ba", match_channels(a, b.shape[-1])), a.shape[-1])
            idt_b = match_channels(ctx.apply("G_ab", match_channels(b, a.shape[-1])), b.shape[-1])
            id_a, id_b = (ctx.mean(x) for x in identity_losses(a, idt_a, b, idt_b, weight=spec.identity_weight,
                                                                cycle_weight=spec.cycle_weight, cycle_weight_b=spec.lambda_b))
            loss = loss + id_a + id_b
            metrics.update({"loss/idt_a": id_a, "loss/idt_b": id_b})
        ctx.share("fake_a", fake_a)
        ctx.share("fake_b", fake_b)
        metrics["loss/g"] = loss
        return loss, metrics

    def d_main(ctx: PhaseContext):
        a, b = to_float(ctx.batch["a"]), to_float(ctx.batch["b"])
        pools = dict(ctx.extra["pools"])
        pools["a"], fake_a = _pool_query_global(pools["a"], ctx.shared["fake_a"], ctx.key("pool_a"), ctx.axis_name)
        pools["b"], fake_b = _pool_query_global(pools["b"], ctx.shared["fake_b"], ctx.key("pool_b"), ctx.axis_name)
        ctx.set_extra({**ctx.extra, "pools": pools})
        out, metrics = 0.0, {}
        for name, real, fake in (("d_a", a, fake_a), ("d_b", b, fake_b)):
            net = "D_" + name[-1]
            r = ctx.mean(gan_loss(ctx.apply(net, real, update_sn=True), True, spec.gan_loss))
            f = ctx.mean(gan_loss(ctx.apply(net, fake), False, spec.gan_loss))
            loss = 0.5 * (r + f)
            out = out + loss  # the two D's parameters are disjoint: each gets its own loss's gradient
            metrics[f"loss/{name}"] = loss
        metrics["loss/d"] = out
        return out, metrics

    return (Phase("Gmain", g_main, updates=("G_ab", "G_ba")),
            Phase("Dmain", d_main, updates=("D_a", "D_b"), keys=("pool_a", "pool_b")))


# ----------------------------------------------------------------------------- builders


def pix2pix(*, generator: nn.Module, discriminator: nn.Module | None, g_tx: optax.GradientTransformation,
            d_tx: optax.GradientTransformation | None, spec: Pix2PixSpec, shape_a: tuple[int, ...], shape_b: tuple[int, ...],
            rng: Array, name: str = "pix2pix") -> tuple[Recipe, TrainState]:
    """The recipe and a fresh state (``G``: a -> b; ``D`` only when ``spec.gan_weight > 0``)."""
    a = jnp.zeros((1, *shape_a), jnp.float32)
    d_in = jnp.zeros((1, *shape_b[:2], (shape_a[-1] if spec.conditional else 0) + shape_b[-1]), jnp.float32)
    # the U-Net may keep dropout on in inference mode, where init runs: give it a dropout key
    networks = {"G": lambda key: init_network(generator, g_tx, {"params": key, "dropout": key}, a)}
    if spec.gan_weight:
        if discriminator is None or d_tx is None:
            raise ValueError("pix2pix with gan_weight > 0 needs a discriminator")
        networks["D"] = lambda key: init_network(discriminator, d_tx, key, d_in)
    return Recipe(name=name, phases=_pix2pix_phases(spec), generator="G"), init_state(rng, networks)


def cyclegan(*, generators: tuple[nn.Module, nn.Module], discriminators: tuple[nn.Module, nn.Module], g_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation, spec: CycleGANSpec, shape_a: tuple[int, ...], shape_b: tuple[int, ...], rng: Array,
             name: str = "cyclegan") -> tuple[Recipe, TrainState]:
    """The recipe and a fresh state: ``G_ab``, ``G_ba``, ``D_a``, ``D_b`` and the two image pools."""
    if spec.identity_weight and {shape_a[-1], shape_b[-1]} - {1, 3} and shape_a[-1] != shape_b[-1]:
        raise ValueError(f"the identity loss feeds each domain to the other's generator: it needs the same channel count or "
                         f"gray and RGB, got {shape_a[-1]} (a) and {shape_b[-1]} (b); set the identity weight to 0")
    a, b = jnp.zeros((1, *shape_a), jnp.float32), jnp.zeros((1, *shape_b), jnp.float32)
    g_ab, g_ba = generators
    d_a, d_b = discriminators
    networks = {
        "G_ab": lambda key: init_network(g_ab, g_tx, key, a),
        "G_ba": lambda key: init_network(g_ba, g_tx, key, b),
        "D_a": lambda key: init_network(d_a, d_tx, key, a),
        "D_b": lambda key: init_network(d_b, d_tx, key, b),
    }
    extra = {"pools": {"a": init_pool(spec.pool_size, shape_a), "b": init_pool(spec.pool_size, shape_b)}}
    return Recipe(name=name, phases=_cyclegan_phases(spec), generator="G_ab"), init_state(rng, networks, extra)
