"""Package structure: imports flow one way, and numpy-only modules do not start MXNet.

The layers, top to bottom: tools -> reproduce / benchmark -> deploy -> engine -> config ->
data / models / losses -> core helpers (metrics, flip, heatmap_codec, fileio, viz). An import
inside a function, or under ``if TYPE_CHECKING:``, counts as much as one at the top of a
file: it is still a dependency of the design.
"""
import ast
import os
import subprocess
import sys
from typing import Dict, List, Set

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "lotr_gluon")


def _modules() -> Dict[str, str]:
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], ROOT).replace(os.sep, ".")
                found[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


def _imports(tree: ast.AST):
    """Every import node, wherever it sits."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def _targets(module: str, path: str, node: ast.AST, modules: Dict[str, str]) -> List[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
        if node.level:
            parts = package.split(".")[:len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                 for alias in node.names]
    out = []
    for name in names:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in modules and name != module:
            out.append(name)
    return out


def _unit(module: str) -> str:
    """``lotr_gluon.engine.trainer`` -> ``engine``; ``lotr_gluon.metrics`` -> ``metrics``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def _unit_graph() -> Dict[str, Dict[str, Set[str]]]:
    """unit -> {imported unit: {"module -> module", ...}} over the whole package."""
    modules = _modules()
    graph: Dict[str, Dict[str, Set[str]]] = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in _imports(tree):
            for target in _targets(module, path, node, modules):
                a, b = _unit(module), _unit(target)
                if a != b:
                    graph.setdefault(a, {}).setdefault(b, set()).add(f"{module} -> {target}")
    return graph


def _cycle(graph: Dict[str, Dict[str, Set[str]]]) -> List[str]:
    """One cycle of units as a path (first == last), or [] when the graph is acyclic."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(unit: str) -> List[str]:
        state[unit] = 1
        stack.append(unit)
        for other in sorted(graph.get(unit, {})):
            if state.get(other) == 1:
                return stack[stack.index(other):] + [other]
            if other not in state:
                found = visit(other)
                if found:
                    return found
        stack.pop()
        state[unit] = 2
        return []

    for unit in sorted(graph):
        if unit not in state:
            found = visit(unit)
            if found:
                return found
    return []


def test_the_cycle_finder_finds_a_hand_made_cycle():
    graph = {"a": {"b": {"x"}}, "b": {"c": {"y"}}, "c": {"a": {"z"}}, "d": {"a": {"w"}}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": {"x"}}, "b": {}, "c": {"a": {"y"}}}) == []


def test_no_import_cycle_between_parts_of_the_package():
    graph = _unit_graph()
    cycle = _cycle(graph)
    edges = [sorted(graph[a][b])[0] for a, b in zip(cycle, cycle[1:])]
    assert not cycle, "import cycle " + " -> ".join(cycle) + ": " + "; ".join(edges)


def test_lower_layers_do_not_import_higher_ones():
    graph = _unit_graph()
    forbidden = {
        "engine": {"deploy", "benchmark", "reproduce", "attention"},
        "data": {"engine", "deploy", "config", "models", "model_zoo"},
        "models": {"engine", "deploy", "data", "config", "losses"},
        "losses": {"engine", "deploy", "data", "models", "config"},
        "metrics": {"engine", "deploy", "data", "models", "losses", "config"},
        "flip": {"engine", "deploy", "data", "models", "losses", "config"},
        "heatmap_codec": {"engine", "deploy", "data", "models", "losses", "config"},
        "fileio": {"engine", "deploy", "data", "models", "losses", "config"},
    }
    wrong = [edge for unit, banned in forbidden.items()
             for other, found in graph.get(unit, {}).items() if other in banned
             for edge in sorted(found)]
    assert not wrong, "imports against the layering: " + "; ".join(wrong)


def test_numpy_only_modules_do_not_start_mxnet():
    code = ("import sys; import lotr_gluon.metrics, lotr_gluon.flip, lotr_gluon.heatmap_codec, "
            "lotr_gluon.data.align, lotr_gluon.data.landmarks, lotr_gluon.fileio; "
            "print(sorted(m for m in sys.modules if m == 'mxnet' or m.startswith('mxnet.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    # The config loads neither MXNet nor OpenCV: a tool can check its arguments first.
    code = ("import sys; import lotr_gluon.config; "
            "print(sorted(m for m in ('mxnet', 'cv2') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr
    # The package's API still loads the model zoo on first use.
    code = "import lotr_gluon; print(lotr_gluon.get_model('lotr_m').__class__.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("LOTR"), result.stderr
