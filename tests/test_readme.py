"""The README's library example runs as written: for 3 steps instead of 1000, and (compilation
dominates on CPU) with 16x16 images and width-8 networks instead of 32x32 and 32."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_library_example_runs(capsys):
    text = README.read_text()
    section = text[text.index("## The library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    for literal in ("range(1000)", "image_size=32", "width=32)", "width=32, "):
        assert literal in code, literal
    small = code.replace("range(1000)", "range(3)").replace("image_size=32", "image_size=16").replace("width=32", "width=8")
    scope: dict = {}
    exec(compile(small, "README.md", "exec"), scope)
    assert capsys.readouterr().out.strip() == "['Dmain', 'Dreg', 'Gmain']"
    state, metrics, samples = scope["state"], scope["metrics"], scope["samples"]
    assert int(state.step) == 3
    assert samples.shape == (16, 16, 16, 1) and np.all(np.abs(samples) <= 1)
    assert {"loss/d", "loss/g", "grad_norm/Dmain", "grad_norm/Gmain"} <= set(metrics)
    assert all(np.isfinite(float(v)) for v in metrics.values())
