"""The layout's rules (docs/ARCHITECTURE.md), checked on the source: what import-linter cannot see."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    p for package in ("brokercore", "console") for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts
)
LONG_MODULE_LINES = 600


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("path", SOURCES, ids=_module)
def test_no_module_imports_another_modules_private_names(path):
    """A module's `_name` is its own: one another module needs is made public, with a docstring."""
    tree = ast.parse(path.read_text())
    offending = [
        f"{node.module}.{alias.name} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("brokercore", "console")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not offending, f"{_module(path)} imports private names: {offending}"


@pytest.mark.parametrize("path", SOURCES, ids=_module)
def test_long_modules_say_why(path):
    """A module over ~600 lines states in its docstring why it is one module ("Why one module: ...")."""
    text = path.read_text()
    if text.count("\n") <= LONG_MODULE_LINES:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "Why one module:" in doc, f"{_module(path)} has {text.count(chr(10))} lines and no 'Why one module:' in its docstring"


def test_the_rules_look_at_the_code():
    """Guards the two tests above against an empty or wrong file list."""
    names = {_module(p) for p in SOURCES}
    assert {"brokercore.log.append", "brokercore.coordinator.group", "console.management.commands.serve"} <= names
