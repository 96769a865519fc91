"""Layering is a test: imports point down the layers of docs/architecture.md, no cycles.

Every ``import`` and ``from … import`` counts, wherever it stands: at the top, inside
a function, or under ``if TYPE_CHECKING``. The checker is tried on a planted tree first,
so a rule that stopped catching anything fails here too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layers from the floor up; a module may import its own layer and the ones below.
#: Keep in step with the table in docs/architecture.md (a test below checks it).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core", "core.errors", "core.jsonsafe", "core.csvsafe", "core.outputs"),
    ("core.columns", "core.metrics"),
    ("core.events", "core.trades"),
    ("core.store",),
    ("core.trade_windows", "core.data", "core.analytics"),
    ("core.signals", "core.figures"),
    ("core.lifecycle",),
    ("core.learning", "core.importer"),
    ("core.engines",),
    ("core.backtest",),
    ("core.grid", "core.decisions", "core.reports"),
    ("core.dashboard",),
    ("core.cli",),
    ("app", "pages"),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module ``path`` imports (absolute names, relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            out.add(target)
            # ``from core.analytics import drift`` imports the submodule core.analytics.drift
            out |= {f"{target}.{alias.name}" for alias in node.names}
    return out


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int | None:
    """Index of the most specific layer prefix that owns ``module`` (None: not ours).

    A prefix owns itself and its submodules, except the bare package ``core``,
    which owns only ``core/__init__.py``: a new top-level module must be placed.
    """
    best: tuple[int, int] | None = None
    for index, prefixes in enumerate(layers):
        for prefix in prefixes:
            owns_children = prefix != "core"
            if module == prefix or (owns_children and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return None if best is None else best[0]


def import_graph(root: Path, *, folders: Iterable[str] = ("core", "pages")) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every .py file under ``folders`` and app.py."""
    files = [p for folder in folders for p in sorted((root / folder).rglob("*.py"))]
    if (root / "app.py").exists():
        files.append(root / "app.py")
    modules = {module_name(p, root): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in imported_modules(path, root) if m in modules and m != name}
    return graph


def layer_violations(
    graph: Mapping[str, set[str]], layers: tuple[tuple[str, ...], ...] = LAYERS
) -> list[str]:
    """``"a (layer i) imports b (layer j > i)"`` for every upward import; unplaced modules too."""
    problems = []
    for module, deps in sorted(graph.items()):
        own = layer_of(module, layers)
        if own is None:
            problems.append(f"{module} is in no layer; add it to LAYERS and docs/architecture.md")
            continue
        for dep in sorted(deps):
            other = layer_of(dep, layers)
            if other is not None and other > own:
                problems.append(f"{module} (layer {own}) imports {dep} (layer {other})")
    return problems


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# ----------------------------------------------------------------------------- the checker


def _plant(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_catches_a_planted_upward_import_inside_a_function(tmp_path):
    _plant(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/errors.py": "",
            "core/store/__init__.py": "",
            "core/store/db.py": "def f():\n    from core.backtest import run_backtest\n",
            "core/backtest.py": "from core.store import db\n",
        },
    )
    graph = import_graph(tmp_path, folders=("core",))
    assert graph["core.store.db"] == {"core.backtest"}
    assert layer_violations(graph) == [
        f"core.store.db (layer {layer_of('core.store')}) imports core.backtest "
        f"(layer {layer_of('core.backtest')})"
    ]
    assert cycles(graph) == [["core.backtest", "core.store.db"]]


def test_the_checker_resolves_relative_and_type_checking_imports(tmp_path):
    _plant(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/analytics/__init__.py": "from . import sweep\n",
            "core/analytics/sweep.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from ..dashboard import runs\n"
            ),
            "core/dashboard/__init__.py": "",
            "core/dashboard/runs.py": "",
        },
    )
    graph = import_graph(tmp_path, folders=("core",))
    assert graph["core.analytics"] == {"core.analytics.sweep"}
    assert "core.dashboard.runs" in graph["core.analytics.sweep"]
    assert any("core.analytics.sweep" in p for p in layer_violations(graph))


def test_an_unplaced_module_is_reported(tmp_path):
    _plant(tmp_path, {"core/__init__.py": "", "core/newthing.py": ""})
    assert layer_violations(import_graph(tmp_path, folders=("core",))) == [
        "core.newthing is in no layer; add it to LAYERS and docs/architecture.md"
    ]


# ----------------------------------------------------------------------------- the project


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


def test_imports_point_down_the_layers(graph):
    assert layer_violations(graph) == []


def test_no_import_cycle_in_core(graph):
    assert cycles(graph) == []


def test_core_never_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "core").rglob("*.py")
        if any(m.split(".")[0] == "streamlit" for m in imported_modules(p, ROOT))
    ]
    assert offenders == []


def test_pages_neither_speak_sql_nor_reach_the_database_driver():
    for path in [ROOT / "app.py", *(ROOT / "pages").glob("*.py")]:
        roots = {m.split(".")[0] for m in imported_modules(path, ROOT)}
        assert not {"sqlite3", "sqlite_utils"} & roots, path
        text = path.read_text()
        assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\s", text), path
        assert ".execute(" not in text, path


def test_the_architecture_doc_lists_the_layers_the_test_enforces():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for prefixes in LAYERS:
        for prefix in prefixes:
            shown = prefix.replace(".", "/") if prefix.startswith("core") else prefix
            assert f"`{shown}" in doc, f"{prefix} is enforced but not in docs/architecture.md"
