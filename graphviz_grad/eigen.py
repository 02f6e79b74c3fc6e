"""Eigenvalues of a small real symmetric matrix (a Hessian), ascending, without needing numpy.

>>> eigenvalues([[50.0, 100.0, -10.0], [100.0, 200.0, -20.0], [-10.0, -20.0, 2.0]])
(0.0, 0.0, 252.0)

Up to `JACOBI_UP_TO` rows the plain-Python cyclic Jacobi routine answers (its diagonal update is
exact where it can be, so the seed's Hessian gives exactly 0, 0, 252); larger matrices go to
numpy's ``eigvalsh`` when numpy is installed (Jacobi otherwise). Values within rounding of 0 are
written as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

JACOBI_UP_TO = 40
"""Eigenvalues of matrices up to this size come from the plain-Python Jacobi routine; larger ones
from numpy's ``eigvalsh`` when numpy is installed."""


def eigenvalues(matrix: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The eigenvalues of a real symmetric matrix of finite numbers, ascending (see the module doc)."""
    if len(matrix) > JACOBI_UP_TO:
        try:
            import numpy
        except ImportError:
            pass
        else:
            return _rounded(tuple(map(float, numpy.linalg.eigvalsh(numpy.array(matrix, dtype=float)))))
    return symmetric_eigenvalues(matrix)


def symmetric_eigenvalues(matrix: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The eigenvalues of a real symmetric matrix, ascending, by cyclic Jacobi rotations (plain
    Python: the package needs no numpy); numpy's ``eigvalsh`` agrees to rounding (the tests check).

    >>> symmetric_eigenvalues([[2.0, 1.0], [1.0, 2.0]])
    (1.0, 3.0)
    """
    a = [list(map(float, row)) for row in matrix]
    n = len(a)
    if any(len(row) != n for row in a):
        raise ValueError("the matrix must be square")
    for _ in range(100):  # sweeps; converges quadratically, a dozen is plenty
        off = sum(a[i][j] * a[i][j] for i in range(n) for j in range(i + 1, n))
        scale = sum(a[i][i] * a[i][i] for i in range(n)) + off
        if off <= 1e-32 * scale or off == 0:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if a[p][q] == 0:
                    continue
                theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q])
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                apq = a[p][q]
                for r in range(n):  # rows and columns p and q turn; the rest stays
                    if r != p and r != q:
                        arp, arq = a[r][p], a[r][q]
                        a[r][p] = a[p][r] = c * arp - s * arq
                        a[r][q] = a[q][r] = s * arp + c * arq
                a[p][p] -= t * apq  # the diagonal from the rotation angle: exact where it can be
                a[q][q] += t * apq
                a[p][q] = a[q][p] = 0.0
    return _rounded(tuple(sorted(a[i][i] for i in range(n))))


def _rounded(values: tuple[float, ...]) -> tuple[float, ...]:
    """Eigenvalues within rounding of 0 (``|λ| <= 8·n·2⁻⁵²·max|λ|``) written as 0, order kept."""
    n = len(values)
    largest = max((abs(v) for v in values), default=0.0)
    noise = 8 * n * 2.0**-52 * largest
    return tuple(0.0 if abs(v) <= noise else v for v in values)
