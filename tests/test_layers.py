"""The layering of curate, read from the imports (ast): no module imports a floor above its
own, and no modules import each other in a loop. Imports inside functions count too (they
hide loops, they do not remove them); imports under ``if TYPE_CHECKING:`` do not run and
are left out. The floors are declared once, in docs/architecture.md."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curate", "train")


def floors() -> dict[str, int]:
    """``package or module -> floor`` from the ``floors`` block of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```text floors\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```text floors block"
    out: dict[str, int] = {}
    for line in block.group(1).splitlines():
        number, _, names = line.partition(":")
        if number.strip().isdigit():
            for name in names.split("#")[0].split():
                out[name] = int(number)
    return out


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import of our packages in ``path``."""

    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := resolve(alias.name)) is not None:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in known else resolve(base)
                if target is not None:
                    yield target, node.lineno


def floor_of(module: str, table: dict[str, int]) -> int | None:
    """The floor of the longest declared prefix; ``curate.__init__`` is the root module only
    (a new package is not silently put on floor 0)."""
    if module in PACKAGES:
        module = f"{module}.__init__" if f"{module}.__init__" in table else module
    while module:
        if module in table:
            return table[module]
        module = module.rpartition(".")[0]
    return None


def graph() -> dict[str, dict[str, int]]:
    known = modules()
    edges: dict[str, dict[str, int]] = {m: {} for m in known}
    for name, path in known.items():
        for target, line in imports(name, path, known):
            if target != name:
                edges[name].setdefault(target, line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_every_module_sits_on_a_declared_floor() -> None:
    table = floors()
    missing = [m for m in modules() if floor_of(m, table) is None]
    assert not missing, f"place these in the floors of docs/architecture.md: {missing}"


def test_no_module_imports_a_floor_above_its_own() -> None:
    table = floors()
    known = modules()
    upward = []
    for name, targets in graph().items():
        mine = floor_of(name, table)
        for target, line in targets.items():
            theirs = floor_of(target, table)
            if mine is not None and theirs is not None and theirs > mine:
                where = known[name].relative_to(ROOT)
                upward.append(f"{where}:{line}: {name} (floor {mine}) -> {target} ({theirs})")
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_no_import_loops() -> None:
    loops = cycles(graph())
    assert not loops, "modules that import each other (directly or round a loop):\n" + "\n".join(
        " <-> ".join(c) for c in loops
    )


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "curate" and len(parts) > 1 else parts[0]


def test_no_package_loops() -> None:
    edges: dict[str, dict[str, int]] = {}
    for name, targets in graph().items():
        mine = edges.setdefault(package_of(name), {})
        for target, line in targets.items():
            if package_of(target) != package_of(name):
                mine.setdefault(package_of(target), line)
    loops = cycles(edges)
    assert not loops, "packages that import each other:\n" + "\n".join(
        " <-> ".join(c) for c in loops
    )


def test_the_checker_sees_a_lazy_upward_import_and_a_loop(tmp_path: Path) -> None:
    """The reader finds what it must: an import inside a function, a relative import, a
    loop, and it skips TYPE_CHECKING imports."""
    src = tmp_path / "curate"
    (src / "low").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "low" / "__init__.py").write_text("")
    (src / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from curate.high import c\n"
        "def f():\n    from curate.high import b\n"
    )
    (src / "high.py").write_text("from .low import a\n")
    known = {"curate": src / "__init__.py", "curate.low": src / "low" / "__init__.py"}
    known |= {"curate.low.a": src / "low" / "a.py", "curate.high": src / "high.py"}
    found = {n: dict(imports(n, p, known)) for n, p in known.items()}
    assert found["curate.low.a"] == {"curate.high": 5}
    assert found["curate.high"] == {"curate.low.a": 1}
    assert cycles(found) == [["curate.high", "curate.low.a"]]
