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
