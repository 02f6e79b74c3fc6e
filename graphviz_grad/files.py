"""Writing output files all or nothing: every file is staged beside its target, then all are
moved into place, and a failure puts back what was there before.

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
import itertools
import os
import shutil
import tempfile

from .errors import OutputError


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
            handle, temp = tempfile.mkstemp(dir=folder, prefix=".graphviz-grad-", suffix=".tmp")
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
    """Make ``path`` (and its parents) unless it is a folder already; True if this call made it,
    so a failed run can remove it again with `remove_if_empty`."""
    try:
        os.makedirs(path)
    except FileExistsError:
        if os.path.isdir(path):  # there already, or another run made it a moment ago
            return False
        raise OutputError(f"cannot use {path!r} as the {what}: it is a file") from None
    except OSError as error:
        raise OutputError(f"cannot make the {what} {path!r}: {error.strerror or error}") from None
    return True


def remove_if_empty(path: str) -> None:
    """Remove a folder a failed run made (and left empty)."""
    with contextlib.suppress(OSError):
        os.rmdir(path)
