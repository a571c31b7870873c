"""Markdown table, terminal table and bar plot from ``step_throughput.py`` JSON lines.

    python benchmarks/make_perf_table.py RESULTS.jsonl [--md table.md] [--png plot.png] [--text]

Table: one row per (model, batch, framework, variant) -- the last line in the file wins
when a key repeats -- with real images/s (batch x n_critic per step), generator steps/s,
seconds per step, the ratio to PyTorch eager float32 on the same model and batch, achieved
TFLOP/s and MFU where the lines have them; skipped or failed variants are listed with their
reason. Lines that are not step-throughput results (``benchmarks/gpu_check.sh`` also writes
``"bench": "part"`` and ``"bench": "frechet"`` lines) are left out of it; ``--text`` prints a
compact fixed-width table of both kinds for a terminal. Plot: horizontal bars of images/s per
framework/variant, one panel per (model, batch), drawn with Pillow (a gan_jax dependency; no
matplotlib needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import OrderedDict
from pathlib import Path

COLORS = {"jax": (66, 133, 244), "torch": (238, 76, 44)}
ORDER = ["jit", "scan", "jit_bf16", "scan_bf16", "jit_conv_transpose", "eager", "eager_bf16", "compile"]


def _order(r: dict) -> tuple:
    v = r["variant"]
    return (r["framework"] != "jax", ORDER.index(v) if v in ORDER else len(ORDER), v)


def _records(path: str | Path) -> list[dict]:
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a killed process
            continue
    return out


def _is_step(r: dict) -> bool:
    return r.get("bench", "step_throughput") == "step_throughput" and "model" in r and "framework" in r


def load(path: str | Path) -> list[dict]:
    rows: OrderedDict[tuple, dict] = OrderedDict()
    for r in _records(path):
        if not _is_step(r):
            continue
        key = (r["model"], r["batch"], r["framework"], r["variant"])
        rows.pop(key, None)
        rows[key] = r
    return list(rows.values())


def _g_steps(r: dict) -> float | None:
    if r.get("g_steps_per_sec"):
        return r["g_steps_per_sec"]
    return 1.0 / r["seconds_per_step"] if r.get("seconds_per_step") else None


def _fmt(x, spec: str, none: str = "-") -> str:
    return none if x is None else format(x, spec)


def _groups(rows: list[dict]) -> OrderedDict:
    groups: OrderedDict[tuple, list[dict]] = OrderedDict()
    for r in rows:
        groups.setdefault((r["model"], r["batch"]), []).append(r)
    return OrderedDict((k, sorted(g, key=_order)) for k, g in groups.items())


def _eager(group: list[dict]) -> float | None:
    for r in group:
        if r["framework"] == "torch" and r["variant"] == "eager" and r.get("images_per_sec"):
            return r["images_per_sec"]
    return None


def markdown(rows: list[dict]) -> str:
    flops = any(r.get("achieved_tflops") for r in rows)
    head = "| model | framework | variant | dtype | batch | real images/s | G steps/s | s/step | vs PyTorch eager |"
    rule = "|---|---|---|---|---:|---:|---:|---:|---:|"
    if flops:
        head += " TFLOP/s | MFU |"
        rule += "---:|---:|"
    out = [head + " rounds x steps |", rule + "---:|"]
    notes = []
    for (model, batch), group in _groups(rows).items():
        ref = _eager(group)
        for r in group:
            ips = r.get("images_per_sec")
            if ips:
                ratio = f"{ips / ref:.2f}x" if ref else "n/a"
                line = f"| {model} | {r['framework']} | {r['variant']} | {r['dtype']} | {batch} | {ips:.1f} | {_fmt(_g_steps(r), '.2f')} | {r['seconds_per_step']:.4f} | {ratio} |"
                if flops:
                    mfu = r.get("mfu")
                    line += f" {_fmt(r.get('achieved_tflops'), '.3g')} | {_fmt(mfu * 100 if mfu is not None else None, '.1f')}{'%' if mfu is not None else ''} |"
                out.append(line + f" {r.get('reps')} x {r.get('steps_per_rep')} |")
            else:
                why = r.get("skipped") or r.get("error") or "no measurement"
                out.append(f"| {model} | {r['framework']} | {r['variant']} | {r['dtype']} | {batch} | - | - | - | - |" + (" - | - |" if flops else "") + " - |")
                notes.append(f"- {model} b{batch} {r['framework']}/{r['variant']}: {why}")
    peaks = sorted({(r.get("dtype"), r.get("peak_tflops"), r.get("peak_source")) for r in rows if r.get("peak_tflops")}, key=str)
    flop_notes = sorted({(r["model"], r["batch"], r.get("flops_per_step"), r.get("flops_per_step_analytic"), r.get("flops_source")) for r in rows if r.get("flops_per_step")}, key=str)
    first = rows[0]
    v = first.get("versions", {})
    dev = first.get("device", {})
    out.append("")
    out.append(
        f"Device: {dev.get('cpu', '?')} ({dev.get('cores', '?')} cores); threads jax {first.get('threads', {}).get('jax')}, "
        f"torch {first.get('threads', {}).get('torch')}. Versions: jax {v.get('jax')}, flax {v.get('flax')}, optax {v.get('optax')}, "
        f"torch {v.get('torch')}, python {v.get('python')}. Run at {first.get('timestamp')}."
    )
    env = {k: x for k, x in first.get("env", {}).items() if x is not None and k != "JAX_PLATFORMS"}
    if env:
        out.append(f"Environment: {env}.")
    seen = set()
    for r in rows:
        if "loadavg_end" not in r:
            continue
        key = (r["model"], r["batch"], r.get("timestamp"))
        if key not in seen:
            seen.add(key)
            names = ", ".join(x["variant"] for x in rows if (x["model"], x["batch"], x.get("timestamp")) == key)
            out.append(f"Load average (1/5/15 min), {r['model']} b{r['batch']} ({names}; run {r.get('timestamp')}): start {r['loadavg_start']}, end {r['loadavg_end']}.")
    if flop_notes:
        out.append("FLOPs per step (the same for every line of a model; real images/s = batch x n_critic / s/step): " + "; ".join(
            f"{m} b{b} {f:.4g} (analytic {_fmt(a, '.4g')}; {src})" for m, b, f, a, src in flop_notes) + ".")
    if peaks:
        out.append("MFU peaks: " + "; ".join(f"{d} {p} TFLOP/s ({src or 'no source given'})" for d, p, src in peaks) + ".")
    if notes:
        out += ["", "Not measured:", *notes]
    return "\n".join(out) + "\n"


def text_table(path: str | Path) -> str:
    """A compact fixed-width table of a gpu_check.jsonl-like file: step lines, FID timings, parts."""
    recs = _records(path)
    rows = load(path)
    lines = []
    if rows:
        lines.append(f"{'model':<14} {'fw/variant':<20} {'dtype':<8} {'b':>4} {'real img/s':>11} {'G step/s':>9} {'x eager':>8} {'TFLOP/s':>8} {'MFU':>7}  note")
        for (model, batch), group in _groups(rows).items():
            ref = _eager(group)
            for r in group:
                name = f"{r['framework']}/{r['variant']}"
                ips = r.get("images_per_sec")
                if ips:
                    mfu = r.get("mfu")
                    note = r.get("note") or ""
                    lines.append(
                        f"{model:<14} {name:<20} {r['dtype']:<8} {batch:>4} {ips:>11.1f} {_fmt(_g_steps(r), '.2f'):>9} "
                        f"{(f'{ips / ref:.2f}x' if ref else '-'):>8} {_fmt(r.get('achieved_tflops'), '.3g'):>8} "
                        f"{(f'{mfu * 100:.1f}%' if mfu is not None else '-'):>7}  {note[:40]}"
                    )
                else:
                    why = (r.get("skipped") or r.get("error") or "no measurement").replace("\n", " ")
                    lines.append(f"{model:<14} {name:<20} {r['dtype']:<8} {batch:>4} {'-':>11} {'-':>9} {'-':>8} {'-':>8} {'-':>7}  {why[:70]}")
        params = sorted({(r["model"], r.get("n_params_g"), r.get("n_params_d"), r.get("n_params_match")) for r in rows if r.get("n_params_g")}, key=str)
        if params:
            lines.append("params (G, D; jax == torch): " + ", ".join(f"{m} {g}/{d}{'' if ok else ' MISMATCH'}" for m, g, d, ok in params))
        peaks = sorted({(r.get("dtype"), r.get("peak_tflops")) for r in rows if r.get("peak_tflops")}, key=str)
        if peaks:
            lines.append("MFU peaks (TFLOP/s): " + ", ".join(f"{d} {p}" for d, p in peaks) + f" ({next((r.get('peak_source') for r in rows if r.get('peak_source')), '')})")
    fid = [r for r in recs if r.get("bench") == "frechet"]
    for r in fid:
        if r.get("seconds") is not None:
            lines.append(f"frechet d={r.get('dim')} {r.get('case', '')}: {r.get('impl')} on {r.get('backend', '?')}: median {r['seconds']:.4g} s "
                         f"(first call {r.get('first_call_s')} s, {r.get('repeats')} runs) fid {r.get('fid'):.6g}"
                         + (f", rel diff {r['rel_diff']:.2g}" if r.get("rel_diff") is not None else ""))
        else:
            lines.append(f"frechet d={r.get('dim')}: {r.get('impl')}: {r.get('skipped') or r.get('error')}")
    parts = [r for r in recs if r.get("bench") == "part"]
    if parts:
        lines.append("parts: " + ", ".join(f"{r['part']} rc={r['rc']} {r.get('wall_s')}s" for r in parts))
    return "\n".join(lines) + "\n"


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def plot(rows: list[dict], path: str | Path) -> None:
    from PIL import Image, ImageDraw

    groups = [(k, [r for r in g if r.get("images_per_sec")]) for k, g in _groups(rows).items()]
    groups = [(k, g) for k, g in groups if g]
    font, title_font = _font(14), _font(16)
    bar_h, gap, label_w, bar_w, margin = 22, 6, 230, 520, 16
    height = margin + sum(30 + len(g) * (bar_h + gap) + 14 for _, g in groups) + margin
    width = margin + label_w + bar_w + 110 + margin
    img = Image.new("RGB", (width, max(height, 60)), "white")
    draw = ImageDraw.Draw(img)
    y = margin
    for (model, batch), group in groups:
        ref = _eager(group)
        draw.text((margin, y), f"{model}, batch {batch}: real images/s, higher is better (x PyTorch eager)", fill="black", font=title_font)
        y += 30
        top = max(r["images_per_sec"] for r in group)
        for r in group:
            ips = r["images_per_sec"]
            draw.text((margin, y + 3), f"{r['framework']} {r['variant']}", fill="black", font=font)
            x0 = margin + label_w
            length = max(1, int(bar_w * ips / top))
            draw.rectangle([x0, y, x0 + length, y + bar_h], fill=COLORS.get(r["framework"], (120, 120, 120)))
            text = f"{ips:.1f}" + (f"  ({ips / ref:.2f}x)" if ref else "")
            draw.text((x0 + length + 6, y + 3), text, fill="black", font=font)
            y += bar_h + gap
        y += 14
    img.save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="JSONL written by step_throughput.py")
    p.add_argument("--md", default=None, help="markdown output (default: stdout)")
    p.add_argument("--png", default=None, help="bar plot output")
    p.add_argument("--text", action="store_true", help="print a compact fixed-width table (step, frechet and part lines) instead")
    args = p.parse_args(argv)
    if args.text:
        print(text_table(args.results), end="")
        return 0
    rows = load(args.results)
    if not rows:
        print(f"no results in {args.results}", file=sys.stderr)
        return 1
    md = markdown(rows)
    if args.md:
        Path(args.md).write_text(md)
    else:
        print(md, end="")
    if args.png:
        plot(rows, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
