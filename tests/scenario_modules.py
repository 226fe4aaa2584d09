"""The capture scenarios (captures/scenarios_*.py) loaded as modules, for the tests that check
outputs against the secrets a scenario lists (CARD_NUMBERS, PASSWORDS, its own tables)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def load_scenario(path: Path) -> ModuleType:
    """One scenario file as a module (its `scenario_lib` import resolved from captures/)."""
    sys.path.insert(0, str(CAPTURES))
    try:
        spec = importlib.util.spec_from_file_location(f"_scenario_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(CAPTURES))


def scenario_lists(attr: str) -> list[str]:
    """The values every scenario lists under `attr` (e.g. CARD_NUMBERS), as text."""
    return [str(v) for path in sorted(CAPTURES.glob("scenarios_*.py"))
            for v in getattr(load_scenario(path), attr, [])]
