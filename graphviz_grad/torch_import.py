"""A PyTorch scalar loss as a `Trace`: walk its ``grad_fn`` graph, map each backward node to
an op of our table, and run our engine (float64) on it.

>>> import torch
>>> w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
>>> loss = (torch.tanh(w * 2.0) - 1.0) ** 2
>>> trace = from_torch(loss, names={"w": w})
>>> loss.backward()
>>> abs(trace.gradients["w"] - w.grad.item()) < 1e-15
True

Only scalars: the loss and every tensor in its graph must hold one element (0-dim or
one-element tensors); a bigger tensor or a backward node we have no op for is a one-line
`GraphError` naming it. Leaves that require grad become inputs (named by ``names``, else
``p1, p2, ...`` in the order a walk from the loss meets them); other numbers become
constants. PyTorch does not keep every constant: an operand of ``+``/``-`` that does not
require grad is recovered from the value of the sum, which a consumer saved (so the
constant is exact up to one rounding); when nothing saved it, the error says so. Call
`from_torch` before ``loss.backward()`` frees the saved tensors (or keep them with
``retain_graph=True``). torch is never imported here: any object shaped like PyTorch's
autograd graph works.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .engine import Trace, backward
from .errors import GraphError, GraphTypeError
from .graph import CONST, INPUT, Graph, Node, constant_name
from .ops import OPS

MAX_TORCH_NODES = 1_000_000

# backward node -> (our op, the slots' order: "so" self then other, "os" other then self,
# and which operand is a Python scalar that the node does not list: None, "other"; "one": the
# constant 1, as in ``1/t``, which PyTorch records as a reciprocal)
_NODES: dict[str, tuple[str, str, str | None]] = {
    "AddBackward0": ("add", "so", None), "AddBackward1": ("add", "so", "other"),
    "SubBackward0": ("sub", "so", None), "SubBackward1": ("sub", "so", "other"),
    "RsubBackward0": ("sub", "os", None), "RsubBackward1": ("sub", "os", "other"),
    "MulBackward0": ("mul", "so", None), "MulBackward1": ("mul", "so", "other"),
    "DivBackward0": ("div", "so", None), "DivBackward1": ("div", "so", "other"),
    "PowBackward0": ("pow", "so", "other"), "PowBackward1": ("pow", "so", None),
    "MaximumBackward0": ("max", "so", None), "MinimumBackward0": ("min", "so", None),
    "NegBackward0": ("neg", "s", None), "ExpBackward0": ("exp", "s", None),
    "LogBackward0": ("log", "s", None), "SqrtBackward0": ("sqrt", "s", None),
    "SinBackward0": ("sin", "s", None), "CosBackward0": ("cos", "s", None),
    "TanhBackward0": ("tanh", "s", None), "SigmoidBackward0": ("sigmoid", "s", None),
    "ReluBackward0": ("relu", "s", None), "AbsBackward0": ("abs", "s", None),
    "ReciprocalBackward0": ("div", "os", "one"),
    "GeluBackward0": ("gelu", "s", None), "SiluBackward0": ("silu", "s", None),
    "SoftplusBackward0": ("softplus", "s", None), "EluBackward0": ("elu", "s", None),
    "LeakyReluBackward0": ("leaky_relu", "s", None),
}
# the activations' parameters: our op table's rows are PyTorch's defaults, so only those import
_DEFAULTS: dict[str, dict[str, Any]] = {
    "GeluBackward0": {"approximate": "none"},
    "SoftplusBackward0": {"beta": 1, "threshold": 20},
    "EluBackward0": {"alpha": 1, "scale": 1, "input_scale": 1},
    "LeakyReluBackward0": {"negative_slope": 0.01},
}
_UNKNOWN = object()
# where a node saves only its result, its argument from that result (for a constant inside it)
_ARGUMENT_FROM_RESULT = {"ReciprocalBackward0": lambda result: 1 / result, "ExpBackward0": math.log}


def from_torch(loss: Any, *, names: Mapping[str, Any] | None = None) -> Trace:
    """The `Trace` of a scalar PyTorch loss at its leaves' values, with our gradients."""
    if not hasattr(loss, "grad_fn") or not hasattr(loss, "numel"):
        raise GraphTypeError(f"from_torch needs a PyTorch tensor, not {type(loss).__name__}")
    if loss.numel() != 1:
        raise GraphError(f"from_torch takes a scalar loss, not a tensor of shape {tuple(loss.shape)}")
    if loss.grad_fn is None:
        raise GraphError("the loss has no grad_fn: nothing in it requires grad")
    given = {id(tensor): name for name, tensor in (names or {}).items()}
    return _Importer(given).run(loss)


