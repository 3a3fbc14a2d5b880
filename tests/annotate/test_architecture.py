"""Dependencies point one way: active_learning may import labeling, never the reverse,
and active_learning/prm/ is plain PyTorch + transformers with no Django."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(package: str):
    return [p for p in (REPO / package).rglob("*.py") if "migrations" not in p.parts]


def test_labeling_never_imports_active_learning():
    offenders = {
        str(p.relative_to(REPO)): sorted(m for m in _imports(p) if m.split(".")[0] == "active_learning")
        for p in _files("labeling")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_prm_package_has_no_django():
    offenders = {
        str(p.relative_to(REPO)): sorted(
            m for m in _imports(p) if m.split(".")[0] in {"django", "rest_framework", "celery", "labeling"}
        )
        for p in _files("active_learning/prm")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from active_learning.models import X\n")
    assert "active_learning.models" in _imports(f)
