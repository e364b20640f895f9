"""The package's import graph: no cycles, no reaching into another module's underscored names, retok below hypernet.

Parsed from the source with ``ast`` (nothing is imported), so the test also covers modules whose
optional dependencies are missing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("retok", "hypernet")


def modules() -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (path, is_package)}`` for every module of the packages that exist."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports(known: dict[str, tuple[Path, bool]]) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the modules it imports, and the findings about underscored names."""
    edges: dict[str, set[str]] = {m: set() for m in known}
    private: list[str] = []
    for module, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> the module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in known:
                        edges[module].add(a.name)
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom):
                target = absolute(module, is_package, node.level, node.module)
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in known:
                        edges[module].add(sub)
                        aliases[a.asname or a.name] = sub
                    elif target in known:
                        edges[module].add(target)
                        if a.name.startswith("_") and not a.name.startswith("__") and target != module:
                            private.append(f"{module} imports {a.name} from {target}")
        for node in ast.walk(tree):  # `assets._find_spec(...)`: reaching in through a module object
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                if node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != module:
                    private.append(f"{module} uses {aliases[node.value.id]}.{node.attr}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (a package importing its own submodules is not one)."""
    def related(a: str, b: str) -> bool:
        return b.startswith(a + ".") or a.startswith(b + ".")

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if related(v, w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_there_is_no_import_cycle():
    edges, _ = imports(modules())
    assert cycles(edges) == []


def test_no_module_uses_another_modules_underscored_names():
    _, private = imports(modules())
    assert private == []


def test_retok_mentions_hypernet_only_as_a_lazy_registry_string():
    edges, _ = imports(modules())
    assert not [m for m, targets in edges.items() if m.startswith("retok") and any(t.startswith("hypernet") for t in targets)]
    # "hypernet" may be a method or predictor *name* (an option value); the *package* may only be named
    # as the target string of a lazy registry entry, never imported or reached by a module path.
    module_path = re.compile(r"""(import\s+hypernet|from\s+hypernet|["']hypernet[.:]|importlib\.import_module\(\s*["']hypernet)""")
    mentions = [
        (path.relative_to(ROOT).as_posix(), line.strip())
        for path in sorted((ROOT / "retok").rglob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if module_path.search(line)
    ]
    lazy = re.compile(r"""register_lazy\(\s*["']hypernet["']\s*,\s*["']hypernet[.:]""")
    assert mentions and all(lazy.search(line) for _, line in mentions), mentions


def test_the_checker_sees_a_cycle_and_a_private_import():
    edges = {"p.a": {"p.b"}, "p.b": {"p.a"}, "p": {"p.a"}}
    assert cycles(edges) == [["p.a", "p.b"]]
