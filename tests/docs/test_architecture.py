"""docs/architecture.md's room table holds the package's imports, so the two cannot drift.

The table lists the rooms (a module, or a folder of modules) from the lowest to the
highest, each with what it may import: rooms above it in the table and third-party
packages (the standard library always).  Every import of every module counts:
module-level, ``TYPE_CHECKING`` and imports inside functions (a lazy import is still
a dependency).  Import cycles are counted on module-level and ``TYPE_CHECKING``
imports, which are the ones a reader follows.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "asyncsagemaker"
DOC = ROOT / "docs" / "architecture.md"
NAME = "asyncsagemaker"


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (a module of ours, or a third-party top-level name)."""

    source: str
    target: str
    line: int
    top_level: bool  # module level or TYPE_CHECKING, not inside a function
    ours: bool


@dataclass(frozen=True)
class Room:
    name: str  # as the table writes it: "errors", "formats/", "__init__"
    position: int
    rooms: frozenset[str]  # the rooms it may import (in backticks in the table)
    packages: frozenset[str]  # the third-party packages it may import


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(known: Mapping[str, Path], name: str) -> str:
    """The module ``name`` names, or the package that holds the attribute it names."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def edges_of(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[Edge]:
    """Every import in ``path``, as edges from ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, top_level: bool) -> Iterator[Edge]:
        for child in ast.iter_child_nodes(node):
            inner = top_level and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, ast.ImportFrom):
                yield from from_import(child, inner)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield edge(alias.name, child.lineno, inner)
            yield from visit(child, inner)

    def from_import(node: ast.ImportFrom, top_level: bool) -> Iterator[Edge]:
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        if target == NAME or target.startswith(NAME + "."):
            for alias in node.names:  # `from . import batch` names a module
                yield edge(f"{target}.{alias.name}", node.lineno, top_level)
        else:
            yield edge(target, node.lineno, top_level)

    def edge(target: str, line: int, top_level: bool) -> Edge:
        ours = target == NAME or target.startswith(NAME + ".")
        resolved = _resolve(known, target) if ours else target.partition(".")[0]
        return Edge(module, resolved, line, top_level, ours)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), True)


def all_edges() -> list[Edge]:
    known = modules()
    return [
        edge
        for module, path in known.items()
        for edge in edges_of(module, path, known)
        if edge.target != module and edge.target != "__future__"
    ]


_ROW = re.compile(r"^\|\s*(?P<rooms>`[^|]+)\|(?P<job>[^|]*)\|(?P<imports>[^|]*)\|\s*$")


def rooms_of(doc: str) -> dict[str, Room]:
    """The room table of ``doc``: every row whose first cell names rooms in backticks."""
    section = doc.split("## Rooms", 1)[1].split("\n## ", 1)[0]
    rooms: dict[str, Room] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        names = re.findall(r"`([^`]+)`", match["rooms"])
        allowed = re.sub(r"\([^)]*\)", "", match["imports"])  # a note in brackets
        items = [item.strip() for item in allowed.split(",") if item.strip()]
        in_rooms = frozenset(item.strip("`") for item in items if item.startswith("`"))
        packages = frozenset(item for item in items if not item.startswith("`")) - {"stdlib"}
        for name in names:
            rooms[name] = Room(name, len(rooms), in_rooms, packages)
    return rooms


def room_of(module: str, rooms: Mapping[str, Room]) -> str | None:
    """The room a module of the package lives in (a folder's room holds all below it)."""
    if module == NAME:
        return "__init__" if "__init__" in rooms else None
    parts = module.split(".")[1:]
    for depth in range(len(parts), 0, -1):
        here = ".".join(parts[:depth])
        folder = "/".join(parts[:depth]) + "/"
        if depth == len(parts) and here in rooms:
            return here
        if folder in rooms:
            return folder
    return None


def violations(edges: list[Edge], rooms: Mapping[str, Room]) -> list[str]:
    """Each import the table does not allow, in words."""
    found = []
    for edge in edges:
        source = room_of(edge.source, rooms)
        if source is None:
            found.append(f"{edge.source} is in no room of the table")
            continue
        if not edge.ours:
            if edge.target in sys.stdlib_module_names or edge.target in rooms[source].packages:
                continue
            found.append(f"{edge.source}:{edge.line} imports {edge.target}, not allowed")
            continue
        target = room_of(edge.target, rooms)
        if target is None or target == source:
            continue
        if target not in rooms[source].rooms:
            found.append(
                f"{edge.source}:{edge.line} imports {edge.target} (room {target}), "
                f"which room {source} may not import"
            )
    return found


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Import cycles among modules (module-level and TYPE_CHECKING imports)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.ours and edge.top_level:
            graph.setdefault(edge.source, set()).add(edge.target)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for following in sorted(graph.get(node, ())):
            if state.get(following) == 1:
                found.append([*path[path.index(following) :], following])
            elif following not in state:
                visit(following, [*path, following])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


ROOMS = rooms_of(DOC.read_text(encoding="utf-8"))
EDGES = all_edges()


def test_the_table_names_rooms_lowest_first_and_each_imports_only_rooms_below_it() -> None:
    assert len(ROOMS) >= 20, "the room table of docs/architecture.md was not found"
    for room in ROOMS.values():
        assert room.rooms <= ROOMS.keys(), f"{room.name} names rooms the table lacks"
        for allowed in room.rooms:
            assert ROOMS[allowed].position < room.position, (
                f"{room.name} may import {allowed}, which is not above it in the table"
            )


def test_every_module_lives_in_a_room_and_imports_only_what_its_room_may() -> None:
    assert violations(EDGES, ROOMS) == []


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(EDGES) == []


def test_every_room_of_the_table_exists() -> None:
    """A room removed from the code leaves the table too."""
    homes = {room_of(module, ROOMS) for module in modules()}
    assert set(ROOMS) - homes == set()


@pytest.mark.parametrize(
    ("source", "target", "why"),
    [
        ("asyncsagemaker.eventstream", "asyncsagemaker._client", "upward"),
        ("asyncsagemaker.formats._decoder", "asyncsagemaker._transports.http1", "upward"),
        ("asyncsagemaker._bidi.call", "asyncsagemaker._client", "upward"),
        ("asyncsagemaker._stream", "aiohttp", "a library its room may not use"),
    ],
)
def test_the_checks_see_a_forbidden_import(source: str, target: str, why: str) -> None:
    """The checks are not vacuous: an import the table forbids is reported."""
    ours = target.startswith(NAME)
    added = Edge(source, target, 1, True, ours)
    assert violations([*EDGES, added], ROOMS) != [], why


def test_the_checks_see_a_cycle() -> None:
    added = Edge("asyncsagemaker._deadline", "asyncsagemaker._transports.base", 1, True, True)
    assert cycles([*EDGES, added]) != []
