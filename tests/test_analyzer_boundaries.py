"""Analyzers share facts through the Dispatcher, never by calling each other (issue 19): no analyzer
module imports another module's analyzer class; what several analyzers share without sharing facts
(the login state and `found`, the card event) lives in modules that define no analyzer.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from netwatch.analyzers import Analyzer

ANALYZERS = Path(__file__).resolve().parents[1] / "netwatch" / "analyzers"


def _imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    return [(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and node.module and node.module.startswith("netwatch.analyzers.") for alias in node.names]


def test_no_analyzer_imports_another_analyzer():
    offenders = []
    for path in sorted(ANALYZERS.glob("*.py")):
        if path.stem == "registry":  # the one place that builds them all
            continue
        for module, name in _imports(path):
            obj = getattr(importlib.import_module(module), name, None)
            if inspect.isclass(obj) and issubclass(obj, Analyzer) and obj.name != "analyzer":
                offenders.append(f"{path.name} imports {name} from {module}")
    assert not offenders, offenders


def test_shared_modules_define_no_analyzer():
    for stem in ("login_watch", "card_events"):
        mod = importlib.import_module(f"netwatch.analyzers.{stem}")
        own = [c for _, c in inspect.getmembers(mod, inspect.isclass)
               if c.__module__ == mod.__name__ and issubclass(c, Analyzer) and c.__dict__.get("name")]
        assert not own, (stem, own)
