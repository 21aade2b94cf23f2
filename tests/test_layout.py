"""The layout of SPEC §2 as rules a change cannot break unnoticed: who may import whom, and
modules one can read whole."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import orion_events

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "orion_events"
MODULE_LINES = 400
CLASS_LINES = 300


def imported(path: Path) -> set[str]:
    """The modules `path` imports, absolute (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).glob("**/*.py"))


def test_every_module_of_the_library_loads_without_aiohttp_or_the_service() -> None:
    names = [m.name for m in pkgutil.walk_packages(orion_events.__path__, "orion_events.")]
    code = (
        f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'aiohttp', 'service'}]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(names) > 30  # the walk found the layers, not an empty package


@pytest.mark.parametrize("path", sources("orion_events/domain"), ids=lambda p: p.name)
def test_the_domain_imports_nothing_of_the_other_layers(path: Path) -> None:
    ours = {m for m in imported(path) if m.split(".")[0] == "orion_events"}
    outside = {m for m in ours if not m.startswith("orion_events.domain")}
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", sources("orion_events"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_the_service(path: Path) -> None:
    assert not {m for m in imported(path) if m.split(".")[0] in {"service", "aiohttp"}}


@pytest.mark.parametrize(
    "path", sources("orion_events", "service"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_modules_and_classes_can_be_read_whole(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert len(lines) <= MODULE_LINES, f"{len(lines)} lines"
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= CLASS_LINES, f"class {node.name}: {size} lines"