class _Importer:
    def __init__(self, names: dict[int, str]):
        self.names = names
        self.used = set(names.values())
        self.counter = 0
        self.inputs: dict[int, tuple[str, float]] = {}  # id(leaf tensor) -> (name, value)
        self.known: dict[Any, float] = {}  # backward node -> the value of its output, where saved

    def run(self, loss: Any) -> Trace:
        order = self.post_order(loss.grad_fn)
        self.known[loss.grad_fn] = _scalar(loss, "the loss")
        operations = []  # (backward node, op, [argument: backward node | ("leaf", id) | float | _UNKNOWN])
        for fn in order:
            operations.append(self.operation(fn))
        return self.trace(operations, loss.grad_fn)

    def post_order(self, root: Any) -> list[Any]:
        order: list[Any] = []
        done: set[Any] = set()
        stack = [(root, False)]
        while stack:
            fn, expanded = stack.pop()
            if fn in done:
                continue
            if expanded:
                done.add(fn)
                order.append(fn)
                if len(order) > MAX_TORCH_NODES:
                    raise GraphError(f"the loss has more than {MAX_TORCH_NODES:,} backward nodes")
                continue
            kind = type(fn).__name__
            if kind not in _NODES:
                raise GraphError(f"PyTorch operation {kind} is not supported (supported: "
                                 f"{', '.join(sorted(_NODES))})")
            stack.append((fn, True))
            stack.extend((child, False) for child, _ in reversed(fn.next_functions)
                         if child is not None and type(child).__name__ != "AccumulateGrad")
        return order

    def operation(self, fn: Any) -> tuple[Any, str, list[Any]]:
        op, slots, scalar = _NODES[type(fn).__name__]
        nexts = [child for child, _ in fn.next_functions]
        saved = {"s": _saved(fn, "_saved_self"), "o": _saved(fn, "_saved_other")}
        if op == "pow":
            saved["o"] = _saved(fn, "_saved_exponent")
        operands: dict[str, Any] = {"s": nexts[0] if nexts else None}
        operands["o"] = _UNKNOWN if scalar == "other" else (nexts[1] if len(nexts) > 1 else None)
        if scalar == "one":
            operands["o"] = 1.0
        for parameter, default in _DEFAULTS.get(type(fn).__name__, {}).items():
            given = _saved(fn, f"_saved_{parameter}")
            if given != default:
                raise GraphError(f"{type(fn).__name__} with {parameter}={given!r} is not supported "
                                 f"(only PyTorch's default {parameter}={default!r}, the op table's)")
        if scalar == "other" and op == "pow":
            operands["o"] = saved["o"]
        arguments = []
        for slot in slots:
            item = operands[slot]
            value = saved[slot]
            if item is _UNKNOWN or item is None:
                arguments.append(_UNKNOWN if value is None else _scalar(value, type(fn).__name__))
            elif isinstance(item, float | int):
                arguments.append(float(item))
            elif type(item).__name__ == "AccumulateGrad":
                arguments.append(self.leaf(item.variable))
            else:
                arguments.append(item)
                if value is not None:
                    self.known.setdefault(item, _scalar(value, type(fn).__name__))
        alpha = getattr(fn, "_saved_alpha", 1)
        if alpha != 1:
            raise GraphError(f"{type(fn).__name__} with alpha={alpha} is not supported (only alpha=1)")
        result = _saved(fn, "_saved_result")
        if result is not None:
            self.known.setdefault(fn, _scalar(result, type(fn).__name__))
            undo = _ARGUMENT_FROM_RESULT.get(type(fn).__name__)
            value = self.known[fn]
            if undo is not None and nexts[0] is not None and 2.3e-308 < abs(value) < math.inf and value > 0:
                self.known.setdefault(nexts[0], undo(value))  # the sum in 1/(1 + t) or exp(t + 0.1)
        return fn, op, arguments

    def leaf(self, tensor: Any) -> tuple[str, int]:
        key = id(tensor)
        if key not in self.inputs:
            name = self.names.get(key)
            if name is None:
                while True:
                    self.counter += 1
                    name = f"p{self.counter}"
                    if name not in self.used:
                        break
                self.used.add(name)
            self.inputs[key] = (name, _scalar(tensor, f"leaf {name!r}"))
        return ("leaf", key)

    def trace(self, operations: list[tuple[Any, str, list[Any]]], root: Any) -> Trace:
        slots = self.resolve(operations)
        name_of: dict[Any, str] = {}
        constants: dict[str, float] = {}
        body: list[Node] = []
        for count, (fn, op, arguments) in enumerate(operations, 1):
            args = []
            for arg, value in zip(arguments, slots[fn], strict=True):
                if isinstance(arg, tuple):
                    args.append(self.inputs[arg[1]][0])
                elif arg is _UNKNOWN or isinstance(arg, float):
                    name = constant_name(value)
                    constants.setdefault(name, value)
                    args.append(name)
                else:
                    args.append(name_of[arg])
            name_of[fn] = "L" if fn is root else f"z{count}"
            body.append(Node(name_of[fn], op, tuple(args)))
        leaves = [Node(name, INPUT) for name, _ in self.inputs.values()]
        clash = {node.name for node in leaves} & (set(constants) | set(name_of.values()))
        if clash:
            raise GraphError(f"the name {sorted(clash)[0]!r} is given to a leaf and to another node")
        graph = Graph([*leaves, *(Node(name, CONST, value=v) for name, v in constants.items()), *body], "L")
        return backward(graph, [value for _, value in self.inputs.values()])

    def resolve(self, operations: list[tuple[Any, str, list[Any]]]) -> dict[Any, list[Any]]:
        """Every operand's value. Forward where the operands are known; where a constant of
        ``+``/``-`` was not kept, backward from a known result (a saved value, the loss),
        through sums and differences, until nothing changes."""
        value_of: dict[Any, float] = {}
        slots = {fn: [self.inputs[arg[1]][1] if isinstance(arg, tuple) else arg for arg in arguments]
                 for fn, _, arguments in operations}

        def current(fn: Any, k: int) -> Any:
            item = slots[fn][k]
            return value_of.get(item, _UNKNOWN) if not isinstance(item, float) and item is not _UNKNOWN \
                else item

        for _ in range(len(operations) + 1):
            progress = False
            for fn, op, arguments in operations:  # forward
                if fn not in value_of:
                    values = [current(fn, k) for k in range(len(arguments))]
                    if _UNKNOWN not in values:
                        value_of[fn] = OPS[op].forward(*values)
                        progress = True
            for fn, op, arguments in reversed(operations):  # backward through + and -
                result = value_of.get(fn, self.known.get(fn))
                values = [current(fn, k) for k in range(len(arguments))]
                if result is None or op not in ("add", "sub", "neg") or values.count(_UNKNOWN) != 1:
                    continue
                k = values.index(_UNKNOWN)
                if op == "neg":
                    solved = -result
                elif op == "add":
                    solved = result - values[1 - k]
                else:
                    solved = result + values[1] if k == 0 else values[0] - result
                if slots[fn][k] is _UNKNOWN:
                    known = [abs(value) for value in values if value is not _UNKNOWN]
                    slots[fn][k] = _shortest(solved, max(abs(result), *known))
                else:
                    value_of[slots[fn][k]] = solved
                progress = True
            if not progress:
                break
        for fn, _, arguments in operations:
            values = [current(fn, k) for k in range(len(arguments))]
            if _UNKNOWN in values:
                raise GraphError(f"PyTorch did not keep a constant operand of {type(fn).__name__}, and no "
                                 "saved value tells it: make that operand a tensor with requires_grad=True")
            slots[fn] = values
        return slots


