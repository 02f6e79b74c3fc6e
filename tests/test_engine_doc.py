"""docs/engine.md's Python examples run, in order, as written."""

import re
from pathlib import Path

DOC = (Path(__file__).resolve().parents[1] / "docs" / "engine.md").read_text(encoding="utf-8")


def test_the_engine_page_examples_run_in_order():
    blocks = re.findall(r"^```python\n(.*?)^```$", DOC, re.S | re.M)
    assert len(blocks) >= 5
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/engine.md", "exec"), namespace)  # our own page, not user input
    assert namespace["trace"].gradients["a"] == namespace["a"].grad
