"""analysis is a pure numpy/scipy library: no web framework, no database, no ``survey``."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import analysis

PACKAGE = Path(analysis.__file__).resolve().parent
FORBIDDEN = {"flask", "sqlalchemy", "survey", "werkzeug", "jinja2", "flask_sqlalchemy"}


def test_no_forbidden_import_in_the_source():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            found += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert found == []


def test_importing_analysis_loads_no_forbidden_module():
    code = ("import sys, analysis; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, text=True,
                         capture_output=True, check=True, env={"PYTHONPATH": str(PACKAGE.parent)})
    assert out.stdout.strip() == "[]"


def test_modules_are_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) < 400, sizes


def test_public_functions_are_typed_and_documented():
    for name in analysis.__all__:
        obj = getattr(analysis, name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            untyped = [p for p in sig.parameters.values() if p.annotation is p.empty]
            assert not untyped and sig.return_annotation is not sig.empty, name
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_reference_copy_matches_the_shared_reference_when_present():
    """The committed copy of the shared R reference is the current one."""
    from .helpers import SHARED
    upstream = PACKAGE.parent.parent / "shared" / "reference"
    if not upstream.exists():
        import pytest
        pytest.skip("../shared/reference is not beside this clone")
    for name in ("r-demo-data.csv", "r-demo-results.csv", "oracle-demo.R"):
        assert (SHARED / name).read_bytes() == (upstream / name).read_bytes(), name
