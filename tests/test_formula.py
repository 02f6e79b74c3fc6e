"""The formula language (docs/formula-language.md), its limits, and every kind of bad input."""

import math
import os
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import FormulaError, build, inputs, parse
from graphviz_grad.formula import MAX_DEPTH, MAX_LENGTH, MAX_NODES

from .conftest import SEED


def names(graph):
    return [node.name for node in graph]


def test_seed_names_exactly():
    graph = parse(SEED)
    assert [graph.statement(n.name) for n in graph if n.op not in ("input", "const")] == [
        "z1 = x*W1", "z2 = y*W2", "z3 = z1 + z2", "z4 = z3 - B", "L = z4**2"]


def test_colah_keeps_its_names():
    graph = parse("c = a + b; d = b + 1; e = c*d")
    assert names(graph) == ["a", "b", "1", "c", "d", "e"]
    assert graph.output == "e"


def test_bare_last_expression_is_named_L():
    graph = parse("(x*W1 + y*W2 - B)**2")
    assert graph.output == "L" and names(graph)[-5:] == ["z1", "z2", "z3", "z4", "L"]


def test_evaluation_order_left_first_innermost_first():
    graph = parse("exp(x*y) + z*w")
    assert [graph.statement(n) for n in ("z1", "z2", "z3", "L")] == [
        "z1 = x*y", "z2 = exp(z1)", "z3 = z*w", "L = z2 + z3"]


def test_auto_names_skip_names_used_anywhere():
    graph = parse("z2 = a*b\nL = z2 + a*a + z1")
    assert graph.statement("z3") == "z3 = a*a"
    assert graph.inputs == ("a", "b", "z1")


def test_inputs_in_order_of_first_appearance_including_unused_statements():
    graph = parse("u = q*2\nv = b + a\nL = a*b")
    assert graph.inputs == ("q", "b", "a")
    assert "u" in graph and "v" in graph


@pytest.mark.parametrize(("text", "program"), [
    ("L = -x**2", "z1 = x**2\nL = -z1"),
    ("L = x**y**z", "z1 = y**z\nL = x**z1"),
    ("L = a - b - c", "z1 = a - b\nL = z1 - c"),
    ("L = a / b / c", "z1 = a/b\nL = z1/c"),
    ("L = a + b * c", "z1 = b*c\nL = a + z1"),
    ("L = (a + b) * c", "z1 = a + b\nL = z1*c"),
    ("L = 2**-x", "z1 = -x\nL = 2**z1"),
    ("L = x*-2", "L = x*-2"),
    ("L = -2*x", "L = -2*x"),
    ("L = -(2)*x", "L = -2*x"),
    ("L = -2**2*x", "z1 = 2**2\nz2 = -z1\nL = z2*x"),
    ("L = - - x", "z1 = -x\nL = -z1"),
    ("L = +x*+2", "L = x*2"),
    ("L = x**-y**2", "z1 = y**2\nz2 = -z1\nL = x**z2"),
    ("L = max(a*b, -c) - min(a, 1.5e-3)", "z1 = a*b\nz2 = -c\nz3 = max(z1, z2)\nz4 = min(a, 0.0015)\nL = z3 - z4"),
    ("L = sigmoid(relu(abs(x)))", "z1 = abs(x)\nz2 = relu(z1)\nL = sigmoid(z2)"),
    ("L = .5*x + 5.*y + 1e3*z + 2E-2", "z1 = 0.5*x\nz2 = 5*y\nz3 = z1 + z2\nz4 = 1000*z\nz5 = z3 + z4\nL = z5 + 0.02"),
])
def test_precedence_and_associativity_follow_python(text, program):
    assert str(parse(text)) == program


def test_statement_separators_comments_and_line_joining():
    text = "# seed loss\nz = x*W1 + y*W2 ;; r = z - B  # residual\n\nL = (\n  r**2\n)\n"
    graph = parse(text)
    assert str(graph) == "z1 = x*W1\nz2 = y*W2\nz = z1 + z2\nr = z - B\nL = r**2"


