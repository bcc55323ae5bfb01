"""Package structure: every module has a layer (:data:`LAYERS`, read from the layer map in
docs/ARCHITECTURE.md), imports flow down, no two
modules import each other, even through others, and numpy-only modules do not start MXNet.

An import inside a function, or under ``if TYPE_CHECKING:``, counts as much as one at the top
of a file: it is still a dependency of the design.
"""
import ast
import os
import re
import subprocess
import sys
from typing import Dict, List, Set, Tuple

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


ARCHITECTURE = os.path.join(ROOT, "docs", "ARCHITECTURE.md")


def read_layers(path: str = ARCHITECTURE) -> List[Tuple[str, List[str]]]:
    """The layer map, bottom first, from the table under "## Layers" in docs/ARCHITECTURE.md:
    ``(layer, [module prefixes])`` per row, the prefixes being the row's backticked names. A
    prefix names a module and everything under it."""
    with open(path, encoding="utf-8") as f:
        section = f.read().split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines()
            if line.startswith("|") and "`" in line.split("|")[2]]
    return [(name.strip(), re.findall(r"`([\w.]+)`", modules)) for name, modules in rows][::-1]


LAYERS = read_layers()
# Peers in one layer that must stay apart: the data pipeline and the networks.
APART = [("data", "models")]


def _short(module: str) -> str:
    return module[len("lotr_gluon."):] if module != "lotr_gluon" else module


def _owner(module: str, prefixes) -> str:
    """The longest prefix of ``prefixes`` that names ``module`` or a package above it."""
    name = _short(module)
    found = [p for p in prefixes if name == p or name.startswith(p + ".")]
    return max(found, key=len) if found else ""


def _layer_of(module: str) -> int:
    prefixes = {p: i for i, (_, members) in enumerate(LAYERS) for p in members}
    owner = _owner(module, prefixes)
    return prefixes[owner] if owner else -1


def _module_graph() -> Dict[str, Set[str]]:
    """module -> the package modules it imports, anywhere in its file."""
    modules = _modules()
    graph: Dict[str, Set[str]] = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        graph[module] = {target for node in _imports(tree)
                         for target in _targets(module, path, node, modules)}
    return graph


def _cycle(graph) -> List[str]:
    """One cycle as a path (first == last), or [] when the graph is acyclic."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if state.get(other) == 1:
                return stack[stack.index(other):] + [other]
            if other not in state:
                found = visit(other)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_cycle_finder_finds_a_hand_made_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a"}}) == []


def test_the_layer_lookup_takes_the_longest_prefix():
    assert _owner("lotr_gluon.data.dataset", ["data", "data.dataset"]) == "data.dataset"
    assert _owner("lotr_gluon.database", ["data"]) == ""
    assert _layer_of("lotr_gluon.engine.trainer") > _layer_of("lotr_gluon.config")


def test_every_module_has_a_layer():
    missing = sorted(_short(m) for m in _modules() if _layer_of(m) < 0)
    assert not missing, f"modules in no layer of docs/ARCHITECTURE.md's map: {missing}"


def test_the_layer_map_is_read_from_the_architecture_page(tmp_path):
    assert LAYERS[0][0] == "core helpers" and LAYERS[-1] == ("command line", ["cli"])
    page = tmp_path / "ARCHITECTURE.md"
    page.write_text("# A\n\n## Layers\n\n| layer | modules | what |\n|---|---|---|\n"
                    "| top | `cli` | x |\n| bottom | `fileio` `data.align` | y |\n\n"
                    "## Next\n\n| not | `a layer` | z |\n")
    assert read_layers(str(page)) == [("bottom", ["fileio", "data.align"]), ("top", ["cli"])]


def test_no_import_cycle_between_modules():
    cycle = _cycle(_module_graph())
    assert not cycle, "import cycle: " + " -> ".join(_short(m) for m in cycle)


def test_no_module_imports_from_a_higher_layer():
    wrong = [f"{_short(a)} ({LAYERS[_layer_of(a)][0]}) imports {_short(b)} "
             f"({LAYERS[_layer_of(b)][0]})"
             for a, targets in sorted(_module_graph().items()) for b in sorted(targets)
             if _layer_of(b) > _layer_of(a)]
    wrong += [f"{_short(a)} imports {_short(b)}"
              for a, targets in sorted(_module_graph().items()) for b in sorted(targets)
              for one, other in APART + [(y, x) for x, y in APART]
              if _owner(a, [one]) and _owner(b, [other])]
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
