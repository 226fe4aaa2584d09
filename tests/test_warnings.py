"""No raw Python warnings from netwatch: certificates of every key type are read without touching
deprecated library names, and the test suite turns any warning raised from netwatch's own modules
into an error (pyproject's filterwarnings), so library drift fails CI instead of printing on stderr."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from netwatch.protocols.x509 import _parse

ROOT = Path(__file__).resolve().parents[1]


def _openssl_cert(tmp_path: Path, newkey: list[str]) -> bytes:
    out = tmp_path / "cert.der"
    subprocess.run(["openssl", "req", "-x509", *newkey, "-keyout", str(tmp_path / "key.pem"), "-nodes",
                    "-subj", "/CN=pos-gw.example", "-days", "2", "-outform", "DER", "-out", str(out)],
                   check=True, capture_output=True, timeout=120)
    return out.read_bytes()


@pytest.mark.parametrize("key", ["dsa", "ec", "rsa"])
def test_certificate_of_every_key_type_is_read_without_a_warning(tmp_path: Path, key: str) -> None:
    if key == "dsa":
        subprocess.run(["openssl", "dsaparam", "-out", str(tmp_path / "p.pem"), "2048"], check=True,
                       capture_output=True, timeout=120)
        newkey = ["-newkey", f"dsa:{tmp_path / 'p.pem'}", "-sha256"]
    elif key == "ec":
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    else:
        newkey = ["-newkey", "rsa:2048"]
    der = _openssl_cert(tmp_path, newkey)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whatever the library deprecates next, from any module
        parsed = _parse(der)
    assert parsed is not None
    facts = parsed[0]
    assert facts["key_type"] == key and facts["key_bits"] == {"dsa": 2048, "ec": 256, "rsa": 2048}[key]
    assert facts["self_signed"] is True


def test_suite_turns_netwatchs_own_warnings_into_errors(tmp_path: Path) -> None:
    """A warning attributed to a netwatch module fails a test run with the project's configuration;
    the same warning from the test's own module does not."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import types, warnings\n"
        "def _warn_from(name):\n"
        "    m = types.ModuleType(name)\n"
        "    exec('import warnings\\nwarnings.warn(\\'drift\\')', m.__dict__)\n"
        "def test_from_netwatch():\n    _warn_from('netwatch.protocols.probe')\n"
        "def test_from_elsewhere():\n    _warn_from('somelib.probe')\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(probe)],
                         capture_output=True, text=True, timeout=120)
    assert "1 failed, 1 passed" in run.stdout, run.stdout[-800:]
    assert "UserWarning: drift" in run.stdout
