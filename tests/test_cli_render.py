"""`graphviz-grad render`: formats, step frames, stdout, atomic replacement and failures."""

import json
import os
import re
import subprocess
import sys

import pytest

from graphviz_grad import layout
from graphviz_grad.cli import main

from .conftest import SEED
from .test_cli import AT, run

pytestmark = pytest.mark.dot


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                               (".dot", b'digraph "L"'), (".gv", b'digraph "L"'),
                                               (".gif", b"GIF89a"), (".html", b"<!DOCTYPE html>")])
def test_format_from_the_suffix(capsys, tmp_path, suffix, magic):
    target = tmp_path / f"seed{suffix}"
    code, out, err = run(capsys, "render", SEED, "--at", AT, "-o", str(target))
    assert (code, err, out) == (0, "", f"{target}\n")
    assert target.read_bytes().startswith(magic)
    assert [path.name for path in tmp_path.iterdir()] == [target.name]  # no temporary files left


def test_format_option_beats_the_suffix(capsys, tmp_path):
    target = tmp_path / "picture.out"
    assert run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--format", "dot")[0] == 0
    assert target.read_text().startswith('digraph "L"')


def test_html_player_steps_through_the_whole_backward_pass(capsys, tmp_path):
    target = tmp_path / "seed.html"
    assert run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--steps")[0] == 0
    page = target.read_text(encoding="utf-8")
    scene = json.loads(re.search(r'<script type="application/json" id="gg-scene">(.*?)</script>', page, re.S)[1])
    assert len(scene["frames"]) == 17 and page.count("<svg width=") == 1  # one drawing, 17 sets of changes
    assert "dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · W1 = 4 · 0.1 = 0.4" in page


def test_numbered_frames_and_stale_ones_removed(capsys, tmp_path):
    target = tmp_path / "frame.svg"
    code, out, _ = run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--steps")
    names = sorted(path.name for path in tmp_path.iterdir())
    assert code == 0 and names == [f"frame-{i:02d}.svg" for i in range(1, 18)]
    assert out == f"17 frames: {tmp_path / 'frame-01.svg'} ... {tmp_path / 'frame-17.svg'}\n"
    (tmp_path / "frame-notes.svg").write_text("mine")
    assert run(capsys, "render", "y = x*2", "--at", "x=1", "-o", str(target), "--steps")[0] == 0
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [f"frame-0{i}.svg" for i in range(1, 6)] + ["frame-notes.svg"]


def test_only_our_own_stale_frames_are_removed(capsys, tmp_path):
    target = tmp_path / "a.svg"
    assert run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--steps")[0] == 0  # a-01 .. a-17
    for name in ("a-2024.svg", "a-٠٧.svg", "a-019.svg", "a-19.svg"):  # not ours: a gap, other digits
        (tmp_path / name).write_text("keep")
    (tmp_path / "a-18.svg").mkdir()  # a folder is never removed
    assert run(capsys, "render", "y = x*2", "--at", "x=1", "-o", str(target), "--steps")[0] == 0
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == sorted([f"a-0{i}.svg" for i in range(1, 6)] + ["a-18.svg", "a-2024.svg", "a-٠٧.svg",
                                                                     "a-019.svg", "a-19.svg"])


def test_several_files_are_all_or_nothing(capsys, tmp_path):
    target = tmp_path / "a.svg"
    (tmp_path / "a-01.svg").write_text("old")
    (tmp_path / "a-03.svg").mkdir()
    code, _, err = run(capsys, "render", "y = x*2", "--at", "x=1", "-o", str(target), "--steps")
    assert code == 2 and f"cannot write '{tmp_path / 'a-03.svg'}': it is a folder" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-01.svg", "a-03.svg"]
    assert (tmp_path / "a-01.svg").read_text() == "old"


