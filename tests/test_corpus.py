"""Every real public capture in ../shared/corpus scans without an error, a traceback or a hang.

The corpus (about 850 captures nobody here wrote) sits beside the repository; the test skips when
it is absent. Where tshark is installed, packet and byte counts of a sample are checked against it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import scan_file

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")
PER_FILE_SECONDS = 60


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


class Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ANN001 - signal handler signature
    raise Hang


@pytest.mark.skipif(not corpus_files(), reason=f"no corpus at {CORPUS}")
def test_every_corpus_capture_scans():
    rules = RuleSet.load([])
    files = corpus_files()
    assert len(files) > 100
    failures: list[str] = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for path in files:
            signal.alarm(PER_FILE_SECONDS)
            try:
                report = scan_file(str(path), rules, None)
            except Hang:
                failures.append(f"{path.relative_to(CORPUS)}: no result within {PER_FILE_SECONDS}s")
                continue
            except Exception as e:  # the test's point: name every file that raises, not only the first
                failures.append(f"{path.relative_to(CORPUS)}: {type(e).__name__}: {e}"[:300])
                continue
            finally:
                signal.alarm(0)
            if report.error is not None:
                failures.append(f"{path.relative_to(CORPUS)}: unreadable: {report.error}")
    finally:
        signal.signal(signal.SIGALRM, old)
    assert not failures, f"{len(failures)} of {len(files)} captures failed:\n" + "\n".join(failures[:30])


SAMPLE = ["ndpi/dns.pcap", "ndpi/esp.pcapng", "ndpi/openvpn-tlscrypt.pcap", "ndpi/ssh.pcap", "ndpi/gre.pcapng",
          "ndpi/fuzz-2006-09-29-28586.pcap", "ndpi/ip_fragmented_garbage.pcap"]


@pytest.mark.skipif(not corpus_files(), reason=f"no corpus at {CORPUS}")
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", SAMPLE)
def test_packet_and_byte_counts_agree_with_tshark(name):
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} not in this corpus")
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.len"], capture_output=True,
                         text=True, timeout=120)
    lens = [int(x) for x in out.stdout.split()]
    report = scan_file(str(path), RuleSet.load([]), None)
    assert report.packets == len(lens)
    assert report.bytes == sum(lens)