def _shortest(solved: float, size: float) -> float:
    """The shortest decimal within rounding error (a few ulps of ``size``, the sum's magnitude) of a
    constant recovered from a sum: 0.1, not 0.10000000000000009.

    >>> _shortest(0.10000000000000009, 1.5), _shortest(0.1234, 1.5)
    (0.1, 0.1234)
    """
    if not math.isfinite(solved):
        return solved
    tolerance = 8 * math.ulp(size)
    for digits in range(1, 16):
        candidate = float(f"{solved:.{digits}g}")
        if abs(candidate - solved) <= tolerance:
            return candidate
    return solved


def _saved(fn: Any, attribute: str) -> Any:
    try:
        return getattr(fn, attribute, None)
    except RuntimeError as error:  # freed by loss.backward()
        raise GraphError("PyTorch has freed the saved values: call from_torch before loss.backward(), "
                         f"or backward with retain_graph=True ({str(error).splitlines()[0][:80]})") from None


def _scalar(value: Any, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    numel = getattr(value, "numel", None)
    if numel is None:
        raise GraphError(f"{what}: expected a number or a tensor, not {type(value).__name__}")
    if numel() != 1:
        raise GraphError(f"{what} holds a tensor of shape {tuple(value.shape)}: only one-element tensors "
                         "can be imported")
    return float(value.item())
