"""SeqGAN adversarial-training throughput: gan_jax (compiled rollouts) vs plain PyTorch, one run, one machine.

    python benchmarks/text_throughput.py [--d-steps 5] [--reps 3] [--sample-reps 10] [--no-breakdown]
        [--out benchmarks/results/text_throughput.json]

Sizes are SeqGAN's synthetic benchmark (Yu et al. 2017): vocabulary 5000, length 20, batch 64;
G an LSTM (embedding 32, hidden 32, start token 0, softmax readout); D SeqGAN's CNN (embedding
64, Conv filters (width, count) ``gan_jax.models.text.SEQGAN_FILTERS``, ReLU, max over time,
highway, dropout 0.25, 2 classes; logit = score1 - score0). Real batches come from gan_jax's
``seqgan_random`` oracle stream, the same arrays for both frameworks.

Measured per framework (warm-up first: gan_jax compiles, PyTorch allocates; then the median of
the timed repetitions):

* ``sample``: 64 x 20 tokens from G (``tokens_per_sec`` = 1280 / seconds).
* ``adversarial_step``: one SeqGAN step = sample 64 sequences; rewards from 16 rollouts of the
  *rollout network* (a delayed copy of G, ``beta <- 0.8 beta + 0.2 theta`` after the G update)
  completing every prefix 1..19, each scored ``sigmoid(D logit)`` (D in eval mode), averaged;
  the last token's reward D on the whole sequence; one policy-gradient update of G (loss
  ``-sum_t log G(x_t | x_<t) Q_t``, grad-norm clip 5, Adam 0.01); then ``--d-steps`` D updates,
  each on 64 real + 64 freshly sampled sequences (2-class cross-entropy + 0.2 x the L2 of D's
  output layer, as SeqGAN and gan_jax; Adam 1e-4). gan_jax runs its real train step
  (``make_train_step`` of the ``seqgan`` recipe, phases Gpg + Dadv: one ``jax.jit`` call).

Tokens per step, three numbers, because the two implementations do different amounts of work
for the same result:

* ``tokens_common`` = 64*20 + 16*19*64*20 + d_steps*64*20 (396,800 for 5 D steps): every
  sequence G emits counted as a full 20-token sequence. Same numerator for both frameworks, so
  ``tokens_per_sec_common`` compares step times and nothing else. This is the headline number.
* ``tokens_sampled``: token positions where the framework actually evaluated the softmax and
  drew. gan_jax draws every rollout as a full 20-step ``lax.scan`` with the prefix kept
  (``jnp.where(t < prefix_len, prefix, draw)``: a fixed shape for the compiler; the draws at
  prefix positions are thrown away), so it equals ``tokens_common``. The PyTorch version runs
  the prefix through the LSTM teacher-forced (64 rows, no softmax) and samples only the
  remaining 20 - g tokens, for 16*64 rows at once: 64*20 + 16*64*190 + d_steps*64*20
  (202,240), about half.
* ``tokens_new``: tokens that end up in an output as fresh draws (the same 202,240 for both).

The PyTorch side (this file) is written the way the PyTorch SeqGAN collections are (e.g.
TextGAN-PyTorch): ``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear``, sampling with a Python loop
over positions and ``torch.multinomial`` on the softmax, rollouts a Python loop over the 19
prefix lengths with all 16 rollouts of a prefix batched (16*64 = 1024 rows; TextGAN-PyTorch
loops over the rollouts too, so this is the faster variant), D on each prefix's 1024
completions, ``torch.no_grad()`` for sampling and rewards, ``torch.set_num_threads`` = the
cores this process may use. ``torch.compile`` is not tried: it needs a C/C++ toolchain for its
CPU backend and minutes of compilation, and a Python sampling loop with ``multinomial`` breaks
its graphs anyway. Differences that remain: ``nn.LSTM`` has two bias vectors (b_ih, b_hh; 128
parameters more than gan_jax's one); gan_jax samples by inverse CDF with one uniform per token
(``gan_jax.models.text.sample_tokens``), PyTorch with ``multinomial`` (same distribution);
initialisation (G N(0, 0.1) in both; D PyTorch's defaults, embedding U(-1, 1)) does not change
the work done.

``--breakdown`` (default on) also times where the time goes: PyTorch per part of the step
(instrumented, CPU ops are synchronous; mean seconds per step); gan_jax the two big parts of
its step compiled alone (the 19,456 rollout completions, D on them), once each after a compile;
and one PyTorch draw from (1024, 5000) probabilities (one rollout position) by ``multinomial``
and by an inverse CDF (``searchsorted`` on the cumsum), to show what the sampler alone costs.

Warm-up: gan_jax's first step and first sample compile (timed: ``step_compile_seconds``,
``sample_compile_seconds``); PyTorch runs every kernel of the step once without an update
(``warmup_seconds``; nothing to compile).

Recorded: the machine (``platform.processor()``, the CPU count and affinity, the load average
before the run: other processes on the machine slow both frameworks), jax and torch versions,
thread count, the command, setup / compile times.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

VOCAB, SEQ_LEN, BATCH, ROLLOUTS = 5000, 20, 64, 16
G_EMB, G_HIDDEN, D_EMB, D_DROPOUT = 32, 32, 64, 0.25
LR_G, LR_D, CLIP, D_L2, ROLLOUT_RATE = 0.01, 1e-4, 5.0, 0.2, 0.8


def token_counts(d_steps: int) -> dict[str, int]:
    seq = BATCH * SEQ_LEN
    common = seq + ROLLOUTS * (SEQ_LEN - 1) * seq + d_steps * seq
    new = seq + ROLLOUTS * BATCH * sum(SEQ_LEN - g for g in range(1, SEQ_LEN)) + d_steps * seq
    return {"tokens_common": common, "tokens_new": new, "sampled_gan_jax": common, "sampled_pytorch": new}


def _median_time(fn, reps: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def real_batches(dataset, d_steps: int, count: int) -> list[np.ndarray]:
    """``count`` steps' worth of real batches (d_steps, 64, 20) int32 from gan_jax's stream."""
    stream = dataset.stream(BATCH, 0)
    return [np.stack([np.asarray(next(stream)["x"], np.int32) for _ in range(d_steps)]) for _ in range(count)]


# ----------------------------------------------------------------------------- gan_jax


def build_jax(d_steps: int):
    from gan_jax.config import Config, DataConfig, TrainConfig
    from gan_jax.experiment import build_state
    from gan_jax.families.text import RecipeConfig

    cfg = Config(experiment="bench", family="text", data=DataConfig(name="seqgan_random"),  # random oracle: no file
                 recipe=RecipeConfig(method="seqgan", pretrain_g_steps=0, pretrain_d_steps=0, d_steps=d_steps, rollouts=ROLLOUTS),
                 train=TrainConfig(steps=10**6, batch_size=BATCH))
    return build_state(cfg)


def run_jax(recipe, state, batches: list[np.ndarray], args) -> dict:
    import jax

    from gan_jax.engine import make_train_step, param_count
    from gan_jax.text_eval import generate_tokens

    assert recipe.batches_at(0) == args.d_steps, recipe.batches_at(0)
    n_g, n_d = param_count(state.nets["G"].params), param_count(state.nets["D"].params)
    step = make_train_step(recipe)  # donates state
    it = iter(batches)
    box = {"state": state, "i": 0}

    def one_step():
        box["state"], box["metrics"] = step(box["state"], {"x": next(it)}, step=box["i"])
        jax.block_until_ready(box["metrics"])
        box["i"] += 1

    t0 = time.perf_counter()
    one_step()
    compile_s = time.perf_counter() - t0
    step_s, step_times = _median_time(one_step, args.reps)

    t0 = time.perf_counter()
    generate_tokens(recipe, box["state"], BATCH, seed=0)
    sample_compile_s = time.perf_counter() - t0
    seeds = iter(range(1, 10**6))
    sample_s, _ = _median_time(lambda: generate_tokens(recipe, box["state"], BATCH, seed=next(seeds)), args.sample_reps)

    out = {"framework": "gan_jax", "n_params_g": n_g, "n_params_d": n_d, "step_compile_seconds": compile_s,
           "sample_compile_seconds": sample_compile_s, "seconds_per_step": step_s, "step_times": step_times, "sample_seconds": sample_s,
           "last_metrics": {k: float(v) for k, v in box["metrics"].items()}}
    if args.breakdown:
        out["breakdown"] = jax_breakdown(box["state"])
    return out


def jax_breakdown(state) -> dict[str, float]:
    """The step's two big parts compiled alone: all rollout completions (rows = 16*19*64, the
    full 20-step scan with prefixes kept, as ``rollout_rewards``) and D (eval) on them."""
    import jax
    import jax.numpy as jnp

    g, d = state.nets["G"], state.nets["D"]
    rows = ROLLOUTS * (SEQ_LEN - 1) * BATCH
    keys = jax.random.split(jax.random.PRNGKey(1), rows)
    prefix = jnp.asarray(np.random.default_rng(0).integers(0, VOCAB, (rows, SEQ_LEN)), jnp.int32)
    plen = jnp.asarray(np.repeat(np.arange(1, SEQ_LEN), ROLLOUTS * BATCH), jnp.int32)
    complete = jax.jit(lambda p, k, x, n: g.module.apply({"params": p}, k, prefix=x, prefix_len=n, method=g.module.sample))
    score = jax.jit(lambda p, x: jax.nn.sigmoid(d.module.apply({"params": p}, x, train=False)))
    out = {}
    for name, fn in (("rollout_completions", lambda: complete(state.extra["rollout"], keys, prefix, plen)),
                     ("rollout_d", lambda: score(d.params, prefix))):
        jax.block_until_ready(fn())  # compile
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        out[name] = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------- PyTorch


def torch_modules():
    import torch
    import torch.nn.functional as F
    from torch import nn

    from gan_jax.models.text import SEQGAN_FILTERS

    class Generator(nn.Module):
        """SeqGAN's G: embedding, one-layer LSTM, linear readout to the vocabulary."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, G_EMB)
            self.lstm = nn.LSTM(G_EMB, G_HIDDEN, batch_first=True)
            self.out = nn.Linear(G_HIDDEN, VOCAB)
            for p in self.parameters():  # SeqGAN / gan_jax: every parameter N(0, 0.1)
                nn.init.normal_(p, 0.0, 0.1)

        def forward(self, tokens):
            """Teacher-forced logits (B, L, V): position t sees start, tokens[:, :t]."""
            start = torch.zeros_like(tokens[:, :1])
            h, _ = self.lstm(self.embedding(torch.cat([start, tokens[:, :-1]], 1)))
            return self.out(h)

        @torch.no_grad()
        def sample(self, n: int, prefix=None, repeats: int = 1):
            """``n`` sequences (n, L); with ``prefix`` (B, g): ``repeats`` completions of each row,
            rows (rollout, example), the prefix run teacher-forced once and only L - g tokens drawn."""
            if prefix is None:
                inp, state, out = torch.zeros(n, 1, dtype=torch.long), None, []
            else:
                start = torch.zeros_like(prefix[:, :1])
                h, (hn, cn) = self.lstm(self.embedding(torch.cat([start, prefix[:, :-1]], 1)))
                state = (hn.repeat(1, repeats, 1), cn.repeat(1, repeats, 1))
                inp, out = prefix[:, -1:].repeat(repeats, 1), [prefix.repeat(repeats, 1)]
            for _ in range(SEQ_LEN - (0 if prefix is None else prefix.shape[1])):
                h, state = self.lstm(self.embedding(inp), state)
                inp = torch.multinomial(F.softmax(self.out(h[:, 0]), dim=-1), 1)
                out.append(inp)
            return torch.cat(out, 1)

    class Discriminator(nn.Module):
        """SeqGAN's CNN: embedding, Conv1d per filter width, ReLU, max over time, highway, dropout, 2 scores."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, D_EMB)
            nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
            self.convs = nn.ModuleList([nn.Conv1d(D_EMB, n, w) for w, n in SEQGAN_FILTERS])
            size = sum(n for _, n in SEQGAN_FILTERS)
            self.highway_lin, self.highway_gate = nn.Linear(size, size), nn.Linear(size, size)
            self.dropout = nn.Dropout(D_DROPOUT)
            self.out = nn.Linear(size, 2)

        def forward(self, tokens):
            e = self.embedding(tokens).transpose(1, 2)  # (B, emb, L)
            h = torch.cat([F.relu(conv(e)).amax(dim=2) for conv in self.convs], 1)
            t = torch.sigmoid(self.highway_gate(h))
            h = t * F.relu(self.highway_lin(h)) + (1.0 - t) * h
            return self.out(self.dropout(h))  # scores (B, 2); logit = scores[:, 1] - scores[:, 0]

    return Generator, Discriminator


class TorchSeqGAN:
    def __init__(self, d_steps: int, seed: int = 0):
        import torch

        torch.manual_seed(seed)
        Generator, Discriminator = torch_modules()
        self.g, self.d = Generator(), Discriminator()
        self.rollout = copy.deepcopy(self.g)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=LR_G)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=LR_D)
        self.d_steps = d_steps
        self.times: dict[str, float] = {}

    def _tick(self, name: str, t0: float) -> float:
        t = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + t - t0
        return t

    @staticmethod
    def n_params(m) -> int:
        return sum(p.numel() for p in m.parameters())

    def rewards(self, x):
        """(B, L) rewards: per prefix length g, 16 completions of all 64 rows in one batch; then D."""
        import torch

        self.d.eval()
        rewards = []
        with torch.no_grad():
            for g in range(1, SEQ_LEN):
                t0 = time.perf_counter()
                done = self.rollout.sample(0, prefix=x[:, :g], repeats=ROLLOUTS)
                t0 = self._tick("rollout_completions", t0)
                p = torch.softmax(self.d(done), dim=-1)[:, 1]  # = sigmoid(score1 - score0)
                rewards.append(p.view(ROLLOUTS, -1).mean(0))
                self._tick("rollout_d", t0)
            t0 = time.perf_counter()
            rewards.append(torch.softmax(self.d(x), dim=-1)[:, 1])
            self._tick("rollout_d", t0)
        self.d.train()
        return torch.stack(rewards, 1)

    def step(self, real):
        import torch
        import torch.nn.functional as F

        t0 = time.perf_counter()
        x = self.g.sample(BATCH)
        self._tick("sample", t0)
        q = self.rewards(x)
        t0 = time.perf_counter()
        logp = F.log_softmax(self.g(x), dim=-1).gather(2, x[..., None])[..., 0]
        loss_g = -(logp * q).sum()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        torch.nn.utils.clip_grad_norm_(self.g.parameters(), CLIP)
        self.opt_g.step()
        with torch.no_grad():  # rollout net: beta <- r beta + (1 - r) theta
            torch._foreach_lerp_(list(self.rollout.parameters()), list(self.g.parameters()), 1.0 - ROLLOUT_RATE)
        t0 = self._tick("pg_update", t0)
        labels = torch.cat([torch.ones(BATCH, dtype=torch.long), torch.zeros(BATCH, dtype=torch.long)])
        for i in range(self.d_steps):
            fake = self.g.sample(BATCH)
            scores = self.d(torch.cat([torch.from_numpy(real[i]).long(), fake]))
            out = self.d.out
            loss_d = F.cross_entropy(scores, labels) + D_L2 * 0.5 * (out.weight.pow(2).sum() + out.bias.pow(2).sum())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        self._tick("d_steps", t0)
        self.last = {"loss/g": loss_g.item() / (BATCH * SEQ_LEN), "loss/d": loss_d.item(), "reward/mean": q.mean().item()}

    def warmup(self, real):
        """Every kernel of the step once (allocator, thread pool; nothing to compile), no update."""
        import torch
        import torch.nn.functional as F

        x = self.g.sample(BATCH)
        with torch.no_grad():
            self.d.eval()
            self.d(self.rollout.sample(0, prefix=x[:, :10], repeats=ROLLOUTS))
            self.d.train()
        F.log_softmax(self.g(x), dim=-1).sum().backward()
        F.cross_entropy(self.d(torch.cat([torch.from_numpy(real[0]).long(), x])), torch.zeros(2 * BATCH, dtype=torch.long)).backward()
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)


def run_torch(batches: list[np.ndarray], args) -> dict:
    import torch

    model = TorchSeqGAN(args.d_steps)
    it = iter(batches)
    t0 = time.perf_counter()
    model.warmup(batches[-1])
    warmup_s = time.perf_counter() - t0
    model.times = {}
    step_s, step_times = _median_time(lambda: model.step(next(it)), args.reps)
    breakdown = {k: v / args.reps for k, v in model.times.items()}  # mean per step
    model.g.sample(BATCH)
    sample_s, _ = _median_time(lambda: model.g.sample(BATCH), args.sample_reps)
    out = {"framework": "pytorch", "n_params_g": model.n_params(model.g), "n_params_d": model.n_params(model.d),
           "warmup_seconds": warmup_s, "seconds_per_step": step_s, "step_times": step_times, "sample_seconds": sample_s,
           "threads": torch.get_num_threads(), "last_metrics": model.last}
    if args.breakdown:
        out["breakdown"] = breakdown
        out["draw_1024x5000_ms"] = torch_draw_ms()
    return out


def torch_draw_ms(reps: int = 5) -> dict[str, float]:
    """One draw per row of (1024, 5000) probabilities (one rollout position): ``multinomial``
    (what the PyTorch side uses) against an inverse CDF at one uniform per row (gan_jax's sampler)."""
    import torch

    probs = torch.softmax(torch.randn(ROLLOUTS * BATCH, VOCAB), dim=-1)
    fns = {"multinomial": lambda: torch.multinomial(probs, 1),
           "inverse_cdf": lambda: torch.searchsorted(probs.cumsum(-1), torch.rand(len(probs), 1)).clamp_(max=VOCAB - 1)}
    return {k: 1000 * _median_time(fn, reps)[0] for k, fn in fns.items()}


# ----------------------------------------------------------------------------- report


def finish(row: dict, counts: dict[str, int]) -> dict:
    s = row["seconds_per_step"]
    sampled = counts["sampled_gan_jax" if row["framework"] == "gan_jax" else "sampled_pytorch"]
    row.update({"sample_tokens_per_sec": BATCH * SEQ_LEN / row["sample_seconds"], "tokens_common": counts["tokens_common"],
                "tokens_sampled": sampled, "tokens_new": counts["tokens_new"], "tokens_per_sec_common": counts["tokens_common"] / s,
                "tokens_per_sec_sampled": sampled / s, "tokens_per_sec_new": counts["tokens_new"] / s})
    return row


def table(rows: list[dict]) -> str:
    lines = ["| framework | sample (tok/s) | adversarial step (s) | tok/s common | tok/s sampled | tok/s new |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['framework']} | {r['sample_tokens_per_sec']:,.0f} | {r['seconds_per_step']:.2f} | {r['tokens_per_sec_common']:,.0f} | "
                     f"{r['tokens_per_sec_sampled']:,.0f} | {r['tokens_per_sec_new']:,.0f} |")
    if len(rows) == 2:
        j, t = rows
        lines.append(f"| gan_jax / pytorch | {j['sample_tokens_per_sec'] / t['sample_tokens_per_sec']:.2f}x | "
                     f"{t['seconds_per_step'] / j['seconds_per_step']:.2f}x faster | | | |")
    for r in rows:
        if "breakdown" in r:
            parts = ", ".join(f"{k} {v:.2f}s" for k, v in r["breakdown"].items())
            lines.append(f"\n{r['framework']} breakdown: {parts}")
        if "draw_1024x5000_ms" in r:
            lines.append("pytorch one (1024, 5000) draw: " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["draw_1024x5000_ms"].items()))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-steps", type=int, default=5)
    p.add_argument("--reps", type=int, default=3, help="timed adversarial steps per framework (after one warm-up)")
    p.add_argument("--sample-reps", type=int, default=10)
    p.add_argument("--breakdown", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--frameworks", default="gan_jax,pytorch")
    p.add_argument("--out", default="benchmarks/results/text_throughput.json")
    args = p.parse_args()

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    import jax

    t0 = time.perf_counter()
    dataset, recipe, state = build_jax(args.d_steps)  # also the real data of the PyTorch side
    setup_s = time.perf_counter() - t0
    batches = real_batches(dataset, args.d_steps, args.reps + 2)
    counts = token_counts(args.d_steps)
    rows = []
    for fw in [f.strip() for f in args.frameworks.split(",") if f.strip()]:
        row = run_jax(recipe, state, batches, args) if fw == "gan_jax" else run_torch(batches, args)
        rows.append(finish(row, counts))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    md = table(rows)
    print(md)
    if args.out:
        meta = {"command": " ".join(["python", *sys.argv]), "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                "cores_used": cores, "load_average_before": load, "jax": jax.__version__, "jax_backend": jax.default_backend(),
                "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"),
                "sizes": {"vocab": VOCAB, "seq_len": SEQ_LEN, "batch": BATCH, "rollouts": ROLLOUTS, "d_steps": args.d_steps},
                "reps": args.reps, "sample_reps": args.sample_reps, "gan_jax_setup_seconds": setup_s, **counts}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows, "table": md}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
