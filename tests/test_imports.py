"""The import graph of mri_gan, imports inside functions included, has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mri_gan"


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package's name for its __init__.py)."""
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """Modules of ``modules`` that the module ``name`` imports anywhere in its body."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = module_names(root)
    return {name: imported(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", set(files))
            for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_mri_gan_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 50 and "mri_gan.cli" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize("files, expected", [
    # an import inside a function closes the cycle
    ({"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n",
      "pkg/b.py": "def f():\n    from pkg.a import x\n"}, ["pkg.a", "pkg.b", "pkg.a"]),
    # `from pkg import mod` and a relative import
    ({"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n",
      "pkg/b.py": "from . import c\n", "pkg/c.py": "from .a import x\n"}, ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]),
    # through a package's __init__
    ({"pkg/__init__.py": "", "pkg/sub/__init__.py": "from pkg.sub import a\n",
      "pkg/sub/a.py": "from pkg.top import f\n", "pkg/top.py": "from pkg.sub import COMMANDS\n"},
     ["pkg.sub", "pkg.sub.a", "pkg.top", "pkg.sub"]),
])
def test_a_cycle_is_found(tmp_path, files, expected):
    assert find_cycle(import_graph(write(tmp_path, files))) == expected


def test_one_way_imports_are_no_cycle(tmp_path):
    root = write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "import os\nfrom pkg import b\n",
                            "pkg/b.py": "def f():\n    from pkg.c import g\n", "pkg/c.py": "import numpy\n"})
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == set()
    assert find_cycle(graph) is None
