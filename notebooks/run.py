"""Execute the tutorial notebooks top to bottom in a fresh kernel and save them with their outputs.

    python notebooks/run.py                 # every notebook, saved in place
    python notebooks/run.py 02 --check      # execute only; exit 1 if the saved outputs are stale

The tests (tests/test_notebooks.py) execute the notebooks through the same functions, so what
is committed is what the tests saw. The kernel is this Python (the ``python3`` kernel that
ipykernel installs into its environment, found there first), so no ``jupyter kernelspec
install`` is needed. Saved notebooks carry no volatile data: no execution timings, no
widget state or widget ids (a random id per run; only a live kernel can draw the widget
anyway, and its bundle keeps a static picture and a text form). ``language_info`` is kept as
the kernel reports it, Python version included, because JupyterLab rewrites it on opening:
opening and saving an unchanged notebook then changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = 120
"""Seconds one cell may take before the run fails."""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def kernel_manager() -> KernelManager:
    """A manager for this Python's own ``python3`` kernel, found in this environment before any
    user-wide or system-wide kernelspec of the same name."""
    here = os.path.join(sys.prefix, "share", "jupyter", "kernels")
    specs = KernelSpecManager(kernel_dirs=[here], ensure_native_kernel=True)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def clean(notebook: Any) -> Any:
    """Remove what changes from run to run without changing what the notebook shows."""
    notebook.metadata.pop("widgets", None)
    # language_info stays as the kernel reports it (JupyterLab writes the same on opening): a
    # trimmed copy would make every opened notebook "modified" although nothing changed
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
            output.get("metadata", {}).pop(WIDGET_VIEW, None)
    return notebook


def execute(path: Path, timeout: int = TIMEOUT) -> Any:
    """The notebook at ``path`` executed in a fresh kernel (in its own folder), cleaned; raises
    `nbclient.exceptions.CellExecutionError` on the first failing cell."""
    notebook = nbformat.read(path, as_version=4)
    # coalesce_streams: the kernel may split one print into several stream messages; merged,
    # a cell's standard output is one output whatever the split (nbclient >= 0.7.3; the test
    # extra asks for >= 0.9). The merged text sits where the first print was, so a cell in
    # these notebooks prints before it displays, never after.
    client = NotebookClient(notebook, timeout=timeout, km=kernel_manager(), coalesce_streams=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return clean(notebook)


def shown_text(notebook: Any) -> list[list[str]]:
    """Per code cell, its standard output as one text (however the kernel split it into
    stream outputs), then the plain-text form of each result and each error, in order: what a
    run must reproduce exactly."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        printed, texts = [], []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stdout":
                printed.append(output.text)
            elif output.output_type in ("display_data", "execute_result"):
                texts.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                texts.append(f"{output.ename}: {output.evalue}")
        cells.append(["".join(printed), *texts])
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run, by a part of their name (default: all)")
    parser.add_argument("--check", action="store_true", help="do not save; exit 1 if the saved text is stale")
    args = parser.parse_args(argv)
    chosen = [path for path in NOTEBOOKS if not args.names or any(name in path.name for name in args.names)]
    stale = []
    started = time.perf_counter()
    for path in chosen:
        begin = time.perf_counter()
        notebook = execute(path)
        seconds = time.perf_counter() - begin
        if args.check:
            if shown_text(notebook) != shown_text(nbformat.read(path, as_version=4)):
                stale.append(path.name)
        else:
            nbformat.write(notebook, path)
        print(f"{path.name}: {seconds:.1f} s, {path.stat().st_size / 1024:.0f} KB")
    print(f"total: {time.perf_counter() - started:.1f} s")
    if stale:
        print(f"stale outputs (run python notebooks/run.py): {', '.join(stale)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
