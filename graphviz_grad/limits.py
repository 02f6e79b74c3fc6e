"""Operating-system bounds on a process: how much memory it may take.

>>> limit_memory(None)  # no bound: changes nothing
>>> parse_size("512M"), parse_size("2G"), parse_size("1.5g"), parse_size("300000000")
(536870912, 2147483648, 1610612736, 300000000)
>>> megabytes(512 * 2**20)
'512 MB'

A bound is the address-space limit ``RLIMIT_AS``: past it, an allocation fails and Python raises
`MemoryError` in that process only (the kernel's out-of-memory killer never has to pick a victim).
It covers every thread of the process and is inherited by the programs it starts (Graphviz's
``dot``). It counts reserved address space, not only touched memory, so a bound well below
a process's start-up size (about 60 MB, 200 MB with SymPy loaded) stops it at once; the
defaults leave room for that. On systems without ``resource`` (Windows) a bound is not set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import GraphvizGradError

JOB_MEMORY = 512 * 2**20
"""Bytes of address space a worker of ``graphviz-grad serve`` may use for its job (``--job-memory``)."""
CLI_MEMORY = 2 * 2**30
"""Bytes of address space ``graphviz-grad check`` and ``calc`` may use (``--memory``)."""
SMALLEST = 128 * 2**20
"""The smallest bound accepted: below it Python and SymPy cannot even start their work."""
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class SizeError(GraphvizGradError):
    """A memory size that is not a number of bytes with an optional K, M, G or T."""


def parse_size(text: str) -> int:
    """Bytes from ``"512M"``, ``"2G"``, ``"1.5g"``, ``"300000000"`` (K, M, G, T: powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text, re.IGNORECASE)
    if match is None:
        raise SizeError(f"expected a size such as 512M or 2G, not {text[:40]!r}")
    size = int(float(match[1]) * _UNITS[match[2].lower()])
    if size < SMALLEST:
        raise SizeError(f"{text.strip()} is below the smallest bound of {megabytes(SMALLEST)}")
    return size


def megabytes(size: int) -> str:
    """A byte count as whole megabytes (2**20), for messages."""
    return f"{size / 2**20:,.0f} MB"


def limit_memory(size: int | None) -> None:
    """Bound this process's address space to ``size`` bytes (None: leave it as it is). The bound
    only ever goes down: a hard limit set from outside is kept when it is lower."""
    if size is None:
        return
    try:
        import resource
    except ImportError:  # Windows: no rlimits
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        size = min(size, hard)
    if soft == resource.RLIM_INFINITY or size < soft:
        resource.setrlimit(resource.RLIMIT_AS, (size, hard))


def address_space() -> int:
    """Bytes of address space this process has reserved now (0 where the system does not say).

    >>> address_space() >= 0
    True
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    import resource

    return pages * resource.getpagesize()


@contextmanager
def memory_bound(size: int | None) -> Iterator[None]:
    """`limit_memory` for a block only, counted on top of what the process has already reserved
    (so ``size`` is what the block may add: a command run by `graphviz_grad.cli.main` inside a
    notebook that has loaded PyTorch gets the same room as in a fresh process); the previous
    bound is back afterwards.

    >>> with memory_bound(None):
    ...     memory_limit() is None or memory_limit() > 0
    True
    """
    try:
        import resource
    except ImportError:
        yield
        return
    previous = resource.getrlimit(resource.RLIMIT_AS)
    limit_memory(None if size is None else address_space() + size)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, previous)


def memory_limit() -> int | None:
    """This process's address-space bound in bytes, None when there is none."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY else soft
