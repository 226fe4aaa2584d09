"""The metadata records of `--log` (`flow`, `tls`, `dns`, `http`) as JSON Lines records.

The pipeline keeps them redacted and header-less (`pipeline/metalog.py`); here each gets the
header every record has — `timestamp`, `event_type`, then (from the writer) `site`, `sensor`,
`run_id` — and the flow's `flow_id` and `community_id`, computed as a finding's are, so a SIEM
joins a finding to everything its flow and host did. A `flow` record also says how it travelled
(`protection`, as the destination records do).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from netwatch.pipeline.session import SourceReport
from netwatch.report import records
from netwatch.report.records import iso, protection


def metadata_record(raw: dict[str, Any]) -> dict[str, Any]:
    """One kept record (from `MetaLog`) with its header; the raw dict is not changed."""
    body = dict(raw)
    ts = body.pop("ts", None)
    kind = body.pop("event_type")
    tpl = (body.get("proto"), body.get("src"), body.get("sport"), body.get("dst"), body.get("dport"))
    rec: dict[str, Any] = {"timestamp": iso(ts), "event_type": kind, "flow_id": records.flow_id(*tpl)}
    cid = records.community_id(*tpl)  # cached there, per flow tuple
    if cid:
        rec["community_id"] = cid
    for k, v in body.items():
        rec[k] = v
        if k == "protected" and kind == "flow":
            rec["protection"] = protection({"encrypted": v, "infra": body.get("infra")})
    return rec


def metadata_records(reports: Iterable[SourceReport]) -> Iterator[dict[str, Any]]:
    """Every input's records, input by input, each in the order the scan met them."""
    for r in reports:
        if r.meta is not None:
            for raw in r.meta.records():
                yield metadata_record(raw)