def test_inputs_keep_reading_order_when_the_output_is_a_bare_input():
    assert parse("a = y*x; x").inputs == ("y", "x")


def test_old_mac_and_windows_line_endings():
    assert str(parse("a = x*2\rb = a + 1\r\nb*3")) == "a = x*2\nb = a + 1\nL = b*3"


def test_zero_literals_and_tiny_numbers_that_fit():
    assert str(parse("L = x*0.0 + 0e5*y + 5e-324*z")).splitlines()[0] == "z1 = x*0"
    assert parse("L = x*0.0 + 0e5*y + 5e-324*z")["5e-324"].value == 5e-324


def test_a_bare_leaf_program_is_its_own_output():
    assert parse("x").output == "x"
    assert gg.backward(parse("x"), {"x": 3}).gradients == {"x": 1.0}


@pytest.mark.parametrize(("text", "message", "column"), [
    ("L = x^2", "'^' is not an operator here: write '**'", 6),
    ("__import__('os').system('id')", "strings are not supported", 12),
    ("__import__(os)", "'__import__' is not a function", 1),
    ("L = (os).system", "'.' only joins the parts of a group name", 9),
    ("L = os.import", "'import' is a Python keyword", 5),
    ("L = x[0]", "subscripts", 6),
    ("L = {x}", "sets and dictionaries", 5),
    ("L = lambda: 1", "'lambda' is a Python keyword", 5),
    ("import os", "'import' is a Python keyword", 1),
    ("L = [x for x in y]", "subscripts and lists", 5),
    ("L = max(a=1, b=2)", "keyword arguments", 10),
    ("L = 'x'", "strings", 5),
    ('L = "x"', "strings", 5),
    ("L = f(x)", "'f' is not a function", 5),
    ("L = exp", "'exp' is a function: call it as exp(...)", 5),
    ("exp = x*2", "'exp' is a function name", 1),
    ("L = 1e309", "too large for float64", 5),
    ("L = " + "1" * 400, "over the limit of 100", 5),
    ("L = 2x", "unexpected 'x' right after the number 2: write '2*x' for a product", 6),
    ("L = 3.5W1 + 1", "write '3.5*W1' for a product", 8),
    ("L = ln(x)", "'ln' is not a function: the natural logarithm is log(...)", 5),
    ("L = Exp(x)", "did you mean exp(...)?", 5),
    ("L = sigmod(x)", "did you mean sigmoid(...)?", 5),
    ("L = pow(x, 2)", "write a**b for a power", 5),
    ("pi = x*2", "'pi' is the constant 3.141592653589793 and cannot be assigned", 1),
    ("L = 0x1F", "unexpected 'x'", 6),
    ("L = 1j", "unexpected 'j'", 6),
    ("L = 1.2.3", "unexpected '.'", 8),
    ("L = x ++", "expected a number, a name or '('", 9),
    ("L = x +", "expected a number, a name or '('", 8),
    ("L = (x", "never closed", 5),
    ("L = x)", "without a matching '('", 6),
    ("L = exp()", "exp takes 1 argument(s), got 0", 9),
    ("L = max(x)", "max takes 2 argument(s), got 1", 10),
    ("L = exp(x, y)", "exp takes 1 argument(s), got 2", 13),
    ("L = x, y", "tuples are not supported", 6),
    ("L = (x, y)", "tuples are not supported", 7),
    ("L = x y", "missing an operator before the name 'y'", 7),
    ("L = x (y)", "'x' is not a function; the functions are exp, log", 5),
    ("L = x (y)", "(for a product, write 'x*(...)')", 5),
    ("L = (x) (y)", "missing an operator before '('", 9),
    ("L = a = b*2", "unexpected '='", 7),
    ("a += 1", "augmented assignment '+=' is not supported", 3),
    ("L = a == b", "comparison '==' is not supported", 7),
    ("L = a < b", "operator '<' is not supported", 7),
    ("L = a // b", "floor division", 7),
    ("L = a % b", "operator '%' is not supported", 7),
    ("L = a @ b", "operator '@' is not supported", 7),
    ("L = x \\\n + 1", "line continuations", 7),
    ("L = αx", "non-ASCII character 'α' (U+03B1)", 5),
    ("L = x − y", "'−' (U+2212) is not an operator: write '-'", 7),
    ("L = x\u00a0+ y", "non-ASCII character", 6),
    ("L = x\x00", "unexpected character", 6),
    ("x = a*1; x = a*2", "'x' is assigned twice", 10),
    ("y = x*2; x = a*3", "'x' is assigned after it was read as an input (line 1, column 5)", 10),
    ("x = x + 1", "'x' is assigned after it was read as an input", 1),
    ("L = x", "'L = x' would give the input 'x' a second name: to make x the output, end the formula "
              "with just 'x'", 1),
    ("c = a*2; L = c", "'L = c' would give the node 'c' a second name", 10),
    ("L = 3", "'L = 3' names a constant, but a name belongs to an operation: compute L from the inputs "
              "(such as 'L = 3*x'), or end with just '3'", 1),
    ("x*2\nL = y*3", "only the last statement may be a bare expression", 1),
    ("L = x*2; L*3", "'L' is taken", 10),
    ("L(x) = 2", "'L' is not a function", 1),
    ("= x", "expected a number", 1),
    ("True", "Python keyword", 1),
    ("L = 1e-400*x", "too small for float64", 5),
    ("L = " + "x" * 300 + "*2", "a name of 300 characters", 5),
    ("a = (x*2\nb = a + 1", "is the '(' at line 1, column 5 closed?", 1),
])
def test_bad_formulas_name_the_problem_and_the_column(text, message, column):
    with pytest.raises(FormulaError) as caught:
        parse(text)
    error = caught.value
    assert message in str(error)
    assert error.column == column, str(error)
    assert "\n" not in str(error)


