"""The README shows what the commands really print."""

import re
from pathlib import Path

from graphviz_grad.cli import main
from graphviz_grad.demo import CONTENTS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _block_after(marker):
    start = README.index(marker)
    match = re.compile(r"```\n(.*?)\n```", re.S).search(README, start)
    return match.group(1)


def test_the_calc_output_shown_is_the_real_one(capsys):
    assert main(["calc"]) == 0
    shown = _block_after("### The gradient calculator: `calc`")
    assert shown == capsys.readouterr().out.rstrip("\n")


def test_the_demo_listing_names_every_file_with_its_description():
    shown = _block_after("It lists what it wrote and ends with the")
    listed = dict(re.match(r"out/(\S+) +(.*)", line).groups() for line in shown.splitlines()[:-1])
    assert listed == CONTENTS


def test_the_python_examples_run_in_order(tmp_path, monkeypatch):
    fences = [line for line in README.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0, "a code block is not closed"
    blocks = re.findall(r"^```python\n(.*?)^```$", README, re.S | re.M)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)  # the examples write seed.html
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # our own README, not user input
    assert namespace["page"].loss == 4.0 and namespace["run"].status == "finished"
    assert namespace["derivation"].backward[5].text == "dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4"
