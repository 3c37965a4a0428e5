"""The frames the fan-out pass leaves for the server to send: rows of (kind, session slot or symbol, start, end)."""
from kabuto.engine.jit import njit

FRAME_REPORTS, FRAME_MD, FRAME_L3 = 0, 1, 2  # kinds: a session's reports, a symbol's md message, its l3 message
F_KIND, F_TARGET, F_START, F_END = range(4)  # columns: the frame is out[start:end], for a session slot or symbol
F_COLS = 4


@njit(cache=True, _nrt=False, inline="always")
def add_frame(frames, n, kind, target, start, end):
    """Row n: out[start:end] is a frame of this kind for target; returns n + 1."""
    row = frames[n]
    row[F_KIND] = kind
    row[F_TARGET] = target
    row[F_START] = start
    row[F_END] = end
    return n + 1
