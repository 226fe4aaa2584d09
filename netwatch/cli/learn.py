"""`netwatch learn`: write a site policy from known-good captures."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from netwatch.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, UsageError, expand_paths


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "learn", help="write a site policy from known-good captures",
        description="Scan known-good captures and write a commented site policy (YAML) that allows what the "
                    "POS hosts did. Scanning the same captures with it gives no destination findings.")
    sp.add_argument("paths", nargs="+", metavar="PCAP", help="capture files or directories of them")
    sp.add_argument("-o", "--output", required=True, metavar="FILE", help="policy file to write ('-' for stdout)")
    sp.add_argument("--pos-hosts", nargs="+", default=[], metavar="CIDR",
                    help="addresses/CIDRs of the POS hosts (default: every internal host)")
    sp.add_argument("--site", default="", metavar="NAME", help="site name written into the policy")
    sp.add_argument("--force", action="store_true", help="overwrite an existing output file")
    sp.set_defaults(func=cmd_learn)


def cmd_learn(args: argparse.Namespace) -> int:
    from netwatch.judge.learn import learn_policy
    from netwatch.judge.policy import policy_from_text
    from netwatch.pipeline.runner import ScanConfig, run_local
    from netwatch.pipeline.session import SourceReport

    out = args.output
    if out != "-" and Path(out).exists() and not args.force:
        raise UsageError(f"{out} exists; use --force to overwrite it")
    paths, unreadable = expand_paths(args.paths)
    learn_policy([], args.pos_hosts)  # validate --pos-hosts before any capture work
    cfg = ScanConfig(rule_dirs=(), policy_path=None, fingerprint_key=os.urandom(32))
    ran = run_local(paths, cfg)
    reports, interrupted = ran.reports, ran.interrupted
    if interrupted:
        print("netwatch: interrupted; no policy written", file=sys.stderr)
        return EXIT_INTERRUPTED
    errors = [SourceReport(source=d, error=msg) for d, msg in unreadable] + [r for r in reports if r.error]
    for r in errors:
        print(f"netwatch: {r.error}", file=sys.stderr)
    if errors:
        print("netwatch: no policy written: every capture must be readable to learn from it", file=sys.stderr)
        return EXIT_ERROR
    rows = [row for r in reports for row in r.inventory]
    learned = learn_policy(rows, args.pos_hosts, args.site, [r.source for r in reports])
    policy_from_text(learned.text, out)  # what we write must load
    if out == "-":
        sys.stdout.write(learned.text)
    else:
        try:
            Path(out).write_text(learned.text, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write policy {out}: {e.strerror}") from None
    from netwatch.report.text import plural

    msg = f"{plural(learned.destinations, 'allowed destination')}, {plural(learned.resolvers, 'resolver')}"
    print(f"netwatch: wrote {out if out != '-' else 'policy'}: {msg}; review it, then scan with --policy",
          file=sys.stderr)
    for w in learned.warnings:
        print(f"netwatch: warning: {w}", file=sys.stderr)
    for r in reports:
        if r.problem:
            print(f"netwatch: {r.source}: input broke off: {r.problem}", file=sys.stderr)
    return EXIT_OK
