"""Differential tests against the package before the column graph (commit 37957aa, issue 14):
random builder programs (fan-out, names given by assignment, in groups, colliding with
``z1``/``L``/constants, extra roots, given inputs, dead statements) and random formula texts
must give the same nodes, names, errors, values, gradients, steps and edges as before.

The old package is taken from git history into a temporary folder and run in a subprocess;
without git or that commit (a shallow clone, an sdist) the test cannot compare and skips."""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from graphviz_grad.ops import OPS

from .parity_runner import run

BEFORE = "37957aa"
ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("parity_runner.py")
UNARY = sorted(name for name, op in OPS.items() if op.arity == 1)
BINARY = sorted(name for name, op in OPS.items() if op.arity == 2)
NAMES = ("x", "y", "z1", "z2", "z3", "L", "a", "h", "g.z1", "z10", "2")
GROUPS = ("g", "h", "g.k", "z")
NUMBERS = (0.0, -0.0, 2.0, 0.5, 3, -1.5, 1e-300)


@pytest.fixture(scope="module")
def old_package(tmp_path_factory):
    git = shutil.which("git")
    if git is None or subprocess.run([git, "-C", str(ROOT), "cat-file", "-e", f"{BEFORE}^{{commit}}"],
                                     capture_output=True).returncode:
        pytest.skip(f"needs git and commit {BEFORE} (the package before the column graph)")
    folder = tmp_path_factory.mktemp("before")
    archive = folder / "old.tar"
    subprocess.run([git, "-C", str(ROOT), "archive", "-o", str(archive), BEFORE, "graphviz_grad"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _run_old(folder, programs):
    lines = "".join(json.dumps(program) + "\n" for program in programs)
    result = subprocess.run([sys.executable, str(RUNNER)], input=lines, capture_output=True, text=True,
                            env={"PYTHONPATH": str(folder), "PATH": ""}, cwd=folder, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


@st.composite
def builder_programs(draw):
    steps, kinds = [], []
    for _ in range(draw(st.integers(1, 16))):
        choice = draw(st.integers(0, 9))
        if choice < 2 or not kinds:
            steps.append(["input", draw(st.sampled_from(("x", "y", "z1", "a", "b", "L")))])
            kinds.append("input")
        elif choice == 2:
            steps.append(["const", draw(st.sampled_from(NUMBERS))])
            kinds.append("const")
        elif choice < 7:
            op = draw(st.sampled_from(UNARY + BINARY))
            args = [draw(st.integers(0, len(kinds) - 1)) if k == 0 or draw(st.integers(0, 5))
                    else {"num": draw(st.sampled_from(NUMBERS))} for k in range(OPS[op].arity)]
            steps.append(["op", op, *args])
            kinds.append("op")
        elif choice == 7 and "op" in kinds:
            position = draw(st.sampled_from([k for k, kind in enumerate(kinds) if kind == "op"]))
            steps.append(["named", position, draw(st.sampled_from(NAMES))])
        elif choice == 8:
            steps.append(["push", draw(st.sampled_from(GROUPS))])
        else:
            steps.append(["pop"])
    program = {"steps": steps, "root": draw(st.integers(0, len(kinds) - 1))}
    if draw(st.integers(0, 4)) == 0:
        program["also"] = draw(st.lists(st.integers(0, len(kinds) - 1), min_size=1, max_size=3))
    if draw(st.integers(0, 7)) == 0:
        program["inputs"] = draw(st.lists(st.sampled_from(("x", "y", "z1", "a", "b", "L", "q")), unique=True))
    return program


def _text(tree):
    if isinstance(tree, str):
        return tree
    op, *args = tree
    return OPS[op].text.format(*(f"({_text(arg)})" for arg in args))


@st.composite
def formula_programs(draw):
    targets = draw(st.lists(st.sampled_from(("z1", "z2", "L", "a", "h", "z10")), unique=True, max_size=4))
    statements, readable = [], ["x", "y", "z3", "2", "0.5", "-0.0", "0"]
    for target in targets:
        leaves = st.sampled_from(readable)
        tree = draw(st.recursive(leaves, lambda inner: st.one_of(
            st.tuples(st.sampled_from(UNARY), inner), st.tuples(st.sampled_from(BINARY), inner, inner)),
            max_leaves=6))
        statements.append(f"{target} = {_text(tree)}")
        readable.append(target)
    if not statements or draw(st.booleans()):
        statements.append(_text(draw(st.sampled_from(readable))))
    return {"text": draw(st.sampled_from(("\n", "; "))).join(statements)}


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # the message names the program: no shrinking
@given(st.lists(st.one_of(builder_programs(), formula_programs()), min_size=60, max_size=60))
def test_the_column_graph_reads_as_the_graph_before_it(old_package, programs):
    before = _run_old(old_package, programs)
    for program, old in zip(programs, before, strict=True):
        assert json.loads(json.dumps(run(program))) == old, program