def test_a_failed_move_puts_the_old_files_back(capsys, tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()  # a folder with subfolders is written file by file, not swapped
    (tmp_path / "a-01.svg").write_text("old")
    real_replace = os.replace
    moves = []

    def replace(source, destination):
        if str(destination).endswith("a-03.svg"):
            raise OSError(28, "No space left on device")
        moves.append(destination)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run(capsys, "render", "y = x*2", "--at", "x=1", "-o", str(tmp_path / "a.svg"), "--steps")
    assert code == 2 and "a-03.svg" in err and "No space left on device" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-01.svg", "sub"]
    assert (tmp_path / "a-01.svg").read_text() == "old"


def test_output_that_is_a_folder(capsys, tmp_path):
    code, _, err = run(capsys, "render", SEED, "--at", AT, "-o", str(tmp_path), "--format", "svg")
    assert code == 2 and err == f"graphviz-grad: error: cannot write '{tmp_path}': it is a folder\n"


def test_stdout(capsysbinary):
    assert main(["render", SEED, "--at", AT, "-o", "-"]) == 0
    assert capsysbinary.readouterr().out.startswith(b"<?xml")
    assert main(["render", SEED, "--at", AT, "-o", "-", "--format", "dot"]) == 0
    assert capsysbinary.readouterr().out.startswith(b'digraph "L"')


def test_options_reach_the_picture(capsys, tmp_path):
    target = tmp_path / "seed.dot"
    argv = ["render", SEED, "--at", AT, "-o", str(target), "--rankdir", "TB", "--digits", "2", "--no-legend"]
    assert run(capsys, *argv)[0] == 0
    source = target.read_text()
    assert "rankdir=TB" in source and "fill =" not in source
    assert run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--compact")[0] == 0
    assert "value =" not in target.read_text()


@pytest.mark.pure
def test_pure_backend(capsys, tmp_path):
    target = tmp_path / "seed.html"
    assert run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--backend", "pure")[0] == 0
    page = target.read_text(encoding="utf-8")
    assert re.search(r"<main id=\"player\"[^>]*>\s*<svg", page) and 'id="gg-scene"' in page


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "seed.txt"], "cannot tell the format from 'seed.txt'"),
    (["-o", "-", "--steps"], "--steps with --format svg writes one file per frame"),
    (["-o", "seed.pdf", "--steps"], "--steps writes svg, png or dot files"),
    (["-o", "no/such/folder/seed.svg"], "the folder 'no/such/folder' does not exist"),
    (["-o", "seed.svg", "--format", "jpg"], "argument --format: invalid choice: 'jpg'"),
])
def test_bad_usage(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "render", SEED, "--at", AT, *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_failed_render_leaves_the_old_file_and_no_partial_one(capsys, tmp_path, monkeypatch):
    target = tmp_path / "seed.svg"
    target.write_text("old picture")
    monkeypatch.setattr(layout, "available", lambda: ())
    code, _, err = run(capsys, "render", SEED, "--at", AT, "-o", str(target))
    assert code == 2 and "Graphviz is not installed" in err and "apt-get install graphviz" in err
    assert target.read_text() == "old picture" and [path.name for path in tmp_path.iterdir()] == ["seed.svg"]


def test_a_write_error_mid_way_leaves_nothing(capsys, tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()  # (file by file, as above)
    target = tmp_path / "frame.svg"
    real_replace = os.replace
    calls = []

    def failing_replace(source, destination):
        calls.append(destination)
        if len(calls) == 3:
            raise PermissionError(13, "Permission denied", destination)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", failing_replace)
    code, _, err = run(capsys, "render", SEED, "--at", AT, "-o", str(target), "--steps")
    assert code == 2 and f"cannot write '{tmp_path / 'frame-03.svg'}': Permission denied" in err
    assert [path.name for path in tmp_path.iterdir()] == ["sub"]


def test_frames_are_swapped_in_as_a_whole_folder(capsys, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert run(capsys, "render", SEED, "--at", AT, "-o", str(folder / "f.svg"), "--steps")[0] == 0
    before = folder.stat().st_ino
    assert run(capsys, "render", "y = x*2", "--at", "x=1", "-o", str(folder / "f.svg"), "--steps")[0] == 0
    assert folder.stat().st_ino != before  # a new folder took the old one's place at one instant
    assert sorted(path.name for path in folder.iterdir()) == [f"f-0{i}.svg" for i in range(1, 6)] + ["notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine" and os.listdir(tmp_path) == ["frames"]


def test_a_failure_mid_way_leaves_the_old_frames_and_no_temporary_files(capsys, tmp_path, monkeypatch):
    from graphviz_grad import files

    folder = tmp_path / "frames"
    folder.mkdir()
    assert run(capsys, "render", "y = x*2", "--at", "x=1", "-o", str(folder / "f.svg"), "--steps")[0] == 0
    old = {path.name: path.read_bytes() for path in folder.iterdir()}
    (folder / "notes.txt").write_text("mine")
    opened = []

    def full_disk(path, mode="r", *args, **kwargs):  # the third frame finds the disk full
        if "w" in mode:
            opened.append(path)
            if len(opened) == 3:
                raise OSError(28, "No space left on device")
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", full_disk, raising=False)
    code, _, err = run(capsys, "render", SEED, "--at", AT, "-o", str(folder / "f.svg"), "--steps")
    assert code == 2 and "No space left on device" in err and len(opened) == 3
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == {**old, "notes.txt": b"mine"}
    assert os.listdir(tmp_path) == ["frames"]  # the half-written new folder is gone


def test_bad_formula_writes_nothing(capsys, tmp_path):
    code, _, err = run(capsys, "render", "L = (x*", "--at", "x=1", "-o", str(tmp_path / "a.svg"))
    assert code == 2 and "line 1" in err and list(tmp_path.iterdir()) == []


def test_runs_as_a_program(tmp_path):
    target = tmp_path / "seed.svg"
    done = subprocess.run([sys.executable, "-m", "graphviz_grad", "render", SEED, "--at", AT, "-o", str(target)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and target.read_bytes().startswith(b"<?xml")


@pytest.mark.pure
def test_without_the_system_binaries(tmp_path):
    """A venv with only pip packages: svg and html still work, pdf says what to install."""
    bin_dir = tmp_path / "bin"  # an empty PATH: no dot, but this venv's python and its scripts
    bin_dir.mkdir()
    env = {**os.environ, "PATH": str(bin_dir)}
    for name in ("seed.svg", "seed.html", "seed.png"):
        done = subprocess.run([sys.executable, "-m", "graphviz_grad", "render", SEED, "--at", AT,
                               "-o", str(tmp_path / name)], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
    assert "grad = 20" in (tmp_path / "seed.svg").read_text()  # drawn by graphviz-pure: no dot on PATH
    assert re.search(r"<main id=\"player\"[^>]*>\s*<svg", (tmp_path / "seed.html").read_text())  # the drawing
    done = subprocess.run([sys.executable, "-m", "graphviz_grad", "render", SEED, "--at", AT,
                           "-o", str(tmp_path / "seed.pdf")], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "PDF needs the Graphviz binaries" in done.stderr
    assert not (tmp_path / "seed.pdf").exists()
