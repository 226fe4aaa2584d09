"""Write every scenario capture into captures/ (scapy, fixed timestamps: byte-identical reruns).

Usage: python captures/make_captures.py [--out DIR] [NAME...]
Scenario modules are the `scenarios_*.py` files beside this script; each defines SCENARIOS, a
dict of name -> function returning the packets. A scenario may instead return raw bytes (a file
written as-is, e.g. a deliberately truncated capture).

Convention for card data: a scenario module that puts card numbers (or track data) into its
captures lists every one of them, as plain digit strings, in a module-level `CARD_NUMBERS`
list; tests/test_no_leaks.py scans all bundled captures and fails if any output contains one.
Likewise every password, token or community a module's logins send goes in its `PASSWORDS` list:
tests/test_evidence_secrets.py fails if a capture's evidence holds one (in any form its protocol
carries it) or if a capture reports a login whose secret its module does not list.
Golden findings live in captures/expected/NAME.jsonl (tests/test_golden.py replays every capture).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_scenarios() -> dict[str, Callable]:
    sys.path.insert(0, str(HERE))
    out: dict[str, Callable] = {}
    for mod_path in sorted(HERE.glob("scenarios_*.py")):
        spec = importlib.util.spec_from_file_location(mod_path.stem, mod_path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, fn in mod.SCENARIOS.items():
            if name in out:
                raise SystemExit(f"duplicate scenario name {name} in {mod_path.name}")
            out[name] = fn
    return out


def write_scenario(name: str, fn: Callable, out_dir: Path) -> Path:
    from scapy.utils import PcapWriter

    result = fn()
    if isinstance(result, (bytes, bytearray)):
        path = out_dir / f"{name}.pcap"
        path.write_bytes(bytes(result))
        return path
    path = out_dir / f"{name}.pcap"
    with PcapWriter(str(path), sync=True) as w:  # pcap, microseconds, little-endian
        for p in result:
            w.write(p)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    scenarios = load_scenarios()
    names = args.names or sorted(scenarios)
    for n in names:
        if n not in scenarios:
            raise SystemExit(f"unknown scenario {n}; known: {', '.join(sorted(scenarios))}")
        print(write_scenario(n, scenarios[n], args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
