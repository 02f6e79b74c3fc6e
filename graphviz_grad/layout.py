"""DOT text to pictures (SVG, PNG, PDF): the only module that runs Graphviz.

>>> FORMATS
('svg', 'png', 'pdf', 'dot')
>>> render('digraph { a -> b }', "dot")  # DOT needs no backend; svg, png and pdf run Graphviz
b'digraph { a -> b }'

Two backends: the system Graphviz binaries (``dot``, run through the ``graphviz``
package; every format) and, when they are missing, the pip-installable pure-Python
port ``graphviz-pure`` (SVG and PNG). With neither, `BackendMissing` says how to
install Graphviz. ``dot`` output needs no backend at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Sequence

from .errors import GraphvizGradError

FORMATS = ("svg", "png", "pdf", "dot")
SYSTEM, PURE = "system", "pure"
BACKENDS = (SYSTEM, PURE)
INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
    "Windows: winget install graphviz) or the pip-installable fallback: pip install graphviz-pure"
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FRAMES_PER_WORKER = 8
MAX_WORKERS = 4
TIMEOUT = 120
"""Seconds a pip-installed graphviz-pure run may take."""


class LayoutError(GraphvizGradError):
    """Graphviz could not turn the DOT text into a picture."""


class BackendMissing(LayoutError):
    """No way to lay out a graph is installed."""


def available() -> tuple[str, ...]:
    """The backends that can run here, preferred first."""
    found = []
    if shutil.which("dot"):
        found.append(SYSTEM)
    if pure_executable() is not None:
        found.append(PURE)
    return tuple(found)


def choose(fmt: str, backend: str | None = None) -> str:
    """The backend to use for ``fmt``: ``backend`` if given (checked), else the best available."""
    if fmt not in FORMATS:
        raise LayoutError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if backend is not None and backend not in BACKENDS:
        raise LayoutError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    here = available()
    candidates = [backend] if backend else list(here)
    for name in candidates:
        if name not in here:
            raise BackendMissing(f"the {name} Graphviz backend is not installed: {INSTALL_HINT}")
        if fmt == "pdf" and name == PURE:
            if backend:
                raise LayoutError("the graphviz-pure backend cannot write PDF: install Graphviz for PDF")
            continue
        return name
    if fmt == "pdf" and here:
        raise BackendMissing(f"PDF needs the Graphviz binaries: {INSTALL_HINT}")
    raise BackendMissing(f"Graphviz is not installed: {INSTALL_HINT}")


def render(source: str, fmt: str = "svg", *, backend: str | None = None, pinned: bool = False) -> bytes:
    """One DOT graph as ``fmt`` bytes. ``pinned`` keeps the positions written in the
    DOT (``neato -n2``) instead of laying the graph out again."""
    if fmt == "dot":
        return source.encode()
    return render_many([source], fmt, backend=backend, pinned=pinned)[0]


def render_many(sources: Sequence[str], fmt: str = "svg", *, backend: str | None = None,
                pinned: bool = False) -> list[bytes]:
    """Several DOT graphs as ``fmt`` bytes each, with one run of the layout engine."""
    if fmt == "dot":
        return [source.encode() for source in sources]
    name = choose(fmt, backend)
    if not sources:
        return []
    runner = _system if name == SYSTEM else _pure
    # Graphviz uses one core: many graphs are split into a chunk per core, run side by side.
    workers = max(1, min(len(sources) // FRAMES_PER_WORKER, os.cpu_count() or 1, MAX_WORKERS))
    size = -(-len(sources) // workers)
    chunks = ["\n".join(sources[start:start + size]) for start in range(0, len(sources), size)]
    if len(chunks) == 1:
        outputs = [runner(chunks[0], fmt, pinned)]
    else:
        from concurrent.futures import ThreadPoolExecutor  # only here: 10 ms of import time

        with ThreadPoolExecutor(len(chunks)) as pool:
            outputs = list(pool.map(lambda chunk: runner(chunk, fmt, pinned), chunks))
    pictures = [picture for output in outputs for picture in _split(output, fmt)]
    if len(pictures) != len(sources):
        raise LayoutError(f"Graphviz returned {len(pictures)} pictures for {len(sources)} graphs")
    return pictures


def pin(source: str, *, backend: str | None = None) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Lay ``source`` out once and return its coordinates, to be written into later frames:
    per DOT ``id`` attribute of a node or edge its ``pos``, ``width``, ``height`` (nodes) or
    ``pos``, ``lp`` (edges), and the graph's ``bb``, ``lp``, ``lwidth``, ``lheight``
    (the fields of `graphviz_grad.dot.Pins`: this module imports only the package's errors)."""
    name = choose("svg", backend)
    data = json.loads(_system(source, "json", False) if name == SYSTEM else _pure(source, "json", False))
    objects: dict[str, dict[str, str]] = {}
    for item in data.get("objects", []):
        if "id" in item and "pos" in item:
            objects[item["id"]] = {key: item[key] for key in ("pos", "width", "height") if key in item}
    for item in data.get("edges", []):
        if "id" in item and "pos" in item:
            objects[item["id"]] = {key: item[key] for key in ("pos", "lp") if key in item}
    graph = {key: data[key] for key in ("bb", "lp", "lwidth", "lheight") if key in data}
    return objects, graph


