"""Whole-folder output (`files.write_folder`) and the temporary files of killed runs: a folder
always holds exactly the old set or exactly the new set, and only our own debris is removed."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from graphviz_grad import files
from graphviz_grad.errors import OutputError

NEW = {f"frame-{n:03d}.svg": f"new {n}\n".encode() * 200 for n in range(300)}
OLD = dict.fromkeys(NEW, b"old\n")


def dead_pid():
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_folder_is_made_replaced_and_keeps_what_is_not_ours(tmp_path):
    out = tmp_path / "out"
    files.write_folder(str(out), {"a.svg": b"1", "b.svg": b"2"})
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "x").write_text("mine too")
    files.write_folder(str(out), {"a.svg": b"one"}, owned=["b.svg"])
    assert sorted(os.listdir(out)) == ["a.svg", "notes.txt", "sub"]
    assert (out / "a.svg").read_bytes() == b"one" and (out / "notes.txt").read_text() == "mine"
    assert (out / "sub" / "x").read_text() == "mine too"
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary folder left


def test_a_symlinked_folder_stays_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    files.write_folder(str(tmp_path / "link"), {"a.svg": b"1"})
    assert (tmp_path / "link").is_symlink() and (real / "a.svg").read_bytes() == b"1"


def test_bad_names_and_targets_are_refused(tmp_path):
    with pytest.raises(OutputError, match="expected a plain file name"):
        files.write_folder(str(tmp_path / "out"), {"../escape": b""})
    with pytest.raises(OutputError, match="does not exist"):
        files.write_folder(str(tmp_path / "no" / "out"), {"a": b""})
    assert os.listdir(tmp_path) == []


def test_a_folder_of_the_user_named_like_one_of_our_files_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    files.write_folder(str(out), {"a.svg": b"1"})
    os.remove(out / "a.svg")
    (out / "a.svg").mkdir()
    (out / "a.svg" / "keep").write_text("mine")
    with pytest.raises(OutputError, match=r"a\.svg': it is a folder"):
        files.write_folder(str(out), {"a.svg": b"2"})
    assert (out / "a.svg" / "keep").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["out"]


def test_debris_of_ended_runs_is_removed_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    gone, here = dead_pid(), os.getpid()
    debris = [tmp_path / f".out.graphviz-grad-{gone}-abc", tmp_path / f".out.graphviz-grad-{gone}-def.old"]
    for folder in debris:
        folder.mkdir()
        (folder / "x.svg").write_text("half")
    (out / f".graphviz-grad-{gone}-k2j_9.tmp").write_text("half a file")
    (out / f".graphviz-grad-{gone}-k2j_9.tmp.old").write_text("a backup")
    kept_folders = [tmp_path / f".out.graphviz-grad-{here}-live",  # a run still going (this process)
                    tmp_path / ".out.graphviz-grad-notes",  # not our name pattern
                    tmp_path / f".other.graphviz-grad-{gone}-abc"]  # another folder's
    kept_files = [out / f".graphviz-grad-{here}-live.tmp", out / ".graphviz-grad-notes.txt", out / "keep.tmp"]
    for path in kept_folders:
        path.mkdir()
    for path in kept_files:
        path.write_text("keep")
    kept = kept_folders + kept_files
    files.write_folder(str(out), {"a.svg": b"1"})
    files.write_files({str(out / "b.svg"): b"2"})
    assert not any(path.exists() for path in debris)
    assert not (out / f".graphviz-grad-{gone}-k2j_9.tmp").exists()
    assert not (out / f".graphviz-grad-{gone}-k2j_9.tmp.old").exists()
    assert all(path.exists() for path in kept)


def test_a_folder_left_aside_by_a_killed_run_is_put_back(tmp_path):
    """The two-rename fallback: killed between its renames, the old folder is only aside."""
    aside = tmp_path / f".out.graphviz-grad-{dead_pid()}-abc.old"
    aside.mkdir()
    (aside / "a.svg").write_text("old")
    (aside / "notes.txt").write_text("mine")
    files.write_folder(str(tmp_path / "out"), {"a.svg": b"new"})
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_the_fallback_without_an_exchange_call(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_exchange", lambda first, second: False)
    files.write_folder(str(tmp_path / "out"), {"a.svg": b"1"})
    files.write_folder(str(tmp_path / "out"), {"a.svg": b"2"})
    assert (tmp_path / "out" / "a.svg").read_bytes() == b"2" and os.listdir(tmp_path) == ["out"]


WRITER = """
import sys
from graphviz_grad.files import write_folder
contents = {f"frame-{n:03d}.svg": f"new {n}\\n".encode() * 200 for n in range(300)}
print("writing", flush=True)
write_folder(sys.argv[1], contents)
print("done", flush=True)
"""


@pytest.mark.parametrize("seed", range(5))
def test_sigkill_at_a_random_instant_leaves_the_old_set_or_the_new_set(tmp_path, seed):
    out = tmp_path / "out"
    files.write_folder(str(out), OLD)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"
    time.sleep(random.Random(seed).uniform(0, 0.15))
    child.send_signal(signal.SIGKILL)
    child.wait()
    held = {path.name: path.read_bytes() for path in out.iterdir()}
    assert held in (OLD, NEW)
    files.write_folder(str(out), NEW)  # the next run removes what the killed one left
    assert os.listdir(tmp_path) == ["out"] and {p.name: p.read_bytes() for p in out.iterdir()} == NEW


@pytest.mark.parametrize("exchange", [True, False])
def test_files_a_user_saves_while_the_new_set_is_built_are_kept(tmp_path, monkeypatch, exchange):
    # a file made (or replaced) in the folder after its entries were carried over to the new set,
    # just before the swap, is not ours: it must end up in the new folder, not be removed with the old
    target = tmp_path / "out"
    files.write_folder(str(target), {"a.txt": b"1"})
    (target / "notes.txt").write_text("first draft")
    real = files._exchange

    def late_user(first, second):
        (target / "late.txt").write_text("saved just now")
        os.replace(tmp_path / "draft", target / "notes.txt") if (tmp_path / "draft").exists() else None
        return real(first, second) if exchange else False

    (tmp_path / "draft").write_text("second draft")  # an editor's save: a new file renamed over the old
    monkeypatch.setattr(files, "_exchange", late_user)
    files.write_folder(str(target), {"a.txt": b"2"})
    assert sorted(os.listdir(target)) == ["a.txt", "late.txt", "notes.txt"]
    assert (target / "late.txt").read_text() == "saved just now"
    assert (target / "notes.txt").read_text() == "second draft"
    assert (target / "a.txt").read_text() == "2"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_writing_the_current_folder_keeps_it_the_current_folder(tmp_path, monkeypatch):
    # `cd out && graphviz-grad demo -o .`: swapping the folder would leave this process (and the
    # user's shell) in a removed folder; it is written in place instead, file by file
    target = tmp_path / "out"
    files.write_folder(str(target), {"a.txt": b"1", "b.txt": b"1"})
    (target / "notes.txt").write_text("mine")
    monkeypatch.chdir(target)
    files.write_folder(".", {"a.txt": b"2"}, owned=["b.txt"])
    assert os.stat(".").st_nlink > 0 and os.path.samefile(".", target)
    assert sorted(os.listdir(".")) == ["a.txt", "notes.txt"] and (target / "a.txt").read_bytes() == b"2"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    monkeypatch.chdir(target / ".." / "..")
    os.mkdir(target / "inner")
    monkeypatch.chdir(target / "inner")  # inside the folder: the same
    files.write_folder(str(target), {"a.txt": b"3"})
    assert os.stat(".").st_nlink > 0 and (target / "a.txt").read_bytes() == b"3"


FRAMES = """
import sys
from graphviz_grad.files import write_numbered
print("writing", flush=True)
write_numbered(sys.argv[1] + "/f.svg", [f"new {n}\\n".encode() * 200 for n in range(300)])
print("done", flush=True)
"""


@pytest.mark.parametrize("seed", range(3))
def test_numbered_frames_killed_at_a_random_instant_are_the_old_set_or_the_new_set(tmp_path, seed):
    """`render --steps` writes its frames with `write_numbered`: a swap of the whole folder."""
    out = tmp_path / "out"
    out.mkdir()
    files.write_numbered(str(out / "f.svg"), [b"old\n"] * 320)  # 320 old frames: 20 are stale later
    old = {path.name: path.read_bytes() for path in out.iterdir()}
    new = {f"f-{n + 1:03d}.svg": f"new {n}\n".encode() * 200 for n in range(300)}
    child = subprocess.Popen([sys.executable, "-c", FRAMES, str(out)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"
    time.sleep(random.Random(seed).uniform(0, 0.15))
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert {path.name: path.read_bytes() for path in out.iterdir()} in (old, new)
    files.write_numbered(str(out / "f.svg"), list(new.values()))  # the next run removes the debris
    assert os.listdir(tmp_path) == ["out"] and {p.name: p.read_bytes() for p in out.iterdir()} == new
