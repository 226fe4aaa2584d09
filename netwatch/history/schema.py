"""The history's tables (SQLAlchemy Core) and their version: a plain versioned schema.

`netwatch_meta` holds `schema_version`. A database written by a newer netwatch is refused (its
tables may mean something else). Version 1 is the first: a later version adds its steps from the
stored version up, run by `store.HistoryStore` in the same one-creator transaction that makes the tables.
Times are seconds since the epoch (capture time, like the JSON Lines); records are JSON text, the
same dicts the JSON Lines carry, so `diff` compares visits with the code that compares files.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1
metadata = MetaData()

meta = Table(
    "netwatch_meta", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

sites = Table(
    "sites", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
)

visits = Table(
    "visits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, unique=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("sensor", String(256), nullable=False),
    Column("at", Float, nullable=False),  # the visit's time: its first packet, else when it was recorded
    Column("first_seen", Float), Column("last_seen", Float),  # capture span
    Column("recorded", Float, nullable=False),  # wall clock when written
    Column("netwatch_version", String(32), nullable=False),
    Column("key_check", String(32)),  # keyed hash of a constant: same value = fingerprints comparable; null: random key
    Column("interrupted", Boolean, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON: the summary record's inputs[]
    Column("summary", Text, nullable=False),  # JSON: stats, findings by severity, pci
    Index("visits_site_at", "site_id", "at", "id"),
)

findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", Integer, ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
    Column("identity", String(32), nullable=False),  # key-independent: the same finding across visits
    Column("finding_id", String(32)),  # keyed (the run's key): matches the JSON Lines and a SIEM
    Column("rule", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("first_seen", Float, nullable=False), Column("last_seen", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("record", Text, nullable=False),  # JSON: the finding record (masked evidence, endpoints, message)
    Index("findings_visit", "visit_id"),
    Index("findings_identity", "identity"),
)

destinations = Table(
    "destinations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", Integer, ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
    Column("dst", String(64), nullable=False), Column("dport", Integer), Column("proto", String(16)),
    Column("protection", String(16)), Column("policy", String(16)),
    Column("record", Text, nullable=False),  # JSON: the summary record's destination
    Index("destinations_visit", "visit_id"),
)

systems = Table(
    "systems", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", Integer, ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(64), nullable=False), Column("product", String(128), nullable=False),
    Column("version", String(128)), Column("eol_status", String(16)),
    Column("record", Text, nullable=False),  # JSON: the summary record's system entry
    Index("systems_visit", "visit_id"),
)
