"""micrograd's demo network, built with this package's builder: a big graph to browse.

>>> trace = mlp_trace(samples=2, sizes=(2, 3, 1))
>>> len(trace.graph), trace.graph.inputs[:3]
(98, ('layer1.n0.w0', 'layer1.n0.w1', 'layer1.n0.b'))

The network and loss of micrograd's ``demo.ipynb``: ``MLP(2, [16, 16, 1])`` (relu hidden
layers, a linear output) scoring points of two interleaved half moons, the max-margin loss
``mean(relu(1 - y·score))`` plus ``1e-4 · Σ p²`` over the 337 parameters. With 100 samples
that is 65,414 scalar nodes, as in micrograd (here the 337 parameters are inputs and every
distinct number is one shared constant node). Every sample's forward pass is in a group
``sample<k>`` (layers ``layer<l>``, neurons ``n<j>``), the parameters in ``layer<l>.n<j>``.
The data are seeded (``random.Random(seed)``): the same call gives the same graph.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

from .engine import Trace, backward
from .graph import Expr, build, group, inputs, relu

SIZES = (2, 16, 16, 1)
SAMPLES = 100
ALPHA = 1e-4


def moons(count: int, noise: float = 0.1, seed: int = 1337) -> list[tuple[float, float, int]]:
    """``count`` points ``(x, y, label)`` of two interleaved half circles, labels ±1.

    >>> moons(2)[0][2], moons(2)[1][2]
    (-1, 1)
    """
    rng = random.Random(seed)
    points = []
    for k in range(count):
        upper = k % 2 == 0
        angle = math.pi * rng.random()
        x, y = (math.cos(angle), math.sin(angle)) if upper else (1 - math.cos(angle), 0.5 - math.sin(angle))
        points.append((x + rng.gauss(0, noise), y + rng.gauss(0, noise), -1 if upper else 1))
    return points


def mlp_trace(samples: int = SAMPLES, sizes: Sequence[int] = SIZES, seed: int = 1337) -> Trace:
    """The demo's loss as a `Trace`: the graph built with groups, run forward and backward."""
    rng = random.Random(seed)
    layers: list[list[tuple[list[Expr], Expr]]] = []
    values: dict[str, float] = {}
    for number, (fan_in, width) in enumerate(itertools.pairwise(sizes), 1):
        layer = []
        for j in range(width):
            with group(f"layer{number}"), group(f"n{j}"):
                weights = list(inputs([f"w{i}" for i in range(fan_in)]))
                (bias,) = inputs(["b"])
            for parameter in (*weights, bias):
                values[parameter.name] = rng.uniform(-1, 1) if parameter is not bias else 0.0  # type: ignore[index]
            layer.append((weights, bias))
        layers.append(layer)
    losses = []
    for k, (x, y, label) in enumerate(moons(samples, seed=seed)):
        with group(f"sample{k}"):
            signal: list[Expr | float] = [x, y]
            for number, layer in enumerate(layers, 1):
                with group(f"layer{number}"):
                    outputs = []
                    for j, (weights, bias) in enumerate(layer):
                        with group(f"n{j}"):
                            total: Expr = bias
                            for weight, xi in zip(weights, signal, strict=True):
                                total = total + weight * xi
                            outputs.append(relu(total) if number < len(layers) else total.named("score"))
                    signal = outputs  # type: ignore[assignment]
            losses.append(relu(1 + -label * signal[0]).named("loss"))
    with group("data_loss"):
        data_loss: Expr = losses[0]
        for loss in losses[1:]:
            data_loss = data_loss + loss
        data_loss = data_loss * (1.0 / len(losses))
    parameters = [p for layer in layers for weights, bias in layer for p in (*weights, bias)]
    with group("regularization"):
        squares: Expr = parameters[0] * parameters[0]
        for parameter in parameters[1:]:
            squares = squares + parameter * parameter
        penalty = ALPHA * squares
    graph = build((data_loss + penalty).named("L"), inputs=parameters)
    return backward(graph, [values[p.name] for p in parameters])  # type: ignore[index]
