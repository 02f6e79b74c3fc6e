"""Writing output files all or nothing: every file is staged beside its target, then all are
moved into place, and a failure puts back what was there before; a whole folder is built beside
its target and swapped in at once (`write_folder`).

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> write_files({os.path.join(folder, "a.txt"): b"one", os.path.join(folder, "b.txt"): b"two"})
>>> sorted(os.listdir(folder))
['a.txt', 'b.txt']
>>> bad = {os.path.join(folder, "c.txt"): b"three", os.path.join(folder, "no", "d.txt"): b""}
>>> write_files(bad)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
graphviz_grad.errors.OutputError: cannot write '...d.txt': the folder '...no' does not exist
>>> sorted(os.listdir(folder))  # nothing of the failed call is left
['a.txt', 'b.txt']
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Collection

from .errors import OutputError

TAG = "graphviz-grad"
"""In the names of our temporary files and folders, with the writing process's id:
``.graphviz-grad-PID-XXXX.tmp`` beside a file, ``.FOLDER.graphviz-grad-PID-XXXX`` beside a folder."""
_DEBRIS_FILE = re.compile(rf"\.{TAG}-(?:(\d+)-)?[A-Za-z0-9_]+\.tmp(?:\.old)?")
LEGACY_AGE = 600.0
"""Seconds after which a temporary file of an older version (no process id in its name) is debris."""


def numbered(output: str, count: int) -> list[str]:
    """``out/seed.svg`` → ``out/seed-01.svg``, ``out/seed-02.svg``, ... (zero-padded to the count)."""
    stem, suffix = os.path.splitext(output)
    width = max(2, len(str(count)))
    return [f"{stem}-{number:0{width}d}{suffix}" for number in range(1, count + 1)]


def stale_frames(output: str, count: int) -> list[str]:
    """Numbered frames left by an earlier, longer run of the same command: the files numbered
    ``count + 1``, ``count + 2``, ... with the same width, up to the first number missing."""
    stem, suffix = os.path.splitext(output)
    width = max(2, len(str(count)))
    stale = []
    for number in itertools.count(count + 1):
        path = f"{stem}-{number:0{width}d}{suffix}"
        if len(str(number)) > width or not os.path.isfile(path) or os.path.islink(path):
            return stale
        stale.append(path)
    return stale


SWAP_ENTRIES = 1_000
"""Entries a folder may hold for `write_numbered` to swap it whole (see there)."""


def write_numbered(output: str, outputs: list[bytes]) -> list[str]:
    """Write numbered files (`numbered`: ``out/seed-01.svg``, ...) beside ``output``, and remove
    the stale ones of an earlier, longer run (`stale_frames`); the paths written.

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "frames")
    >>> os.mkdir(out)
    >>> [os.path.basename(p) for p in write_numbered(os.path.join(out, "seed.svg"), [b"1", b"2"])]
    ['seed-01.svg', 'seed-02.svg']

    A folder that holds only files (at most `SWAP_ENTRIES`) of this user is written whole by
    `write_folder`: a run killed at any instant leaves the old set of frames or the new set. A
    folder with subfolders, a mount point, another user's folder or the one this process works
    in is not swapped (that would copy or re-own what is not ours): each file is replaced
    atomically and all or none are moved in (`write_files`), which a SIGKILL can interrupt.
    """
    paths = numbered(output, len(outputs))
    stale = stale_frames(output, len(outputs))
    folder = os.path.dirname(output) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {paths[0]!r}: the folder {folder!r} does not exist")
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            raise OutputError(f"cannot write {path!r}: it is a folder")
    if _swappable(folder):
        names = {os.path.basename(path): data for path, data in zip(paths, outputs, strict=True)}
        write_folder(folder, names, owned={os.path.basename(path) for path in stale}, what="frames folder")
        return paths
    write_files(dict(zip(paths, outputs, strict=True)))
    for path in stale:
        with contextlib.suppress(OSError):
            os.remove(path)
    return paths


def _swappable(folder: str) -> bool:
    """Whether `write_numbered` may swap ``folder`` whole (see there)."""
    target = os.path.realpath(folder)
    try:
        if os.path.ismount(target) or _holds_cwd(target) or os.stat(target).st_uid != os.geteuid():
            return False
        with os.scandir(target) as entries:
            for count, entry in enumerate(entries):
                if count >= SWAP_ENTRIES or entry.is_dir(follow_symlinks=False):
                    return False
    except (OSError, AttributeError):  # (no geteuid on Windows)
        return False
    return True


def write_files(contents: dict[str, bytes]) -> None:
    """Write every file or none: each goes to a temporary file beside it, then all are moved
    into place; if one move fails, the files already moved are put back as they were."""
    seen: dict[str, str] = {}
    for path in contents:
        real = os.path.realpath(path)
        if real in seen:
            raise OutputError(f"{seen[real]!r} and {path!r} are the same file: give each output its own")
        seen[real] = path
    staged: list[tuple[str, str]] = []  # (temporary, target)
    moved: list[tuple[str, str | None]] = []  # (target, its previous version or None)
    current = ""
    try:
        for path, data in contents.items():
            current = path
            folder = os.path.dirname(path) or "."
            if not os.path.isdir(folder):
                raise OutputError(f"cannot write {path!r}: the folder {folder!r} does not exist")
            if os.path.isdir(path):
                raise OutputError(f"cannot write {path!r}: it is a folder")
            remove_debris(folder)
            handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{TAG}-{os.getpid()}-", suffix=".tmp")
            staged.append((temp, path))
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.chmod(temp, 0o644)
        for temp, path in staged:
            current = path
            backup = None
            if os.path.isfile(path):  # keep the old version until every file is in place
                backup = temp + ".old"
                try:
                    os.link(path, backup)
                except OSError:
                    shutil.copy2(path, backup)
            moved.append((path, backup))
            os.replace(temp, path)  # atomic: readers see the old file or the new one
    except OSError as error:
        for path, backup in reversed(moved):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, path)
                elif os.path.lexists(path):
                    os.remove(path)
        raise OutputError(f"cannot write {current!r}: {error.strerror or error}") from None
    finally:
        for temp, _ in staged:
            for leftover in (temp, temp + ".old"):
                with contextlib.suppress(OSError):
                    os.remove(leftover)


def make_folder(path: str, what: str = "folder") -> bool:
    """Make ``path`` (and its parents) unless it is a folder already; True if this call made it."""
    try:
        os.makedirs(path)
    except FileExistsError:
        if os.path.isdir(path):  # there already, or another run made it a moment ago
            return False
        raise OutputError(f"cannot use {path!r} as the {what}: it is a file") from None
    except OSError as error:
        raise OutputError(f"cannot make the {what} {path!r}: {error.strerror or error}") from None
    return True


def write_folder(directory: str, contents: dict[str, bytes], *,
                 owned: Collection[str] | Callable[[str], object] = (), what: str = "folder") -> list[str]:
    """Make ``directory`` hold exactly the files ``contents`` (name → bytes) plus whatever else
    was in it that is not ours (names in ``contents`` or ``owned``, a collection of names or a test
    of a name), swapped in at one instant:
    a process killed at any moment leaves the folder with the old set or the new set, never a mix.
    Returns the paths written.

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "demo")
    >>> [os.path.basename(p) for p in write_folder(out, {"a.txt": b"1", "b.txt": b"2"})]
    ['a.txt', 'b.txt']
    >>> _ = write_folder(out, {"a.txt": b"one"}, owned=["b.txt"])  # b.txt was ours: gone now
    >>> sorted(os.listdir(out)), open(os.path.join(out, "a.txt")).read()
    (['a.txt'], 'one')

    The scheme: the new set is written into a fresh folder beside the target
    (``.NAME.graphviz-grad-PID-XXXX``), foreign entries of the target are hard-linked into it,
    then the two folders are exchanged by one ``renameat2(RENAME_EXCHANGE)`` (Linux; macOS:
    ``renamex_np(RENAME_SWAP)``) and the old one, now under the temporary name, is removed. A new
    target is one ``rename``. Where neither call exists, the old folder is renamed aside
    (``….old``) and the new one into place; a run killed between those two renames leaves no
    target, and the next run renames the ``.old`` one back first. Every run removes what killed
    runs left beside the target, by name and only when the process named in it has ended.
    A folder this process works in (or inside) is not swapped but written file by file.
    """
    for name in contents:
        if not name or os.path.basename(name) != name or name in (".", ".."):
            raise OutputError(f"cannot write {name!r} into a folder: expected a plain file name")
    target = check_folder(directory, what)
    for name in contents:  # a folder of the user's with the name of one of ours is never replaced
        if os.path.isdir(os.path.join(target, name)) and not os.path.islink(os.path.join(target, name)):
            raise OutputError(f"cannot write {os.path.join(directory, name)!r}: it is a folder")
    if os.path.isdir(target) and _holds_cwd(target):
        return _write_in_place(directory, target, contents, owned)
    parent, base = os.path.split(target)
    _recover(parent, base)
    try:
        stage = tempfile.mkdtemp(dir=parent, prefix=f".{base}.{TAG}-{os.getpid()}-")
    except OSError as error:
        raise OutputError(f"cannot write into {parent!r}: {error.strerror or error}") from None
    try:
        for name, data in contents.items():
            with open(os.path.join(stage, name), "wb") as file:
                file.write(data)
            os.chmod(os.path.join(stage, name), 0o644)
        if os.path.isdir(target):
            os.chmod(stage, os.stat(target).st_mode & 0o7777)
            ours = owned if callable(owned) else set(owned).__contains__

            def is_ours(name: str) -> bool:
                return name in contents or bool(ours(name))

            _carry_over(target, stage, is_ours)
            if not _exchange(stage, target):  # no atomic exchange here: two renames
                aside = stage + ".old"
                os.rename(target, aside)
                os.rename(stage, target)
                stage = aside
            _keep_late(stage, target, is_ours)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(stage, 0o777 & ~umask)
            os.rename(stage, target)
            stage = ""
    except OSError as error:
        raise OutputError(f"cannot write {directory!r}: {error.strerror or error}") from None
    finally:
        if stage:
            shutil.rmtree(stage, ignore_errors=True)
    return [os.path.join(directory, name) for name in contents]


def _holds_cwd(target: str) -> bool:
    """Whether this process works in ``target`` or a folder inside it (``cd out && ... -o .``):
    swapping ``target`` would leave it, and likely the user's shell, in a removed folder."""
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:
        return False
    return here == target or here.startswith(target.rstrip(os.sep) + os.sep)