def test_pi_is_a_constant_and_e_stays_a_name():
    graph = parse("L = pi*r**2")
    assert graph.inputs == ("r",)
    assert gg.backward(graph, {"r": 2}).output_value == pytest.approx(4 * math.pi)
    colah = parse("c = a + b; d = b + 1; e = c*d")  # e names a node, as in Colah's example
    assert colah.output == "e" and gg.backward(colah, {"a": 2, "b": 1}).gradients == {"a": 2.0, "b": 5.0}
    assert parse("L = e*2").inputs == ("e",)  # an input named e is fine; only e**... is in doubt
    assert parse("e = a*2; L = e**2").inputs == ("a",)  # a node named e may be raised to a power


def test_errors_on_later_lines_report_the_line():
    with pytest.raises(FormulaError) as caught:
        parse("a = x*2\nb = a +\n")
    assert (caught.value.line, caught.value.column) == (2, 8)


@pytest.mark.parametrize("text", ["", "   ", "\n;\n", "# only a comment"])
def test_empty_formula(text):
    with pytest.raises(FormulaError, match="empty"):
        parse(text)


def test_non_text_formula():
    with pytest.raises(FormulaError, match="must be text"):
        parse(b"x*2")


def test_malicious_text_never_runs(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    for text in ["__import__('os').system('id')", "__import__(os).system(id)", "exec(x)", "eval(x)",
                 "open(x)", "getattr(x, y)", "(lambda: 0)()", "globals()"]:
        with pytest.raises(FormulaError):
            parse(text)
    assert parse("x.__class__").inputs == ("x.__class__",)  # a dotted (group) name, nothing more
    assert calls == []


def test_power_towers_evaluate_promptly_to_inf():
    trace = gg.backward(parse("9**9**9"), {})
    assert trace.output_value == math.inf


def test_text_over_the_size_limit():
    with pytest.raises(FormulaError, match="over the limit"):
        parse("x" * (MAX_LENGTH + 1))


def test_ten_thousand_nested_parentheses_is_a_clear_error():
    with pytest.raises(FormulaError, match=f"deeper than {MAX_DEPTH}"):
        parse("(" * 10_000 + "x" + ")" * 10_000)
    assert parse("(" * MAX_DEPTH + "x*2" + ")" * MAX_DEPTH).output == "L"
    with pytest.raises(FormulaError, match="deeper"):
        parse("exp(" * 10_000 + "x" + ")" * 10_000)


@pytest.mark.parametrize("call", ["exp(", "exp (", "exp\t("])
def test_a_call_one_level_too_deep_is_placed_at_its_function_name(call):
    # as the parser before the speed rewrite placed it (fc111d3): the name, not its '('
    text = "L = " + call * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(FormulaError, match=f"deeper than {MAX_DEPTH}") as caught:
        parse(text)
    assert caught.value.column == 5 + len(call) * MAX_DEPTH


def test_a_200000_term_sum_gives_the_correct_result():
    graph = parse(" + ".join(f"x{i % 7}" for i in range(200_000)))
    assert len(graph) == 7 + 199_999
    trace = gg.backward(graph, {f"x{i}": 1.0 for i in range(7)})
    assert trace.output_value == 200_000.0
    assert sum(trace.gradients.values()) == 200_000.0


def test_too_many_operations_is_a_clear_error():
    with pytest.raises(FormulaError, match=f"more than {MAX_NODES:,} operations"):
        parse("-" * (MAX_NODES + 1) + "x")


# --- property: parser and builder agree on any expression ----------------------------

LEAVES = st.sampled_from(["a", "b", "c", "2", "0.5", "3"])
UNARY = st.sampled_from(["-", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs"])
BINARY = st.sampled_from(["+", "-", "*", "/", "**", "max", "min"])


def expression_trees():
    return st.recursive(
        LEAVES,
        lambda inner: st.one_of(st.tuples(UNARY, inner), st.tuples(BINARY, inner, inner)),
        max_leaves=12,
    )


def to_text(tree):
    if isinstance(tree, str):
        return tree
    op, *args = tree
    texts = [to_text(arg) for arg in args]
    if op in ("+", "-", "*", "/", "**") and len(texts) == 2:
        return f"({texts[0]} {op} {texts[1]})"
    if op == "-":
        return f"(-{texts[0]})"
    return f"{op}({', '.join(texts)})"


def to_expr(tree, leaves):
    if isinstance(tree, str):
        return leaves[tree] if tree in leaves else float(tree)
    op, *args = tree
    values = [to_expr(arg, leaves) for arg in args]
    if len(values) == 1 and op == "-":
        return -values[0]
    if not any(isinstance(v, gg.Expr) for v in values):
        values[0] = gg.const(values[0])  # Python would compute numbers itself, the parser makes a node
    if op in ("+", "-", "*", "/", "**"):
        a, b = (v if isinstance(v, gg.Expr) else gg.const(v) for v in values)
        return {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__, "**": a.__pow__}[op](b)
    return abs(values[0]) if op == "abs" else getattr(gg, op)(*values)


@settings(max_examples=200, deadline=None)
@given(expression_trees())
def test_parser_and_builder_build_the_same_graph(tree):
    text = to_text(tree)
    expr = to_expr(tree, dict(zip("abc", inputs("a b c"))))
    if not isinstance(expr, gg.Expr) or expr.op in ("input", "const"):
        return  # a bare leaf or a folded number: nothing to compare
    assert parse(text) == build(expr.named("L"))


# --- property: multi-statement programs, including dead statements and names like z1 --

STATEMENT_NAMES = ["p", "z1", "q", "z3", "r"]


@st.composite
def programs(draw):
    count = draw(st.integers(1, 4))
    names = draw(st.permutations(STATEMENT_NAMES))[:count]
    statements = []
    for k, name in enumerate(names):
        leaves = st.sampled_from(["a", "b", "c", "2", *names[:k]])
        tree = draw(st.recursive(leaves, lambda inner: st.one_of(
            st.tuples(UNARY, inner), st.tuples(BINARY, inner, inner)), max_leaves=5))
        statements.append((name, tree))
    return statements, draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(programs())
def test_programs_parse_to_what_the_builder_makes(program):
    statements, bare_last = program
    lines, made = [], {}
    leaves = dict(zip("abc", inputs("a b c")))
    for k, (name, tree) in enumerate(statements):
        expr = to_expr(tree, {**leaves, **made})
        # an assignment without an operation of its own is an error, tested elsewhere
        assume(isinstance(expr, gg.Expr) and expr.op not in ("input", "const") and expr.name is None)
        last = k == len(statements) - 1
        if last and bare_last:
            lines.append(to_text(tree))
            expr.named("L")
        else:
            lines.append(f"{name} = {to_text(tree)}")
            made[name] = expr.named(name)
    exprs = [*made.values(), expr]
    assert parse("\n".join(lines)) == build(exprs[-1], also=exprs[:-1])


def test_e_is_an_ordinary_input_even_as_a_base_and_its_missing_value_says_how_to_write_euler():
    graph = parse("L = e**x")
    assert graph.inputs == ("e", "x")
    assert gg.grad(graph, e=2.0, x=3.0).output_value == 8.0
    with pytest.raises(gg.InputValueError, match=r"Euler's number to a power is exp\(x\)"):
        gg.grad(graph, x=3.0)


@pytest.mark.parametrize("wrong", [123, None, b"L = x*y", ["L = x*y"]])
def test_a_formula_that_is_not_text_is_a_type_error(wrong):
    with pytest.raises(TypeError, match="must be text"):
        parse(wrong)
    with pytest.raises(FormulaError, match="must be text"):  # and still a FormulaError
        parse(wrong)


@pytest.mark.parametrize(("text", "message"), [
    ("L = 1_000*x", "'_' in a number is not supported: write 1000"),
    ("L = 0x10*x", "hexadecimal numbers are not supported: write the number in decimal"),
    ("L = 0b101*x", "binary numbers are not supported: write the number in decimal"),
    ("L = 1e*x", "write '1*e' for a product, or an exponent with its digits, as in 1e3"),
    ("L = 1e+*x", "an exponent needs its digits, as in 1e+3"),
    ("L = 2x", "write '2*x' for a product"),
])
def test_a_number_run_into_letters_gets_a_suggestion_that_fits(text, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse(text)


# --- property: any text is a graph or one FormulaError with a place inside the text ------

FRAGMENTS = ["x", "W1", "z1", "L", "a.b", "pi", "exp", "max", "ln", "if", "x.if", "2", "0", "1e400", "1e-400",
             ".5", "5.", "2x", "1.2.3", " ", "\n", "\r\n", ";", "=", "==", "+=", "**=", "//", "(", ")", ",",
             "+", "-", "*", "/", "**", "^", "# c\n", "'", "\u2212", "\u03b1", "\t", "\x00", "1" * 120, "y" * 300]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_any_text_parses_or_is_one_formula_error_placed_inside_it(parts):
    text = "".join(parts)
    try:
        graph = parse(text)
    except FormulaError as error:
        assert "\n" not in str(error)
        if error.line is not None:
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            assert 1 <= error.line <= len(lines) and 1 <= error.column <= len(lines[error.line - 1]) + 1
    else:
        assert graph.output in graph and len(graph) >= 1


@pytest.mark.parametrize("spacing", ["# " + "c" * 300 + "\n", " " * 300, "\t" * 300 + "\n"])
def test_long_comments_and_indentation_stay_on_the_one_scan_path(spacing, monkeypatch):
    # only an over-long *name* needs the exact tokenizer's message; a long comment or run of
    # spaces sent a whole (up to 1 MB) program through it, about twice the parse time
    from graphviz_grad import formula_tokens

    def slow(text):
        raise AssertionError("the exact tokenizer ran on valid text")

    monkeypatch.setattr(formula_tokens, "_exact", slow)
    graph = parse("a = x*2\n" + spacing + "L = a + 1")
    assert graph.output == "L" and graph.inputs == ("x",)