def _system(source: str, fmt: str, pinned: bool) -> bytes:
    import graphviz

    try:
        return graphviz.pipe("neato" if pinned else "dot", fmt, source.encode(),
                             neato_no_op=2 if pinned else None, quiet=True)
    except graphviz.ExecutableNotFound:
        raise BackendMissing(f"Graphviz is not installed: {INSTALL_HINT}") from None
    except graphviz.CalledProcessError as error:
        message = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        raise LayoutError(f"Graphviz failed: {message[0] if message else error}") from None


def pure_executable() -> str | None:
    """Where graphviz-pure's ``dot`` port is: beside this Python's scripts, else on the PATH."""
    name = "graphviz-pure.exe" if os.name == "nt" else "graphviz-pure"
    beside = os.path.join(sysconfig.get_path("scripts"), name)
    return beside if os.path.isfile(beside) else shutil.which(name)


def _pure(source: str, fmt: str, pinned: bool) -> bytes:
    executable = pure_executable()
    if executable is None:
        raise BackendMissing(f"graphviz-pure is not installed: {INSTALL_HINT}")
    flags = ["-Kneato", "-n2"] if pinned else ["-Kdot"]
    try:
        done = subprocess.run([executable, *flags, f"-T{fmt}"], input=source.encode(), capture_output=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise LayoutError(f"graphviz-pure took longer than {TIMEOUT} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").splitlines()
                 if not line.startswith("Warning:")]
        raise LayoutError(f"graphviz-pure failed: {lines[0] if lines else f'exit code {done.returncode}'}")
    return done.stdout


def _split(output: bytes, fmt: str) -> list[bytes]:
    """Split the output of several graphs into one picture each."""
    if fmt == "svg":
        marker = b"<?xml"
        return [marker + part for part in output.split(marker)[1:]]
    if fmt == "png":
        return list(_png_files(output))
    return [output]


def _png_files(data: bytes):
    """Walk concatenated PNG files chunk by chunk (a signature can occur inside image data)."""
    start = 0
    while start < len(data):
        if not data.startswith(_PNG_SIGNATURE, start):
            raise LayoutError("Graphviz returned a PNG that cannot be read")
        position = start + len(_PNG_SIGNATURE)
        while True:
            length = int.from_bytes(data[position:position + 4], "big")
            kind = data[position + 4:position + 8]
            position += 12 + length
            if kind == b"IEND" or position >= len(data):
                break
        yield data[start:position]
        start = position
