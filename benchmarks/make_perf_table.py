"""Markdown table and bar plot from ``step_throughput.py`` JSON lines.

    python benchmarks/make_perf_table.py RESULTS.jsonl [--md table.md] [--png plot.png]

Table: one row per (model, batch, framework, variant) -- the last line in the file wins
when a key repeats -- with images/s, seconds per step and the ratio to PyTorch eager
float32 on the same model and batch; skipped or failed variants are listed with their
reason. Plot: horizontal bars of images/s per framework/variant, one panel per
(model, batch), drawn with Pillow (a gan_jax dependency; no matplotlib needed).
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


def load(path: str | Path) -> list[dict]:
    rows: OrderedDict[tuple, dict] = OrderedDict()
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        key = (r["model"], r["batch"], r["framework"], r["variant"])
        rows.pop(key, None)
        rows[key] = r
    return list(rows.values())


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
    out = [
        "| model | framework | variant | dtype | batch | images/s | s/step | vs PyTorch eager | rounds x steps |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for (model, batch), group in _groups(rows).items():
        ref = _eager(group)
        for r in group:
            ips = r.get("images_per_sec")
            if ips:
                ratio = f"{ips / ref:.2f}x" if ref else "n/a"
                out.append(f"| {model} | {r['framework']} | {r['variant']} | {r['dtype']} | {batch} | {ips:.1f} | {r['seconds_per_step']:.4f} | {ratio} | {r.get('reps')} x {r.get('steps_per_rep')} |")
            else:
                why = r.get("skipped") or r.get("error") or "no measurement"
                out.append(f"| {model} | {r['framework']} | {r['variant']} | {r['dtype']} | {batch} | - | - | - | - |")
                notes.append(f"- {model} b{batch} {r['framework']}/{r['variant']}: {why}")
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
    if notes:
        out += ["", "Not measured:", *notes]
    return "\n".join(out) + "\n"


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
        draw.text((margin, y), f"{model}, batch {batch}: images/s, higher is better (x PyTorch eager)", fill="black", font=title_font)
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
    args = p.parse_args(argv)
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
