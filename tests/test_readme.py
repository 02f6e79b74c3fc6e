"""The README is short, its commands are the ones CI runs, and it shows what the code really prints."""

import re
from pathlib import Path

from graphviz_grad.cli import main
from graphviz_grad.demo import CONTENTS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker, text=README):
    start = text.index(marker) + len(marker)
    match = re.compile(r"```(?:sh)?\n(.*?)\n```", re.S).search(text, start)
    return match.group(1)


def test_a_newcomer_can_read_it_in_two_minutes():
    assert len(README.encode("utf-8")) <= 12 * 1024


def test_the_test_command_is_the_one_ci_runs():
    shown = [line for line in _block_after("## Quick start").splitlines() if line and not line.startswith("#")]
    assert len(shown) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip("\n").splitlines()[-1]
    assert shown[1] == ci
    started = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert shown[0] in started and shown[1] in started  # the docs give the same two commands


def test_the_grad_output_shown_is_the_real_one(capsys):
    command = _block_after("**Command line.**")
    assert command.startswith("graphviz-grad grad ")
    formula, at = re.match(r'graphviz-grad grad "(.*)" --at (\S+)$', command).groups()
    assert main(["grad", formula, "--at", at]) == 0
    shown = _block_after(command + "\n```")
    assert shown == capsys.readouterr().out.rstrip("\n")


def test_the_demo_listing_names_every_file_with_its_description():
    shown = _block_after("It lists what it wrote and ends with the")
    listed = dict(re.match(r"out/(\S+) +(.*)", line).groups() for line in shown.splitlines()[:-1])
    assert listed == CONTENTS


def test_the_python_example_runs_and_its_comments_are_true(tmp_path, monkeypatch):
    fences = [line for line in README.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0, "a code block is not closed"
    blocks = re.findall(r"^```python\n(.*?)^```$", README, re.S | re.M)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # our own README, not user input
    assert repr(namespace["trace"].gradients) == "{'x': 0.4, 'W1': 20.0, 'y': 0.8, 'W2': 40.0, 'B': -4.0}"
    assert namespace["report"].ok and namespace["report"]["W1"].symbolic_nodes == "2*x*z4"
    assert namespace["page"].loss == 9.0 and namespace["run"].status == "finished"


def test_links_to_files_in_the_repository_resolve():
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target
