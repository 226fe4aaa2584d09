"""The rule schema's closed vocabularies: severities and categories.

One list each, read by the rule loader (a rule naming anything else is refused) and by the command
line filters (`--category`, `--min-severity`, `--fail-on`), so a category a rule may use is always
one the filters accept. Kept free of imports: the CLI builds its parser from it at start-up.
"""

from __future__ import annotations

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # lower is worse
CATEGORIES = ("card-data", "cleartext", "weak-tls", "credentials", "destination", "remote-access", "exfiltration",
              "outdated")
