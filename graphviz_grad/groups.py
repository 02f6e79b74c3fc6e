"""Groups over a graph: a tree of nested boxes, declared by dotted names and found automatically.

>>> import graphviz_grad as gg
>>> tree = group_tree(gg.parse("layer1.h = tanh(layer1.w*x + b)\\nL = (layer1.h - y)**2"))
>>> [(group.id, group.kind, group.size) for group in tree.groups]
[('', 'root', 9), ('layer1', 'declared', 6), ('layer1.h', 'statement', 5), ('L', 'statement', 3)]

A group is metadata over an unchanged `Graph`, read from its node names only, so it
survives JSON and formula text. Four rules, applied in this order:

* **declared**: a dotted name's prefix is its group: ``layer1.n3.w0`` is in ``layer1.n3``,
  which is in ``layer1`` (formulas write dotted names; the builder's `graphviz_grad.group`
  writes them for you);
* **statement**: the unnamed operations (``z1, z2, ...``) before a named one with the same
  prefix are one statement, grouped under the named node's name;
* **neuron**: an activation (relu, tanh, ...) of a sum of products, each read only there,
  is grouped under the activation's name when it is not the whole statement already;
  then an input in no declared group that only one statement or neuron reads joins it
  (a sample's data belongs to the sample's statement);
* **series** and **block**: a group with more than `MOST_CHILDREN` children gets them
  bundled: runs of alike groups (same kind, size and name up to its digits, such as
  ``sample0 ... sample99``, the same sub-formula per sample) become a *series*
  ``sample[0-99]``, and what is still too many becomes about √n *blocks* of √n neighbours
  in evaluation order. Bundles nest until no group has more than `MOST_CHILDREN` children.

Constants belong to no group (one constant node can feed a thousand groups); they are
drawn only beside a node that is drawn by itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .graph import CONST, INPUT, Graph

MOST_CHILDREN = 40
"""A group with more children (groups and nodes) than this gets them bundled."""
ACTIVATIONS = frozenset({"relu", "tanh", "sigmoid", "softplus", "leaky_relu", "elu", "silu", "gelu"})
"""Ops that end a neuron (a weighted sum and then one of these)."""
_SUMS = ("add", "sub", "mul")
_AUTO = re.compile(r"z[0-9]+")
_SERIES = re.compile(r"(.*?)([0-9]+)")


@dataclass
class Group:
    """One box: its direct member nodes (positions in ``graph.nodes``) and child groups."""

    id: str
    """Unique; what ``--expand`` takes. The root's id is ``""``."""
    label: str
    """The short name drawn on the box."""
    kind: str
    """``root``, ``declared``, ``statement``, ``neuron``, ``series`` or ``block``."""
    parent: int
    groups: list[int] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)
    first: int = 0
    """The smallest position of a node inside."""
    last: int = 0
    """The largest: children are ordered by it (a group comes where its result does)."""
    size: int = 0
    """How many nodes are inside, at any depth (constants are in no group)."""
    depth: int = 0


class GroupTree:
    """The groups of one graph; ``groups[0]`` is the root, ``of_node[i]`` the innermost group
    of node ``i`` (-1 for a constant)."""

    def __init__(self, graph: Graph, groups: list[Group], of_node: list[int]):
        self.graph, self.groups, self.of_node = graph, groups, of_node
        self.by_id = {group.id: index for index, group in enumerate(groups)}
        self._chains: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.groups)

    def find(self, group_id: str) -> int:
        """The index of the group called ``group_id``; a `KeyError` names it when there is none."""
        try:
            return self.by_id[group_id]
        except KeyError:
            raise KeyError(f"no group named {group_id!r}") from None

    def chain(self, index: int) -> tuple[int, ...]:
        """The group ``index`` and its ancestors, root first."""
        chain = self._chains.get(index)
        if chain is None:
            group = self.groups[index]
            chain = (*self.chain(group.parent), index) if group.parent >= 0 else (index,)
            self._chains[index] = chain
        return chain

    def items(self, index: int) -> list[tuple[str, int]]:
        """A group's children in evaluation order (a group where its last node is):
        ``("g", group)`` and ``("n", node)`` pairs."""
        return _items(self.groups, index)

    def short(self, node: int, name: str | None = None) -> str:
        """A node's name (or ``name``, when given) without the dotted prefix of node
        ``node``'s declared group: the frame around the node says that."""
        full = self.graph.nodes[node].name
        prefix = full[:len(full) - len(_short(self.graph, self.groups, self.of_node[node], node))]
        name = full if name is None else name
        return name[len(prefix):] if prefix and name.startswith(prefix) else name


