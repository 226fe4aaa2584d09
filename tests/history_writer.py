"""A history writer for the interruption test: scans a bundled capture, copies its findings into a
large run (distinct endpoints, so distinct findings), opens the store, says `writing` on stdout,
then writes the run in its one transaction, where the test kills it.

usage: python tests/history_writer.py STORE SITE COPIES
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    store_target, site, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from netwatch.history.record import visits_of, write_visits
    from netwatch.history.store import HistoryStore
    from netwatch.pipeline.runner import ScanConfig, run_local

    reports = run_local([str(ROOT / "captures" / "http_card_post.pcap")],
                        ScanConfig(rule_dirs=(), policy_path=None, fingerprint_key=os.urandom(32))).reports
    base = reports[0].findings
    many = []
    for i in range(copies):
        for f in base:
            g = copy.copy(f)
            g.dport = 1 + i % 65000
            g.key = (f.key[0], f.key[1], f.key[2], f.key[3], g.dport, *f.key[5:])
            many.append(g)
    reports[0].findings = many
    store = HistoryStore(store_target)
    visits = visits_of(reports, site)
    print("writing", flush=True)
    write_visits(store, visits)
    print("written", flush=True)


if __name__ == "__main__":
    main()
