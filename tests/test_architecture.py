"""Architecture checks (fast): no import cycles, no oversized files, no citations of files
outside the repository, the import-linter contracts of pyproject.toml, and a light
``import setol_theory.cli``.

The import graph comes from grimp (installed with import-linter, in the ``test`` extra). It
counts every import statement, including imports inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("setol_theory", "simulations")
MAX_LINES = 800
SIZE_CHECKED_DIRS = ("setol_theory", "simulations", "derivations", "benchmarks")
HEAVY_MODULES = ("torch", "dask", "sympy", "matplotlib", "scipy", "numba", "mpmath")

# Citations of files that are not in this repository (spec sections, appendices). The first
# alternative is split in two so that this file does not match its own pattern.
EXTERNAL_REFERENCE = re.compile(
    "shared" "/spec" r"|\.\./shared|sections/[0-9]{3}|appendix/A[0-9]"
    r"|\b[A-Za-z0-9_]+\.te" r"x\b"  # the paper's LaTeX files (cite its sections instead)
)


def _module_file(module: str) -> str:
    """The repository-relative file of ``module`` (a module file or a package's __init__)."""
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path.relative_to(ROOT).as_posix()
    return module


def _strongly_connected_components(nodes, successors) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(successors(root))))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _one_cycle(start: str, members: set[str], successors) -> list[str]:
    """A shortest cycle start -> ... -> start inside one strongly connected component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(successors(node)):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # unreachable for a real component


def test_no_import_cycles():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (test extra)")
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)

    def successors(module: str) -> set[str]:
        return graph.find_modules_directly_imported_by(module)

    reports = []
    for component in _strongly_connected_components(graph.modules, successors):
        cycle = _one_cycle(component[0], set(component), successors)
        lines = [f"cycle of {len(component)} modules: {', '.join(component)}; for example:"]
        for importer, imported in zip(cycle[:-1], cycle[1:], strict=True):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(
                f"{_module_file(importer)}:{d['line_number']}"
                for d in sorted(details, key=lambda d: d["line_number"])
            )
            lines.append(f"    {importer} -> {imported}  ({where or 'line unknown'})")
        reports.append("\n".join(lines))
    assert not reports, "import cycles:\n" + "\n".join(reports)


def test_no_python_file_over_max_lines():
    too_long = []
    for directory in SIZE_CHECKED_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            n = len(path.read_text(encoding="utf-8", errors="replace").splitlines())
            if n > MAX_LINES:
                too_long.append(f"{path.relative_to(ROOT).as_posix()}: {n} lines")
    assert not too_long, f"files over {MAX_LINES} lines (split them):\n" + "\n".join(too_long)


def _tracked_files(*patterns: str) -> list[Path]:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    run = subprocess.run(
        [git, "-C", str(ROOT), "ls-files", "-z", "--", *patterns],
        capture_output=True, text=True, check=False,
    )
    if run.returncode != 0:
        pytest.skip(f"not a git checkout: {run.stderr.strip()}")
    return [ROOT / name for name in sorted(set(run.stdout.split("\0"))) if name]


def test_no_reference_to_files_outside_the_repository():
    hits = []
    for path in _tracked_files("*.py", "*.md", "*.toml"):
        if not path.is_file():  # tracked, but deleted or moved in this working tree
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if EXTERNAL_REFERENCE.search(line):
                hits.append(f"{path.relative_to(ROOT).as_posix()}:{number}: {line.strip()}")
    shown = hits[:60]
    more = f"\n... and {len(hits) - len(shown)} more" if len(hits) > len(shown) else ""
    assert not hits, (
        f"{len(hits)} references to files outside the repository "
        f"(pattern {EXTERNAL_REFERENCE.pattern!r}):\n" + "\n".join(shown) + more
    )


def test_import_linter_contracts():
    """The contracts in pyproject.toml [tool.importlinter] (also run by make lint / make test)."""
    bindir = Path(sys.executable).parent
    exe = shutil.which("lint-imports", path=str(bindir)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("lint-imports not found: install the test extra (pip install -e '.[test]')")
    run = subprocess.run(
        [exe], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, (
        f"lint-imports failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    )


def test_cli_import_stays_light():
    code = (
        "import json, sys\n"
        "import setol_theory.cli\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import setol_theory.cli imports {', '.join(loaded)}"
