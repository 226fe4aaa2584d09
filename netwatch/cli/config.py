"""Site defaults from `netwatch.toml`, and `netwatch config` to show what is in force and from where.

Read with tomllib from the user's config directory ($XDG_CONFIG_HOME/netwatch/netwatch.toml, else
~/.config/netwatch/netwatch.toml), then from ./netwatch.toml, which overrides it key by key.
Command-line flags win over both: the files only change the parser's defaults. Paths in a file
are relative to that file. A key the file may not hold, or a value of the wrong type, is a
one-line error naming the file and the key (exit 2), like a bad policy.

    policy = "store.yaml"        # --policy
    rules = ["rules.d"]          # --rules (flags add to these)
    key = "00112233..."          # --key (NETWATCH_KEY, when set, wins over the file)
    fail_on = "high"             # --fail-on
    site = "store-0042"          # --site
    sensor = "tap-1"             # --sensor
    history = "visits.sqlite"    # --history: scan and live record every run there (a file, or a
                                 # postgresql:// URL); `history` and `diff SITE` read it
    log = ["flow", "dns"]        # --log: metadata records in the JSON Lines (flow, tls, dns, http, all)
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwatch.cli.common import UsageError, log_kinds, parse_key

FILE_NAME = "netwatch.toml"
MAX_BYTES = 64 << 10
# key in the file -> (argparse dest, kind): "path", "paths", "text", "severity"
KEYS: dict[str, tuple[str, str]] = {
    "policy": ("policy", "path"), "rules": ("rules", "paths"), "key": ("key", "text"),
    "fail_on": ("fail_on", "severity"), "site": ("site", "text"), "sensor": ("sensor", "text"),
    "history": ("history", "store"), "log": ("log", "log"),
}


class ConfigError(UsageError):
    """A configuration file that cannot be used: one line naming the file and the key."""


@dataclass
class Settings:
    """The values the files set (by argparse dest) and the file each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def config_files(cwd: Path | None = None) -> list[Path]:
    """The files read, weakest first: the user's, then the working directory's."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    out = [Path(base) / "netwatch" / FILE_NAME, (cwd or Path.cwd()) / FILE_NAME]
    return [p for p in dict.fromkeys(out) if p.is_file()]


def load_settings(cwd: Path | None = None) -> Settings:
    settings = Settings()
    for path in config_files(cwd):
        for dest, value in _read(path).items():
            settings.values[dest] = value
            settings.origin[dest] = str(path)
        settings.files.append(str(path))
    return settings


def _read(path: Path) -> dict[str, Any]:
    import tomllib

    from netwatch.judge.vocabulary import SEVERITIES

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES >> 10} KiB; not a netwatch configuration")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if name not in KEYS:
            near = difflib.get_close_matches(name, list(KEYS), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f"; known: {', '.join(KEYS)}"
            raise ConfigError(f"{path}: unknown key '{name}'{hint}")
        dest, kind = KEYS[name]
        if kind == "log":
            out[dest] = _log(path, value)
        elif kind == "paths":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{path}: '{name}' expects a list of paths")
            out[dest] = [str(path.parent / v) for v in value]
        elif not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: '{name}' expects a text value")
        elif kind == "path" or (kind == "store" and "://" not in value):
            out[dest] = str(path.parent / value)
        elif kind == "severity":
            if value.lower() not in (*SEVERITIES, "none"):
                raise ConfigError(f"{path}: '{name}' expects one of {', '.join(SEVERITIES)}, none")
            out[dest] = value.lower()
        else:
            out[dest] = value
    return out


def _log(path: Path, value: Any) -> tuple[str, ...]:
    """`log = ["flow", "dns"]` (or "flow,dns", "all"): checked as --log checks it."""
    if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
        raise ConfigError(f"{path}: 'log' expects a list of record types (flow, tls, dns, http) or \"all\"")
    try:
        return log_kinds(value)
    except argparse.ArgumentTypeError as e:
        raise ConfigError(f"{path}: 'log': {e}") from None


def apply_defaults(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """Make the files' values the defaults of every command that has the option (flags still win).
    The key stays out of the defaults when NETWATCH_KEY is set: the environment of one run is
    more specific than a site's file."""
    values = dict(settings.values)
    if os.environ.get("NETWATCH_KEY"):
        values.pop("key", None)
    if "key" in values:
        try:
            values["key"] = parse_key(values["key"])
        except argparse.ArgumentTypeError as e:
            raise ConfigError(f"{settings.origin['key']}: 'key': {e}") from None
    for sub in _subparsers(parser):
        dests = {a.dest for a in sub._actions}
        sub.set_defaults(**{d: v for d, v in values.items() if d in dests})


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.values())
    return []


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("config", help="show the settings in force and where each comes from",
                        description=f"Show the defaults netwatch.toml sets ({FILE_NAME} in the working directory, "
                                    "or in $XDG_CONFIG_HOME/netwatch/ or ~/.config/netwatch/), the environment's, "
                                    "and the built-in ones. Flags given on a command line win over all of them.")
    sp.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    builtin = {"policy": "none (destinations listed, not judged)", "rules": "built-in rules only",
               "key": "random per run", "fail_on": "high", "site": "the policy's site:, else none",
               "sensor": "this host's name", "log": "none (no metadata records)",
               "history": "not recorded (--history: $NETWATCH_HISTORY or the XDG file)"}
    print("files read: " + (", ".join(settings.files) if settings.files else
                            f"none (looked for ./{FILE_NAME} and the user's config directory)"))
    for name, (dest, _) in KEYS.items():
        if dest == "key" and os.environ.get("NETWATCH_KEY"):
            value, origin = "set (not shown)", "environment NETWATCH_KEY"
        elif dest in settings.values:
            value = "set (not shown)" if dest == "key" else settings.values[dest]
            origin = settings.origin[dest]
        else:
            value, origin = builtin[dest], "built-in default"
        if isinstance(value, (list, tuple)):
            value = ", ".join(value) or "none"
        if dest == "history" and dest in settings.values:
            from netwatch.history.store import hide_password

            value = hide_password(str(value))
        print(f"{name:<8} {value}  [{origin}]")
    sys.stdout.flush()
    return 0