def group_tree(graph: Graph) -> GroupTree:
    """The group tree of ``graph`` (cached on the graph: it is a pure function of the names)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"group_tree needs a Graph, not {type(graph).__name__}")
    cached = graph._cache.get("groups")
    if cached is None:
        cached = graph._cache["groups"] = _Builder(graph).tree()
    return cached


class _Builder:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.groups = [Group("", "", "root", -1)]
        self.ids = {"": 0}
        self.of_node = [-1] * len(graph)

    def add(self, group_id: str, label: str, kind: str, parent: int) -> int:
        unique, count = group_id, 1
        while unique in self.ids:
            count += 1
            unique = f"{group_id} #{count}"
        self.groups.append(Group(unique, label, kind, parent))
        self.ids[unique] = len(self.groups) - 1
        self.groups[parent].groups.append(len(self.groups) - 1)
        return len(self.groups) - 1

    def tree(self) -> GroupTree:
        self.declared()
        self.statements()
        self.neurons()
        self.adopt_inputs()
        self.terms()
        for group in self.groups:
            group.nodes = []
        for node, owner in enumerate(self.of_node):
            if owner >= 0:
                self.groups[owner].nodes.append(node)
        self.measure()
        work = [0]
        while work:
            index = work.pop()
            work.extend(self.bundle(index))
            work.extend(g for g in self.groups[index].groups
                        if self.groups[g].kind not in ("series", "block"))
        self.measure()
        return GroupTree(self.graph, self.groups, self.of_node)

    def declared(self) -> None:
        for position, node in enumerate(self.graph.nodes):
            if node.op == CONST:
                continue
            parts = node.name.split(".")
            owner = 0
            if len(parts) > 1 and all(parts):
                for depth in range(1, len(parts)):
                    group_id = ".".join(parts[:depth])
                    found = self.ids.get(group_id)
                    if found is None or self.groups[found].kind != "declared":
                        found = self.add(group_id, parts[depth - 1], "declared", owner)
                    owner = found
            self.of_node[position] = owner

    def statements(self) -> None:
        """Runs of unnamed operations and the named operation that ends them."""
        run: list[int] = []  # unnamed operations in one group, or in none (a formula's z1, z2, ...)
        for position, node in enumerate(self.graph.nodes):
            if node.op in (INPUT, CONST):
                continue
            owner = self.of_node[position]
            if run and self.of_node[run[0]] not in (0, owner):
                run = []
            if _AUTO.fullmatch(node.name.rpartition(".")[2]):
                run.append(position)
                continue
            if run:
                statement = self.add(node.name, node.name.rpartition(".")[2], "statement", owner)
                for member in (*run, position):
                    self.of_node[member] = statement
            run = []

    def neurons(self) -> None:
        graph = self.graph
        args = graph.arg_indices
        readers = [0] * len(graph)
        for node_args in args:
            for arg in node_args:
                readers[arg] += 1
        members_of = [0] * len(self.groups)
        for owner in self.of_node:
            members_of[owner] += owner >= 0
        for position, node in enumerate(graph.nodes):
            if node.op not in ACTIVATIONS:
                continue
            owner, members, products = self.of_node[position], [position], 0
            stack = list(args[position])
            while stack:
                arg = stack.pop()
                arg_node = graph.nodes[arg]
                if readers[arg] != 1 or self.of_node[arg] != owner or arg_node.op not in _SUMS:
                    continue
                members.append(arg)
                if arg_node.op == "mul":
                    products += 1
                else:
                    stack.extend(args[arg])
            group = self.groups[owner]
            whole = group.kind == "statement" and members_of[owner] == len(members)
            if products and len(members) > 2 and not whole:
                neuron = self.add(node.name, "neuron " + node.name.rpartition(".")[2], "neuron", owner)
                for member in members:
                    self.of_node[member] = neuron

    def adopt_inputs(self) -> None:
        """An input in no declared group that only one statement or neuron reads belongs to
        it (a sample's data belongs to the sample's statement)."""
        readers: dict[int, set[int]] = {}
        for target, args in enumerate(self.graph.arg_indices):
            for source in args:
                if self.of_node[source] == 0 and self.graph.nodes[source].op == INPUT:
                    readers.setdefault(source, set()).add(self.of_node[target])
        for source, owners in readers.items():
            owner = owners.pop()
            if not owners and self.groups[owner].kind in ("statement", "neuron"):
                self.of_node[source] = owner

    def terms(self) -> None:
        """In a statement of more than `MOST_CHILDREN` nodes that is a long sum, each term's
        own sub-formula (what only it reads) becomes a *term* group and the adds (the
        statement's result among them, when it is the last add) a *sum* group, so that
        alike terms, in a row, can become a series (``tanh(w[0-24], x)``)."""
        graph, args = self.graph, self.graph.arg_indices
        reader = [-1] * len(graph)  # the one reader of a node read once, else -1 (-2: several)
        for target, node_args in enumerate(args):
            for source in node_args:
                reader[source] = target if reader[source] == -1 else -2
        members: dict[int, list[int]] = {}
        for position, owner in enumerate(self.of_node):
            if owner > 0 and self.groups[owner].kind == "statement":
                members.setdefault(owner, []).append(position)
        children = [0] * len(self.groups)
        for group in self.groups[1:]:
            children[group.parent] += 1
        for owner, nodes in members.items():
            if len(nodes) + children[owner] <= MOST_CHILDREN:
                continue
            inside = set(nodes)
            adds = {n for n in nodes if graph.nodes[n].op in ("add", "sub")}
            spine: set[int] = set()
            for top in adds:
                if reader[top] in adds:
                    continue
                found, stack = set(), [top]
                while stack:
                    node = stack.pop()
                    found.add(node)
                    stack.extend(a for a in args[node] if a in adds and reader[a] == node)
                spine = max(spine, found, key=len)
            terms, found_terms = [], 0
            for root in sorted({a for s in spine for a in args[s]} - spine):
                holder = self.of_node[root]
                if holder > 0 and (self.groups[holder].kind, self.groups[holder].parent) == ("neuron", owner):
                    found_terms += 1  # a neuron is a term already
                if root not in inside or graph.nodes[root].op == INPUT:
                    continue
                term, stack = [], [root]
                while stack:
                    node = stack.pop()
                    term.append(node)
                    stack.extend(a for a in args[node] if a in inside and reader[a] == node)
                if len(term) > 1:
                    terms.append((root, sorted(term)))
            if len(terms) + found_terms < 3 or len(spine) < 3:
                continue
            statement_id = self.groups[owner].id
            for root, term in terms:
                label = self._term_label(root, term)
                made = self.add(f"{statement_id}.{graph.nodes[root].name}", label, "term", owner)
                for member in term:
                    self.of_node[member] = made
            made = self.add(f"{statement_id}.sum", "sum", "sum", owner)
            for member in spine:
                self.of_node[member] = made

    def _term_label(self, root: int, term: list[int]) -> str:
        """``tanh(w3, x)``: a term's last operation and the inputs it reads (at most 3)."""
        graph, inside = self.graph, set(term)
        read = dict.fromkeys(a for n in term for a in graph.arg_indices[n]
                             if a not in inside or graph.nodes[a].op == INPUT)
        names = [graph.nodes[a].name for a in read if graph.nodes[a].op == INPUT]
        more = ", ..." if len(names) > 3 else ""
        return f"{graph.nodes[root].op}({', '.join(names[:3])}{more})"

    def bundle(self, index: int) -> list[int]:
        """Bundle a group's children when there are too many; return the new groups."""
        items = _items(self.groups, index)
        if len(items) <= MOST_CHILDREN:
            return []
        made = []
        merged: list[tuple[str, int]] = []
        start = 0
        while start < len(items):  # runs of alike groups become a series
            end = start + 1
            key = self.likeness(items[start])
            while key is not None and end < len(items) and self.likeness(items[end]) == key:
                end += 1
            if end - start >= 3 and end - start < len(items):  # all of them: that is this group
                run = items[start:end]
                made.append(self.wrap(index, run, "series"))
                merged.append(("g", made[-1]))
            else:
                merged.extend(items[start:end])
            start = end
        if len(merged) > MOST_CHILDREN:
            per = max(-(-len(merged) // MOST_CHILDREN), math.isqrt(len(merged) - 1) + 1)  # ~√n blocks of √n
            for start in range(0, len(merged), per):
                chunk = merged[start:start + per]
                if len(chunk) > 1:
                    made.append(self.wrap(index, chunk, "block"))
        return made

    def likeness(self, item: tuple[str, int]) -> tuple[object, ...] | None:
        kind, index = item
        if kind != "g":
            return None
        group = self.groups[index]
        return group.kind, group.size, re.sub("[0-9]+", "#", group.label)

    def wrap(self, parent: int, items: list[tuple[str, int]], kind: str) -> int:
        """A new group under ``parent`` holding ``items`` (moved out of ``parent``)."""
        labels = [self.groups[i].label if k == "g" else _short(self.graph, self.groups, parent, i)
                  for k, i in items]
        label = _range_label(labels)
        prefix = self.groups[parent].id + "." if parent > 0 else ""
        made = self.add(prefix + label, label, kind, parent)
        holder = self.groups[parent]
        moved = {i for k, i in items if k == "g"}
        moved_nodes = {i for k, i in items if k == "n"}
        holder.groups = [g for g in holder.groups if g not in moved]
        if moved_nodes:
            holder.nodes = [n for n in holder.nodes if n not in moved_nodes]
        for k, i in items:
            if k == "g":
                self.groups[i].parent = made
                self.groups[made].groups.append(i)
            else:
                self.groups[made].nodes.append(i)
                self.of_node[i] = made
        sizes = [self.groups[i].size if k == "g" else 1 for k, i in items]
        firsts = [self.groups[i].first if k == "g" else i for k, i in items]
        lasts = [self.groups[i].last if k == "g" else i for k, i in items]
        group = self.groups[made]
        group.size, group.first, group.last = sum(sizes), min(firsts), max(lasts)
        return made

    def measure(self) -> None:
        """Size, first and last node, and depth of every group (iterative, children first)."""
        order, stack = [], [0]
        while stack:
            index = stack.pop()
            order.append(index)
            for child in self.groups[index].groups:
                self.groups[child].depth = self.groups[index].depth + 1
                stack.append(child)
        for index in reversed(order):
            group = self.groups[index]
            children = [self.groups[g] for g in group.groups]
            group.size = len(group.nodes) + sum(child.size for child in children)
            firsts = group.nodes[:1] + [child.first for child in children]  # nodes are in order
            lasts = group.nodes[-1:] + [child.last for child in children]
            group.first, group.last = min(firsts, default=0), max(lasts, default=0)


def _short(graph: Graph, groups: list[Group], owner: int, node: int) -> str:
    name = graph.nodes[node].name
    while owner > 0 and groups[owner].kind != "declared":
        owner = groups[owner].parent
    prefix = groups[owner].id + "." if owner > 0 else ""
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def _items(groups: list[Group], index: int) -> list[tuple[str, int]]:
    group = groups[index]
    keyed = [(groups[g].last, "g", g) for g in group.groups] + [(n, "n", n) for n in group.nodes]
    return [(kind, item) for _, kind, item in sorted(keyed)]


def _range_label(labels: list[str]) -> str:
    """``sample[0-99]`` for numbered names with one stem (or one number that varies, as in
    ``tanh(w[0-9], x)``), else ``first..last``.

    >>> _range_label(["sample0", "sample1", "sample2"]), _range_label(["x", "z3"])
    ('sample[0-2]', 'x..z3')
    >>> _range_label(["tanh(w0, x1)", "tanh(w1, x1)", "tanh(w9, x1)"])
    'tanh(w[0-9], x1)'
    """
    parts = [re.split("([0-9]+)", label) for label in labels]
    if len({len(p) for p in parts}) == 1 and len(parts[0]) > 1:
        varies = [k for k in range(len(parts[0])) if len({p[k] for p in parts}) > 1]
        if len(varies) == 1 and varies[0] % 2 == 1:
            k = varies[0]
            return "".join([*parts[0][:k], f"[{parts[0][k]}-{parts[-1][k]}]", *parts[0][k + 1:]])
    matches = [_SERIES.fullmatch(label) for label in labels]
    if all(matches) and len({m.group(1) for m in matches}) == 1:  # type: ignore[union-attr]
        numbers = [m.group(2) for m in matches]  # type: ignore[union-attr]
        return f"{matches[0].group(1)}[{numbers[0]}-{numbers[-1]}]"  # type: ignore[union-attr]
    return f"{labels[0]}..{labels[-1]}"
