"""`python -m netwatch.events --markdown [FILE]`: the event vocabulary as Markdown (netwatch.events.doc)."""

import sys

from netwatch.events.doc import main

main(sys.argv[1:])
