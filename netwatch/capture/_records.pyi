from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]

def walk_records(buf: bytes, pos: int, layout: Any, max_record: int) -> tuple[Ints, int]: ...
def pcap_block(buf: bytes, offsets: Any, layout: Any,
               tail: int | None = None) -> tuple[Ints, Ints, Ints, npt.NDArray[np.float64]]: ...
