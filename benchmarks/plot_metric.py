"""Plot one logged metric of one or more runs against the step, as a PNG (PIL only, no matplotlib).

    python benchmarks/plot_metric.py METRIC --out FILE.png WORKDIR[=LABEL] [WORKDIR[=LABEL] ...] [--title T]

Reads each run's ``metrics.jsonl`` (the window means the driver logs every ``log.every`` steps),
e.g. ``ada/p`` for ADA's augmentation probability or ``d/real_signs`` for its overfitting
heuristic E[sign D(real)].
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def series(workdir: Path, metric: str) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [(r["step"], float(r[metric])) for r in rows if metric in r]


def plot(curves: list[tuple[str, list[tuple[int, float]]]], metric: str, out: Path, title: str = "", size=(720, 420)) -> Path:
    w, h = size
    left, right, top, bottom = 70, 20, 40, 50
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    xs = [s for _, c in curves for s, _ in c]
    ys = [v for _, c in curves for _, v in c]
    x0, x1 = 0, max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys)
    if y1 == y0:
        y1 = y0 + 1.0
    px = lambda s: left + (w - left - right) * (s - x0) / max(x1 - x0, 1)
    py = lambda v: h - bottom - (h - top - bottom) * (v - y0) / (y1 - y0)
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for i in range(5):  # ticks
        v = y0 + (y1 - y0) * i / 4
        d.line([left - 4, py(v), left, py(v)], fill="black")
        d.text((5, py(v) - 6), f"{v:.3g}", fill="black")
        s = x0 + (x1 - x0) * i / 4
        d.line([px(s), h - bottom, px(s), h - bottom + 4], fill="black")
        d.text((px(s) - 12, h - bottom + 8), f"{int(s)}", fill="black")
    d.text((w // 2 - 15, h - 20), "step", fill="black")
    d.text((left, 10), title or metric, fill="black")
    for k, (label, c) in enumerate(curves):
        color = COLORS[k % len(COLORS)]
        d.line([(px(s), py(v)) for s, v in c], fill=color, width=2)
        d.text((left + 10, top + 8 + 14 * k), f"{label}", fill=color)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("metric")
    p.add_argument("runs", nargs="+", help="WORKDIR or WORKDIR=LABEL")
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="")
    args = p.parse_args()
    curves = []
    for run in args.runs:
        path, _, label = run.partition("=")
        c = series(Path(path), args.metric)
        if not c:
            print(f"plot_metric.py: {path} logged no {args.metric!r}", file=sys.stderr)
            return 2
        curves.append((label or Path(path).name, c))
    print(plot(curves, args.metric, Path(args.out), args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
