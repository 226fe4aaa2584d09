"""docs/architecture.md stays true: its event vocabulary is the registry's, and the layers hold."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from netwatch.events.doc import BEGIN, END, markdown

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
# Lower number = lower layer, one folder per layer (data-path order but for redaction, which every
# output layer uses); a module may import its own layer and lower ones (see the doc's table), and
# judgement (4) only base and redaction: it knows events, not flows or analyzers. The site history sits
# beside the reports (7): it stores their records, and the HTML report reads it.
LAYERS = {
    "netwatch": 0, "netwatch.capture": 0, "netwatch.packets": 0, "netwatch.protocols": 0, "netwatch.events": 0,
    "netwatch.redaction": 1, "netwatch.flows": 2, "netwatch.analyzers": 3, "netwatch.judge": 4,
    "netwatch.findings": 5, "netwatch.pipeline": 6, "netwatch.report": 7, "netwatch.history": 7,
    "netwatch.cli": 8, "netwatch.__main__": 8,
}
JUDGE, NOT_FOR_JUDGE = 4, (2, 3)


def _layer(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        hit = LAYERS.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    raise AssertionError(f"{module} has no layer in docs/architecture.md")


def test_event_vocabulary_in_the_doc_is_generated_from_the_registry() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert section == "\n" + markdown(), "run: python -m netwatch.events --markdown docs/architecture.md"


def test_markdown_command_prints_the_vocabulary() -> None:
    r = subprocess.run([sys.executable, "-m", "netwatch.events", "--markdown"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == markdown()
    assert "### `card_data`" in r.stdout and "| `brand` |" in r.stdout


def test_modules_import_only_their_layer_and_below() -> None:
    bad = []
    for path in sorted((ROOT / "netwatch").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        own = _layer(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"netwatch.{a.name}" for a in node.names] if node.module == "netwatch" else [node.module]
            for name in names:
                if name.split(".")[0] != "netwatch":
                    continue
                if _layer(name) > own or (own == JUDGE and _layer(name) in NOT_FOR_JUDGE):
                    bad.append(f"{module} imports {name}")
    assert bad == []


def test_readme_links_the_architecture_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme and "shared/DESIGN.md" not in readme


FLOW_SET_BY_DISPATCHER = {"app", "encrypted", "how", "server_name", "names", "inspect", "active", "state"}


def test_only_the_dispatcher_touches_classification_and_analyzer_state() -> None:
    """Analyzers keep their own state (Analyzer.state) and tell the Dispatcher what others need:
    none writes a flow's classification, its active list or `flow.state` itself, nor reads `flow.state`."""
    bad = []
    for path in sorted((ROOT / "netwatch" / "analyzers").glob("*.py")):
        if path.name in ("__init__.py", "dispatch.py"):  # the Dispatcher and its API
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = [t for tgt in node.targets for t in (tgt.elts if isinstance(tgt, ast.Tuple) else [tgt])]
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr in FLOW_SET_BY_DISPATCHER:
                    bad.append(f"{path.name}:{node.lineno} sets .{t.attr}")
            if isinstance(node, ast.Attribute) and node.attr == "state" and isinstance(node.value, ast.Name) \
                    and node.value.id == "flow":
                bad.append(f"{path.name}:{node.lineno} reads flow.state")
    assert bad == []
