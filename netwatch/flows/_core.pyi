from typing import Any

from netwatch.capture.blocks import FrameBlock
from netwatch.flows.table import Flow as Flow  # an extension type with the same attributes

def vector(fast: Any, block: FrameBlock, base: int) -> None: ...
def idle_flows(live: dict[Flow, None], now: float) -> list[Flow]: ...