def _write_in_place(directory: str, target: str, contents: dict[str, bytes],
                    owned: Collection[str] | Callable[[str], object]) -> list[str]:
    """`write_folder` for the current folder: each file replaced atomically (`write_files`), then
    our files that are not in the new set removed (the set as a whole is not swapped at once)."""
    write_files({os.path.join(target, name): data for name, data in contents.items()})
    ours = owned if callable(owned) else set(owned).__contains__
    for name in os.listdir(target):
        path = os.path.join(target, name)
        if name not in contents and ours(name) and os.path.isfile(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.remove(path)
    return [os.path.join(directory, name) for name in contents]


def check_folder(directory: str, what: str = "folder") -> str:
    """The real path of a folder `write_folder` can write (there or not yet), else an `OutputError`."""
    target = os.path.realpath(directory)
    if os.path.exists(target) and not os.path.isdir(target):
        raise OutputError(f"cannot use {directory!r} as the {what}: it is a file")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise OutputError(f"cannot write {directory!r}: the folder {parent!r} does not exist")
    return target


def _carry_over(old: str, new: str, ours: Callable[[str], bool]) -> None:
    """Hard-link (else copy) every entry of ``old`` that is not ours into ``new``."""
    for name in os.listdir(old):
        debris = _DEBRIS_FILE.fullmatch(name)
        if ours(name) or (debris and not (debris[1] and _alive(int(debris[1])))):
            continue
        source, copy = os.path.join(old, name), os.path.join(new, name)
        if os.path.islink(source):
            os.symlink(os.readlink(source), copy)
        elif os.path.isdir(source):
            shutil.copytree(source, copy, symlinks=True, copy_function=_link)
        else:
            _link(source, copy)


def _keep_late(old: str, new: str, ours: Callable[[str], bool]) -> None:
    """Move into ``new`` what a user saved in the folder (now ``old``) after `_carry_over` ran:
    a file made there, or one replaced by a new file (an editor's save), so removing ``old``
    removes nothing but ours and what ``new`` holds already."""
    for name in os.listdir(old):
        debris = _DEBRIS_FILE.fullmatch(name)
        if ours(name) or (debris and not (debris[1] and _alive(int(debris[1])))):
            continue
        source, copy = os.path.join(old, name), os.path.join(new, name)
        if not os.path.lexists(copy):
            os.rename(source, copy)
        elif not os.path.isdir(source) and not os.path.samestat(os.lstat(source), os.lstat(copy)):
            os.replace(source, copy)


def _link(source: str, copy: str) -> None:
    try:
        os.link(source, copy, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, copy)


def _exchange(first: str, second: str) -> bool:
    """Swap two folders in one step, if the system can; False when it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform == "darwin":
            done = libc.renamex_np(os.fsencode(first), os.fsencode(second), 2)  # RENAME_SWAP
        else:
            done = libc.renameat2(-100, os.fsencode(first), -100, os.fsencode(second), 2)  # RENAME_EXCHANGE
    except (AttributeError, OSError):  # no such call in this C library
        return False
    if done == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this system or file system
        return False
    raise OSError(errno, os.strerror(errno))


def _recover(parent: str, base: str) -> None:
    """Before a run: put back a folder left aside by a killed run (the two-rename scheme), then
    remove the temporary folders of runs that have ended."""
    prefix = f".{base}.{TAG}-"
    for name in sorted(os.listdir(parent)):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].partition("-")[0]
        path = os.path.join(parent, name)
        if not pid.isdigit() or _alive(int(pid)) or not os.path.isdir(path) or os.path.islink(path):
            continue
        target = os.path.join(parent, base)
        if name.endswith(".old") and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.rename(path, target)
                continue
        shutil.rmtree(path, ignore_errors=True)


def remove_debris(folder: str) -> None:
    """Remove the temporary files that killed runs of `write_files` left in ``folder``: ours by
    name, whose process has ended (older versions' names carry no process id: those older than
    `LEGACY_AGE`)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _DEBRIS_FILE.fullmatch(name)
        if match is None:
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            ended = (not _alive(int(match[1])) if match[1]
                     else time.time() - os.lstat(path).st_mtime > LEGACY_AGE)
            if ended and os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
