"""The layout of kiosk_app and who imports whom (issue #15).

Every import of the project's own packages is read from the source with :mod:`ast` (module level and
inside functions alike: an import done lazily inside a subcommand still ties the two modules), so
the checks hold without importing anything.

- ``onestop.cli`` imports the terminals' command-line modules (``kiosk_app.*.cli``); nothing they
  import, directly or not, may import ``onestop.cli`` back (a cycle).
- Each terminal is a package of its own: no module of kiosk_app is told apart by a ``rating_``
  prefix, and there is no loose module beside the packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: First-party packages whose imports make the graph (a cycle may pass through any of them).
PACKAGES = (
    "onestop",
    "kiosk_app",
    "queue_controller",
    "hub_api",
    "device_drivers",
    "display_agents",
    "provisioning",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported(tree: ast.AST, here: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules a module's code imports (anywhere in it)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a.b import c``: the module a.b.c when it is one, else a.b
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # ``import a.b.c`` where only a.b is ours
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    known = set(modules)
    return {
        name: imported(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
        - {name}
        for name, path in modules.items()
    }


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str | None]:
    """Every module ``start`` imports, directly or not, with the module that imports it (a path)."""
    seen: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        here = todo.pop()
        for nxt in sorted(graph.get(here, ())):
            if nxt not in seen:
                seen[nxt] = here
                todo.append(nxt)
    return seen


def path_to(seen: dict[str, str | None], end: str) -> list[str]:
    out = [end]
    while (prev := seen[out[-1]]) is not None:
        out.append(prev)
    return out[::-1]


def cycles_through(graph: dict[str, set[str]], a: str, others: Iterable[str]) -> list[str]:
    """The import cycles between ``a`` and each of ``others``, written out as paths."""
    from_a = reachable(graph, a)
    found = []
    for b in others:
        from_b = reachable(graph, b)
        if b in from_a and a in from_b:
            found.append(" -> ".join(path_to(from_a, b) + path_to(from_b, a)[1:]))
    return found


def app_clis(modules: Iterable[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith("kiosk_app.") and m.endswith(".cli"))


def test_onestop_cli_and_the_terminals_command_lines_import_no_cycle() -> None:
    modules = project_modules()
    clis = app_clis(modules)
    assert {"kiosk_app.ticket_kiosk.cli", "kiosk_app.rating.cli"} <= set(clis)
    graph = import_graph(modules)
    # onestop.cli does start them (the check below would be empty otherwise)
    assert set(clis) <= set(reachable(graph, "onestop.cli"))
    assert cycles_through(graph, "onestop.cli", clis) == []


def test_the_cycle_check_sees_a_lazy_import_back(tmp_path: Path) -> None:
    """The check can fail: a command-line module that imports onestop.cli inside a function."""
    modules = project_modules()
    graph = import_graph(modules)
    src = "def run():\n    from onestop.cli import load_config\n    return load_config\n"
    graph["kiosk_app.rating.cli"] = imported(ast.parse(src), "kiosk_app.rating.cli", False, set(modules))
    assert cycles_through(graph, "onestop.cli", ["kiosk_app.rating.cli"]) == [
        "onestop.cli -> kiosk_app.rating.cli -> onestop.cli"
    ]


@pytest.mark.parametrize(
    ("src", "here", "is_package", "expected"),
    [
        ("from kiosk_app.rating import cli as c", "onestop.cli", False, {"kiosk_app.rating.cli"}),
        ("import kiosk_app.shell.panel", "x.y", False, {"kiosk_app.shell.panel"}),
        ("from kiosk_app.shell.words import Words", "x.y", False, {"kiosk_app.shell.words"}),
        ("from . import viewmodel", "kiosk_app.rating.cli", False, {"kiosk_app.rating.viewmodel"}),
        ("from .viewmodel import X", "kiosk_app.rating", True, {"kiosk_app.rating.viewmodel"}),
    ],
)
def test_imports_are_resolved_to_modules(src: str, here: str, is_package: bool, expected: set[str]) -> None:
    assert imported(ast.parse(src), here, is_package, set(project_modules())) == expected


def test_each_terminal_is_a_package_and_no_module_has_a_rating_prefix() -> None:
    kiosk = ROOT / "kiosk_app"
    prefixed = [
        str(p.relative_to(ROOT))
        for p in kiosk.rglob("*")
        if p.name.startswith("rating_") and "__pycache__" not in p.parts
    ]
    assert prefixed == []
    loose = sorted(p.name for p in kiosk.glob("*.py") if p.name != "__init__.py")
    assert loose == [], "kiosk_app holds packages only (shell, ticket_kiosk, rating)"
    for pkg in ("shell", "ticket_kiosk", "rating"):
        init = kiosk / pkg / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(ROOT)}: say what the package holds"


def test_the_shell_knows_neither_terminal() -> None:
    """The shared shell imports nothing of the ticket kiosk or the rating terminal."""
    modules = project_modules()
    graph = import_graph(modules)
    shell = [m for m in modules if m.startswith("kiosk_app.shell")]
    leaks = {
        m: sorted(n for n in graph[m] if n.startswith(("kiosk_app.ticket_kiosk", "kiosk_app.rating")))
        for m in shell
    }
    assert {m: v for m, v in leaks.items() if v} == {}
