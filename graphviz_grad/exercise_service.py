"""The ``exercise`` endpoint of the web API: a ready exercise by name, or one made from a formula,
its point and the keys to hide; with ``answers``, the marks.

>>> from graphviz_grad.service import respond
>>> status, page = respond("exercise", {"name": "fanout", "answers": {"de/db": "2", "z1": 3}})
>>> status, page["score"], page["blanks"][:2], page["derivation"][0]
(200, '1 of 5 right', ['z1', 'de/dz1'], 'z1 = a + b = ?')
>>> print(page["marks"][-1]["text"])  # doctest: +ELLIPSIS
de/db = 2 is not right. ... You counted only the path through z1; b also feeds z2: ...
>>> respond("exercise", {"name": "nope"})[1]["error"]
"no ready exercise 'nope' (ready: seed, fanout, neuron)"

Every answer is marked statelessly: the page sends all of the learner's answers each time, so
a step done right on their own wrong earlier answer is recognised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InputValueError
from .exercises import READY, Exercise, exercise
from .layout import LayoutError

NAME, HIDE, ANSWERS = "name", "hide", "answers"
MAX_KEY = 200
"""Characters in a hidden key or an answer's key."""


MOST_KEYS = 100
"""Keys in a request's ``hide`` list (twice the 50 nodes the page once drew at most)."""


def read_exercise(body: dict[str, Any]) -> dict[str, Any]:
    """The exercise request checked and reduced to plain data (a `service.RequestError` if not)."""
    from .service import FORMULA, VALUES, RequestError, _formula, _shown, _unicode, _values

    name = body.get(NAME)
    if name is not None:
        if not isinstance(name, str) or name not in READY:
            shown = _shown(name) if isinstance(name, str) else type(name).__name__
            raise RequestError(f"no ready exercise {shown} (ready: {', '.join(READY)})", NAME)
        if any(body.get(key) is not None for key in (FORMULA, VALUES)):
            raise RequestError("a ready exercise has its own formula and values: give its name or a "
                               "formula, not both", NAME)
    graph = None
    if name is None:
        text = body.get(FORMULA)
        if text is not None and not isinstance(text, str):
            raise RequestError("the formula must be text", FORMULA)
        if text is not None:
            _unicode(text, "the formula", FORMULA)
        graph = _formula(text)[1]
    most = MOST_KEYS

    def keys(value: Any, what: str, field: str, kind: type) -> list[str]:
        if not isinstance(value, kind) or len(value) > most:
            raise RequestError(f"{what} must be a list of at most {most} keys", field)
        for key in value:
            if not isinstance(key, str) or len(key) > MAX_KEY:
                raise RequestError(f"{what}: each key is text of at most {MAX_KEY} characters", field)
            _unicode(key, what, field)
        return list(value)

    hide = keys(body[HIDE], "hide", HIDE, list) if body.get(HIDE) is not None else None
    answers = {} if body.get(ANSWERS) is None else body[ANSWERS]
    if not isinstance(answers, dict):
        raise RequestError("answers must be a JSON object of keys and numbers", ANSWERS)
    keys(answers, "answers", ANSWERS, dict)
    for key, value in answers.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float) or (
                isinstance(value, str) and len(value) > 100):
            raise RequestError(f"the answer for {_shown(key)} must be a number or short text", ANSWERS)
    return {NAME: name, FORMULA: body.get(FORMULA) if graph is not None else None,
            VALUES: _values(body.get(VALUES), graph) if graph is not None else {},
            HIDE: hide, ANSWERS: answers}


def exercise_page(request: Mapping[str, Any]) -> dict[str, Any]:
    """The exercise as the page shows it: task, blanks, derivation, diagram and the marks."""
    from .service import FORMULA, VALUES, RequestError, _formula

    made: Exercise
    hide = {} if request[HIDE] is None else {"hide": request[HIDE]}
    try:  # a key that names no node, or an input: the message goes beside the field it is about
        if request[NAME] is not None:
            made = exercise(request[NAME], **hide)
        else:
            made = exercise(_formula(request[FORMULA])[1], request[VALUES], **hide)
    except InputValueError as error:
        raise RequestError(str(error), HIDE) from None
    try:
        marks = made.check(request[ANSWERS]) if request[ANSWERS] else None
    except InputValueError as error:
        raise RequestError(str(error), ANSWERS) from None
    try:
        svg = made.diagram().svg().decode("utf-8")
    except LayoutError:
        svg = ""
    return {"task": made.task, "description": made.describe(), "blanks": list(made.blanks),
            "derivation": made.derivation(), "svg": svg,
            "tolerance": {"rel": made.rel_tol, "abs": made.abs_tol},
            "score": marks.score if marks is not None else None,
            "marks": [{"key": m.key, "right": m.right, "text": m.text} for m in marks] if marks else None}
