"""Allow `python -m netwatch`."""

from netwatch.cli import main

raise SystemExit(main())
