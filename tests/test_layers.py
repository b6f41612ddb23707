"""The house's rule, checked: every module of chalicelib/ sits in one layer of
docs/architecture.md's table and imports only from its own layer or those below it; no
module of chalicelib/, bench/ or local/ is part of an import cycle (function-level
imports included); and none is over 800 lines.

The table in docs/architecture.md is the one declaration of the layers: this test reads
it, so the page cannot drift from the code."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chalicelib", "bench", "local")
MAX_LINES = 800


def modules() -> dict[str, Path]:
    found = {f"{package}.{path.stem}": path for package in PACKAGES
             for path in sorted((ROOT / package).glob("*.py")) if path.stem != "__init__"}
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(name.split(".")[:-node.level] + ([base] if base else []))
            for alias in node.names:
                for candidate in (f"{base}.{alias.name}", base):
                    if candidate in known:
                        found.add(candidate)
                        break
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def layers() -> dict[str, int]:
    """docs/architecture.md's table: ``| <layer number> | `chalicelib.<module>` | ... |``."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`(chalicelib\.[a-z_]+)`\s*\|", text, flags=re.M)
    assert rows, "docs/architecture.md has no layer table"
    return {module: int(layer) for layer, module in rows}


def test_every_chalicelib_module_has_one_layer_in_the_architecture_page():
    table = layers()
    present = {name for name in modules() if name.startswith("chalicelib.")}
    assert sorted(present - set(table)) == [], "modules missing from docs/architecture.md's table"
    assert sorted(set(table) - present) == [], "docs/architecture.md names modules that do not exist"


def test_no_chalicelib_module_imports_from_a_layer_above_its_own():
    table, edges = layers(), graph()
    upward = sorted(f"{a} (layer {table[a]}) imports {b} (layer {table[b]})"
                    for a, targets in edges.items() if a in table
                    for b in targets if b in table and table[b] > table[a])
    assert upward == []


def test_no_import_cycle_anywhere():
    edges = graph()
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_module_fits_on_a_few_screens_and_says_what_it_is_for(name):
    path = modules()[name]
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_LINES, f"{path.relative_to(ROOT)} is over {MAX_LINES} lines"
    assert ast.get_docstring(ast.parse(source)), f"{path.relative_to(ROOT)} has no docstring"


def test_the_graph_holds_top_level_and_function_level_imports(tmp_path):
    # The check is only as good as the graph: an import inside a function counts as much
    # as one at the top, relative ones included.
    module = tmp_path / "m.py"
    module.write_text("from chalicelib.records import Event\n\n\ndef f():\n    from . import loop\n"
                      "    import chalicelib.planner\n")
    known = {"chalicelib.records", "chalicelib.loop", "chalicelib.planner", "chalicelib.m"}
    assert imports("chalicelib.m", module, known) == {"chalicelib.records", "chalicelib.loop", "chalicelib.planner"}


# Names that code outside the project (scripts, notebooks, a batch job's own checks) may
# import from where they lived before the modules were split: each still answers there.
OLD_HOMES = {
    "chalicelib.api": ["Api", "LeaseRefused", "RequestError", "http_errors", "new_config", "parse_body", "view",
                       "query_int", "schedule_cost", "MAX_ACTIVE_LEASES", "MAX_PAGE", "utcnow"],
    "chalicelib.store": ["Store", "MemoryStore", "DynamoStore", "StateConflict", "ModelNotFound",
                         "ModelAlreadyExists", "DUE_SHARDS", "create_table"],
    "chalicelib.planner": ["READY", "NOT_READY", "THROTTLED", "TRANSIENT", "FATAL", "MODEL_ERROR", "CallResult",
                           "COLD_ANSWER_FLOOR_SECONDS", "COLD_ANSWER_FACTOR", "apply_outcome", "next_call"],
    "chalicelib.probe": ["Probe", "Step", "RUNNING", "DONE", "ABORTED", "LOAD", "SAMPLE", "GAP", "FINAL"],
    "chalicelib.costs": ["BILLING_WINDOW", "ready_check", "price_for", "estimate", "CostError"],
    "local.simulator": ["Simulator", "ManualClock", "SimulatorServer", "main"],
    "bench.simulate": ["simulate", "load_scenario", "parse_scenario", "Scenario", "run_keepwarm", "run_cron",
                       "bench_settings", "KEEPWARM", "main"],
}


@pytest.mark.parametrize("module", sorted(OLD_HOMES))
def test_names_still_answer_where_they_lived_before_the_split(module):
    import importlib

    loaded = importlib.import_module(module)
    assert [name for name in OLD_HOMES[module] if not hasattr(loaded, name)] == []
