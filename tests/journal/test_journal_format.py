"""The journal file format: framing, segments, torn last records and corruption in the middle."""
from __future__ import annotations

import time

import pytest

from gateway.journal import HEAD, JournalError, JournalReader, JournalWriter, segments


def write(directory, bodies, **kw):
    w = JournalWriter(directory, **kw)
    for b in bodies:
        w.append(b)
    w.close()


def read(directory, after=0):
    r = JournalReader(directory)
    return [(seq, bytes(body)) for seq, body in r.scan(after)], r


BODIES = [f"record {i} ".encode() * (i % 7 + 1) for i in range(1, 41)]


def test_records_read_back_in_order_with_their_sequence_numbers(tmp_path):
    write(tmp_path, BODIES)
    got, r = read(tmp_path)
    assert got == list(enumerate(BODIES, 1))
    assert (r.last_seq, r.torn) == (40, None)


def test_segments_roll_at_their_size_and_read_as_one_journal(tmp_path):
    write(tmp_path, BODIES, segment_bytes=200)
    assert len(segments(tmp_path)) > 5
    got, _ = read(tmp_path)
    assert got == list(enumerate(BODIES, 1))


def test_reading_after_a_sequence_number_skips_what_it_covers(tmp_path):
    write(tmp_path, BODIES, segment_bytes=200)
    got, _ = read(tmp_path, after=25)
    assert [s for s, _ in got] == list(range(26, 41))


def test_a_new_writer_continues_in_a_new_segment(tmp_path):
    write(tmp_path, BODIES[:3])
    write(tmp_path, BODIES[3:5], next_seq=4)
    assert [first for first, _ in segments(tmp_path)] == [1, 4]
    assert [s for s, _ in read(tmp_path)[0]] == [1, 2, 3, 4, 5]


def test_torn_last_record_at_every_byte_offset_keeps_everything_before_it(tmp_path):
    src = tmp_path / "src"
    write(src, BODIES[:5])
    (path,) = [p for _, p in segments(src)]
    data = path.read_bytes()
    start = len(data) - HEAD - len(BODIES[4])
    for cut in range(start + 1, len(data)):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / path.name).write_bytes(data[:cut])
        got, r = read(d)
        assert got == list(enumerate(BODIES[:4], 1)), cut
        assert r.torn is not None and r.torn.offset == start, cut
        r.cut()
        assert (d / path.name).stat().st_size == start
        write(d, [b"after the cut"], next_seq=5)  # recovery goes on writing after the cut
        assert read(d)[0][-1] == (5, b"after the cut")


def test_a_damaged_last_record_is_cut_and_reported(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    got, r = read(tmp_path)
    assert len(got) == 4
    assert "body checksum" in str(r.torn)


def test_zeros_after_the_last_record_are_a_torn_write(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    path.write_bytes(path.read_bytes() + bytes(4096))
    got, r = read(tmp_path)
    assert len(got) == 5 and r.torn is not None


def test_corruption_in_the_middle_of_a_segment_is_a_hard_error(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    data = bytearray(path.read_bytes())
    data[HEAD + 2] ^= 0x01  # inside the first record's body
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="middle of the journal"):
        read(tmp_path)


def test_a_torn_record_in_an_earlier_segment_is_a_hard_error(tmp_path):
    write(tmp_path, BODIES[:10], segment_bytes=200)
    first = segments(tmp_path)[0][1]
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(JournalError, match="corrupt record"):
        read(tmp_path)


def test_a_missing_segment_is_a_sequence_gap(tmp_path):
    write(tmp_path, BODIES[:20], segment_bytes=200)
    segments(tmp_path)[1][1].unlink()
    with pytest.raises(JournalError, match="gap"):
        read(tmp_path)


def test_an_unknown_fsync_policy_is_refused(tmp_path):
    with pytest.raises(JournalError, match="fsync"):
        JournalWriter(tmp_path, fsync="sometimes")


def test_fsync_always_syncs_every_record(tmp_path):
    w = JournalWriter(tmp_path, fsync="always")
    for b in BODIES[:3]:
        w.append(b)
    assert w.syncs == 3
    w.close()


def test_fsync_batch_syncs_in_the_background(tmp_path):
    w = JournalWriter(tmp_path, fsync="batch", batch_ms=5)
    w.append(b"x")
    deadline = time.monotonic() + 5
    while w.syncs == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.syncs >= 1
    w.close()
