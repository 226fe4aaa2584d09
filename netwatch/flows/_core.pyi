from typing import Any

from netwatch.capture.blocks import FrameBlock

def vector(fast: Any, block: FrameBlock, base: int) -> None: ...
