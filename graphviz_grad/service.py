"""The web page's JSON API as plain functions: a request's data in, a status and the answer's data out.

>>> status, page = respond("calculate", {"values": {"W1": "0.3"}})
>>> status, page["loss"], page["gradients"]["W1"]
(200, 9.0, 30.0)
>>> respond("calculate", {"values": {"W1": "abc"}})
(400, {'error': "W1: the value 'abc' is not a number", 'field': 'values.W1'})
>>> respond("formula", {"formula": "e = (a+b)*(b+1)"})[1]["fields"][1]
{'name': 'b', 'help': 'a parameter: the update below changes it', 'default': 1.0}

The page asks for the engine's numbers without the SymPy check (``"check": false``), which
comes back in a few milliseconds, and for the check in a second request to ``check``:

>>> status, numbers = respond("calculate", {"values": {"W1": "0.3"}, "check": False})
>>> numbers["loss"], numbers["check"]["pending"], numbers["formulas"]
(9.0, True, [])
>>> status, verdict = respond("check", {"values": {"W1": "0.3"}})
>>> verdict["inputs"]["W1"], verdict["check"]["ok"], verdict["formulas"][1]["closed_form"]
(0.3, True, '2·x·(-B + W1·x + W2·y)')

No HTTP here (that is `graphviz_grad.web`): `read` checks a request in the server's process
and turns it into plain numbers and text; `respond` does the work in a worker process. Every
answer is JSON-ready (numbers that are not finite are the strings ``"inf"``, ``"-inf"``,
``"nan"``); bad input is a 400 answer whose ``field`` says where the page shows the message:
``"formula"``, ``"lr"``, ``"values.NAME"`` for an input, or ``None`` for the request itself.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .calculator import Calculation, calculate
from .descent import LEARNING_RATE, descend
from .engine import backward
from .errors import GraphvizGradError, missing_value
from .formula import parse
from .frames import frames
from .graph import Graph
from .layout import BackendMissing, LayoutError
from .limits import megabytes, memory_limit
from .ops import FUNCTIONS
from .scene import descent_data, descent_drawing, drawing, scene_data
from .seed import DEFAULTS, EXAMPLES, FIELDS, SEED_FORMULA, default_parameters, is_seed
from .serialize import json_number
from .text import parse_number

MAX_FORMULA = 2_000
"""Characters in a formula typed into the page."""
MAX_NODES = 2_000
"""Nodes in a formula's graph for the page's numbers (the parser's own limits apply too)."""
MAX_DRAWN = 150
"""Nodes the page draws: one layout by Graphviz, then every step is a small change to it."""
PASSES = ("both", "forward", "backward")
"""What the graph's frames step through (``passes`` of ``/api/graph``)."""
MAX_NUMBER_TEXT = 100
"""Characters of a number typed into a field."""
OTHER_DEFAULT = 1.0
"""The starting value of an input that is not one of the seed's."""
OTHER_HELP = "a parameter: the update below changes it"
DESCENT_STEPS = 100
MAX_DESCENT_STEPS = 10_000
"""Steps of a run the page plays (`descent`)."""
CHECK_SECONDS = 5.0
"""The SymPy check's budget in a worker; past it the page shows every result but the check."""
TIMED = False
"""Whether the check runs under `CHECK_SECONDS`: set in the server's worker processes only (the
timer is the process's one real-time timer, which a caller elsewhere may be using)."""
FORMULA, VALUES, LR, MODE, TANGENT, CHECK = "formula", "values", "lr", "mode", "tangent", "check"
KEYS = {"seed": (), "formula": (FORMULA,), "calculate": (FORMULA, VALUES, LR),
        "check": (FORMULA, VALUES, LR),
        "graph": (FORMULA, VALUES, "passes", MODE, TANGENT), "descend": (FORMULA, VALUES, LR, "steps"),
        "exercise": ("name", FORMULA, VALUES, "hide", "answers"),
        "overview": (FORMULA, VALUES, "demo", "open", "group", "action")}
"""The keys each endpoint takes."""
SWITCHES = {"calculate": {CHECK: "false for the numbers without the SymPy check"}}
"""Keys some endpoints take besides (true or false), and what they do."""

Answer = tuple[int, dict[str, Any]]


class RequestError(GraphvizGradError):
    """Bad input in a request; ``field`` is where the page shows the message."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def respond(endpoint: str, body: Any) -> Answer:
    """``(200, answer)`` for a good request to ``endpoint``, ``(400, {"error", "field"})`` for bad input.

    The endpoints: ``seed`` (the page's start), ``formula`` (a formula's inputs),
    ``calculate`` (the calculator's results; with ``"check": false`` without the SymPy check),
    ``check`` (the SymPy check's part of those results alone) and ``graph`` (the step-by-step
    pictures).
    """
    if endpoint not in ENDPOINTS:
        return 404, {"error": f"no such endpoint: {endpoint!r} (endpoints: {', '.join(ENDPOINTS)})",
                     "field": None}
    try:
        request = read(endpoint, body)
    except GraphvizGradError as error:
        return _refusal(error)
    return answer(endpoint, request)


def answer(endpoint: str, request: Mapping[str, Any]) -> Answer:
    """`respond` for a request that `read` has checked already (the server's workers get these)."""
    try:
        return 200, ENDPOINTS[endpoint](request)
    except BackendMissing as error:  # the server's Graphviz is not there: not the request's fault
        return 503, {"error": str(error), "field": None}
    except LayoutError as error:  # Graphviz failed or was killed on a checked formula: the server's fault
        return 500, {"error": f"the picture could not be made: {error}", "field": None}
    except GraphvizGradError as error:  # from the library: a number or formula it refuses
        return _refusal(error)
    except MemoryError:  # the formula needs more memory than this process may use
        return 422, {"error": memory_message(endpoint), "field": FORMULA}


def memory_message(endpoint: str) -> str:
    """What a request is told when its job ran out of the worker's memory bound."""
    bound = memory_limit()
    size = f"more than the {megabytes(bound)} a job may use" if bound else "more memory than there is"
    return f"the {endpoint} job needed {size} and was stopped: try a smaller formula"


def _refusal(error: GraphvizGradError) -> Answer:
    return 400, {"error": str(error), "field": error.field if isinstance(error, RequestError) else None}


def read(endpoint: str, body: Any) -> dict[str, Any]:
    """The request checked and reduced to plain data: ``formula`` (text or None: the seed),
    ``values`` (input name → float) and ``lr`` (float or None), and ``check`` False when a
    calculation is asked for without the SymPy check; or a `RequestError`.

    >>> read("calculate", {"formula": "y = a*b", "values": {"a": "2", "b": 3}})
    {'formula': 'y = a*b', 'values': {'a': 2.0, 'b': 3.0}, 'lr': None}
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise RequestError(f"the request must be a JSON object, not {_json_type(body)}")
    known = KEYS[endpoint]
    switches = SWITCHES.get(endpoint, {})
    for key in body:
        if key not in known and key not in switches:
            taken = f"it takes {', '.join(known)}" if known else "it takes no body"
            also = "".join(f", and {name}: {meaning}" for name, meaning in switches.items())
            raise RequestError(f"unknown key {_shown(key)} for {endpoint} ({taken}){also}")
    if endpoint == "exercise":  # its own keys: a ready exercise's name, what to hide, the answers
        from .exercise_service import read_exercise

        return read_exercise(body)
    if endpoint == "overview":  # a big graph's groups, opened and closed (graphviz_grad.overview_service)
        from .overview_service import read_overview

        return read_overview(body)
    text = body.get(FORMULA)
    if text is not None:
        if not isinstance(text, str):
            raise RequestError(f"the formula must be text, not {_json_type(text)}", FORMULA)
        _unicode(text, "the formula", FORMULA)
    graph = _formula(text)[1]
    lr = None
    if body.get(LR) is not None:
        lr = _number(body[LR], "the learning rate", LR)
        if lr <= 0:
            raise RequestError(f"the learning rate must be a number > 0, not {lr:g}", LR)
    request = {FORMULA: text, VALUES: _values(body.get(VALUES), graph) if VALUES in known else {}, LR: lr}
    if CHECK in switches and body.get(CHECK) is not None:
        if not isinstance(body[CHECK], bool):
            raise RequestError(f"check must be true or false, not {_json_type(body[CHECK])}", CHECK)
        if not body[CHECK]:
            request[CHECK] = False
    if "passes" in known:
        passes = body.get("passes", "both")
        if passes not in PASSES:
            raise RequestError(f"passes must be one of {', '.join(PASSES)}, not {_shown(str(passes))}",
                               "passes")
        request["passes"] = passes
    if MODE in known:
        request.update(_mode(body.get(MODE), body.get(TANGENT), graph))
    if "steps" in known:
        steps = body.get("steps", DESCENT_STEPS)
        if isinstance(steps, str) and steps.strip().isdigit():
            steps = int(steps)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_DESCENT_STEPS:
            raise RequestError(f"steps must be a whole number from 1 to {MAX_DESCENT_STEPS:,}", "steps")
        request["steps"] = steps
    return request


def _mode(mode: Any, tangent: Any, graph: Graph) -> dict[str, Any]:
    """``mode`` (``reverse``, ``forward`` or ``both``; default reverse) and ``tangent``, the direction
    of forward mode: an object input name → number (inputs left out are 0), or one input's name
    for its unit vector; default the first input's unit vector."""
    from .dot import MODES

    mode = "reverse" if mode is None else mode
    if mode not in MODES:
        raise RequestError(f"mode must be one of {', '.join(MODES)}, not {_shown(str(mode))}", MODE)
    if tangent is None:
        tangent = {graph.inputs[0]: 1.0} if graph.inputs else {}
    if isinstance(tangent, str):
        tangent = {tangent: 1.0}  # one input's unit vector
    if not isinstance(tangent, dict):
        raise RequestError("tangent must be an input's name or a JSON object of input names and numbers, "
                           f"not {_json_type(tangent)}", TANGENT)
    direction = {}
    for name, number in tangent.items():
        if name not in graph.input_set:
            raise RequestError(f"tangent names {_shown(name)}, which is not an input", TANGENT)
        direction[name] = _number(number, f"the tangent of {name}", TANGENT)
    return {MODE: mode, TANGENT: direction}


def seed(request: Mapping[str, Any]) -> dict[str, Any]:
    """The page's start: the seed formula with its fields, both worked examples and the formula
    language's functions (the op table's)."""
    return {**formula_info(request), "examples": {str(k): dict(v) for k, v in EXAMPLES.items()},
            "learning_rate": LEARNING_RATE, "limits": {"formula_characters": MAX_FORMULA, "nodes": MAX_NODES,
                                                              "drawn_nodes": MAX_DRAWN},
            "functions": list(FUNCTIONS)}


def formula_info(request: Mapping[str, Any]) -> dict[str, Any]:
    """A formula's inputs as the page's fields (name, help text, starting value)."""
    text, graph = _formula(request[FORMULA])
    seeded = is_seed(graph)
    return {"formula": text, "seed": seeded, "output": graph.output, "nodes": len(graph),
            "parameters": list(default_parameters(graph)),
            "fields": [{"name": name, "help": FIELDS[name] if seeded else OTHER_HELP,
                        "default": DEFAULTS[name] if seeded else OTHER_DEFAULT}
                       for name in (FIELDS if seeded else graph.inputs)]}


def calculation(request: Mapping[str, Any]) -> dict[str, Any]:
    """The calculator's page data (`graphviz_grad.calculator.Calculation.to_dict`); the SymPy
    check gets `CHECK_SECONDS` (in a process's main thread, where a timer can stop it). With
    ``check`` False, the check is left out: ``check`` is ``{"ok": null, "pending": true, ...}``,
    ``formulas`` is empty and ``interpretation`` reads kinks from the engine's trace (the
    ``check`` endpoint has the check's parts)."""
    result = _calculated(request)
    if request.get(CHECK, True):
        _run_check(result)
        return result.to_dict()
    result.check_skipped = "asked for separately (POST /api/check)"
    data = result.to_dict()
    data[CHECK] = {"ok": None, "pending": True, "summary": "the SymPy check comes in a second request",
                   "text": "SymPy check: on its way."}
    return data


def verdict(request: Mapping[str, Any]) -> dict[str, Any]:
    """The SymPy check of a calculation, for the page to show after the engine's numbers: the
    ``check``, ``formulas`` and ``interpretation`` of `calculation`'s answer at the same point,
    with the ``formula``, ``output`` and ``inputs`` (the point) they belong to. The formula's
    derivation is cached in each process (`graphviz_grad.symbolic.derive`), so a change of the
    values costs only the evaluation at the new point."""
    result = _calculated(request)
    _run_check(result)
    return {"formula": result.formula, "output": result.output,
            "inputs": {name: json_number(value) for name, value in result.values.items()},
            **result.checked_dict()}


def _calculated(request: Mapping[str, Any]) -> Calculation:
    text, graph = _formula(request[FORMULA])
    options = {"lr": request[LR]} if request[LR] is not None else {}
    result = calculate(graph, request[VALUES], **options)
    result.formula = text
    return result


def _run_check(result: Calculation) -> None:
    """Compute the result's SymPy check within `CHECK_SECONDS` (when `TIMED`) and the worker's
    memory bound; past either, the result says why the check was not done."""
    from . import symbolic  # noqa: F401 (loaded outside the timer: a half-loaded SymPy is broken)

    try:
        with _time_limit(CHECK_SECONDS if TIMED else None):
            result.report  # noqa: B018 (computed here, under the time limit)
    except _OutOfTime:
        result.check_skipped = f"SymPy took longer than {CHECK_SECONDS:g} s"
    except MemoryError:  # the numbers grow past the worker's bound (a**a**a**a): the rest still holds
        bound = memory_limit()
        result.check_skipped = (f"SymPy needed more than {megabytes(bound)}" if bound
                                else "SymPy ran out of memory")


def graph_frames(request: Mapping[str, Any]) -> dict[str, Any]:
    """The graph drawn once (``svg``: the annotated graph) and the viewer's data: its nodes and
    edges with their story, and every frame of the forward and backward passes (``passes``)
    as a caption and the changes to the drawing (`graphviz_grad.scene.scene_data`)."""
    _, graph = _formula(request[FORMULA])
    trace = backward(graph, request[VALUES])
    if len(graph) > MAX_DRAWN:  # too many to draw one by one: the overview, its groups to open
        from .overview_service import big_graph

        return big_graph(trace, MAX_DRAWN)
    passes = request.get("passes", "both")
    mode = request.get(MODE, "reverse")
    forward_options: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if mode != "reverse":  # forward mode: the tangents along the request's direction, on every node
        from .forward import tangents

        run = tangents(trace, direction=request[TANGENT])
        forward_options = {"tangents": run, "mode": mode}
        extra = {"mode": mode, "tangent": run.to_dict()}
        if mode == "forward":  # no gradient is shown: the forward pass only
            passes = "forward"
    sequence = frames(trace, forward=passes != "backward", backward=passes != "forward",
                      tangents=forward_options.get("tangents"))
    data = scene_data(trace, sequence=sequence, **forward_options)
    for frame, shown in zip(sequence, data["frames"], strict=True):
        shown.update(index=frame.index, node=frame.view.current or "")
    return {"svg": drawing(trace, **forward_options), "passes": passes, **data, **extra}


def descent(request: Mapping[str, Any]) -> dict[str, Any]:
    """A gradient-descent run of ``steps`` steps at ``lr`` from ``values``, played over the graph's
    drawing: a frame every few steps (`graphviz_grad.scene.descent_data`) and the loss curve."""
    _, graph = _drawable(request[FORMULA])
    run = descend(graph, request[VALUES], lr=request[LR] or LEARNING_RATE, steps=request["steps"])
    data = descent_data(run)
    return {"svg": descent_drawing(run, data), "status": run.status, "message": run.message, **data}


def _overview(request: Mapping[str, Any]) -> dict[str, Any]:
    from .overview_service import overview_page

    return overview_page(request)


def _exercise(request: Mapping[str, Any]) -> dict[str, Any]:
    from .exercise_service import exercise_page

    return exercise_page(request)


ENDPOINTS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "seed": seed, "formula": formula_info, "calculate": calculation, "check": verdict, "graph": graph_frames,
    "descend": descent, "exercise": _exercise, "overview": _overview}


def _drawable(text: str | None) -> tuple[str, Graph]:
    """`_formula`, for a graph the page draws: at most `MAX_DRAWN` nodes."""
    text, graph = _formula(text)
    if len(graph) > MAX_DRAWN:
        raise RequestError(f"the graph has {len(graph)} nodes; the page draws at most {MAX_DRAWN} (the "
                           "numbers are complete; graphviz-grad render draws larger graphs)", FORMULA)
    return text, graph


def _formula(text: str | None) -> tuple[str, Graph]:
    if text is None:
        text = SEED_FORMULA
    if not text.strip():
        raise RequestError("the formula is empty: type one, such as L = (x*W1 + y*W2 - B)**2", FORMULA)
    if len(text) > MAX_FORMULA:
        raise RequestError(f"the formula has {len(text):,} characters; the page takes at most {MAX_FORMULA:,}"
                           " (the command line takes more)", FORMULA)
    try:
        graph = parse(text)
    except GraphvizGradError as error:
        raise RequestError(str(error), FORMULA) from None
    if len(graph) > MAX_NODES:
        raise RequestError(f"the formula has {len(graph)} nodes; the page takes at most {MAX_NODES:,} "
                           "(graphviz-grad calc takes larger graphs)", FORMULA)
    return text.strip(), graph


def _values(given: Any, graph: Graph) -> dict[str, float]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise RequestError(f"values must be a JSON object of input names and numbers, not "
                           f"{_json_type(given)}")
    inputs = graph.inputs
    for name in given:
        _unicode(name, "an input's name", None)
        if name not in graph.input_set:
            raise RequestError(f"{_shown(name)} is not an input of this formula (inputs: "
                               f"{', '.join(inputs) or 'none'})", f"{VALUES}.{name}")
    defaults = DEFAULTS if is_seed(graph) else {}
    values = {}
    for name in inputs:
        if name in given:
            values[name] = _number(given[name], name, f"{VALUES}.{name}")
        elif name in defaults:
            values[name] = defaults[name]
        else:
            raise RequestError(missing_value(name), f"{VALUES}.{name}")
    return values


def _number(value: Any, label: str, field: str) -> float:
    """A finite float from a JSON number or from text (read as on the command line), else a
    `RequestError` for ``field`` whose message starts with ``label``."""
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_TEXT:
            raise RequestError(f"{label}: a number of {len(value):,} characters is over the limit of "
                               f"{MAX_NUMBER_TEXT}", field)
        try:
            return parse_number(value, label)
        except GraphvizGradError as error:
            raise RequestError(str(error), field) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{label}: expected a number, not {_json_type(value)}", field)
    try:
        number = float(value)
    except OverflowError:
        raise RequestError(f"{label}: the value is too large for float64", field) from None
    if not math.isfinite(number):
        raise RequestError(f"{label}: the value {str(number)!r} is not a number (values must be finite)",
                           field)
    return number


def _unicode(text: str, what: str, field: str | None) -> None:
    """Text that UTF-8 can carry: JSON can hold a lone surrogate (``\\ud800``), UTF-8 cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"{what} has a character that is not valid Unicode (a lone surrogate)",
                           field) from None


def _shown(text: str, most: int = 40) -> str:
    """A name from the request, quoted and cut to ``most`` characters (for messages)."""
    shown = text if len(text) <= most else text[:most] + "…"
    return repr(shown.encode("utf-8", "backslashreplace").decode("utf-8"))


class _OutOfTime(BaseException):
    """The time limit passed (a BaseException, so no ``except Exception`` inside SymPy eats it)."""


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `_OutOfTime` in the block after ``seconds`` (None: no limit). Only in a main thread
    with a real-time timer; elsewhere the block runs without a limit."""
    if (seconds is None or threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "setitimer")):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")
