"""The journal file format: framing, segments, torn last records and corruption in the middle."""
from __future__ import annotations

import time

import pytest
from journalkit import unseal
from kabuto.durability.journal import HEAD, SEAL_BYTES, JournalError, JournalReader, JournalWriter, read_seal, segments


def write(directory, bodies, **kw):
    w = JournalWriter(directory, **kw)
    for b in bodies:
        w.append(b)
    w.close()


def read(directory, after=0, cut_corrupt_tail=False):
    r = JournalReader(directory, cut_corrupt_tail)
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
    unseal(path)  # as a crash leaves it
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


def damaged_last_record(directory):
    """A journal of 5 records whose complete last record has one byte flipped; the record's offset."""
    write(directory, BODIES[:5])
    (path,) = [p for _, p in segments(directory)]
    unseal(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    return path, len(data) - HEAD - len(BODIES[4])


def test_a_complete_last_record_failing_its_checksum_is_refused_not_cut_as_torn(tmp_path):
    path, offset = damaged_last_record(tmp_path)
    with pytest.raises(JournalError, match=f"{path.name} byte {offset}: record 5 is complete .* but fails its "
                                           f"checksum: damaged after it was written, not a torn write"):
        read(tmp_path)


def test_a_complete_last_record_failing_its_checksum_is_cut_when_the_operator_says_so(tmp_path):
    path, offset = damaged_last_record(tmp_path)
    got, r = read(tmp_path, cut_corrupt_tail=True)
    assert len(got) == 4 and (r.torn.offset, r.torn.corrupt) == (offset, True)
    assert "--truncate-corrupt-tail" in str(r.torn)
    r.cut()
    assert path.stat().st_size == offset


def test_garbage_after_the_last_record_is_a_corrupt_tail_at_its_byte_offset(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    unseal(path)
    end = path.stat().st_size
    path.write_bytes(path.read_bytes() + bytes(range(1, 256)) * 2)
    with pytest.raises(JournalError, match=f"{path.name} byte {end}: 510 unreadable bytes after record 5 "
                                           f"\\(a damaged record header or garbage\\): .*not a torn write") as e:
        read(tmp_path)
    assert "middle" not in str(e.value)


def test_garbage_after_the_seal_of_the_last_segment_is_a_corrupt_tail(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    end = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"\x01" * 300)
    with pytest.raises(JournalError, match=f"byte {end}: 300 unreadable bytes after record 5"):
        read(tmp_path)


def test_a_damaged_record_followed_by_good_ones_in_the_last_segment_is_in_the_middle(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    data = bytearray(path.read_bytes())
    data[HEAD + 2] ^= 0x01  # inside the first record's body, the other four (and the seal) after it
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="byte 0: corrupt record \\(body checksum\\) in the middle"):
        read(tmp_path, cut_corrupt_tail=True)  # no flag cuts acknowledged records that follow the damage


def test_zeros_after_the_last_record_are_a_torn_write(tmp_path):
    write(tmp_path, BODIES[:5])
    (path,) = [p for _, p in segments(tmp_path)]
    unseal(path)
    path.write_bytes(path.read_bytes() + bytes(4096))
    got, r = read(tmp_path)
    assert len(got) == 5 and r.torn is not None and not r.torn.corrupt


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


def test_segments_are_sealed_when_they_roll_and_when_the_writer_closes(tmp_path):
    write(tmp_path, BODIES, segment_bytes=200)
    seals = [read_seal(p, p.stat().st_size) for _, p in segments(tmp_path)]
    assert all(seals)
    assert [s.first for s in seals] == [first for first, _ in segments(tmp_path)]
    assert [s.last + 1 for s in seals[:-1]] == [s.first for s in seals[1:]] and seals[-1].last == 40


def covered(directory):
    """40 records in sealed segments of ~200 bytes, all read as covered by a snapshot at record 40."""
    write(directory, BODIES, segment_bytes=200)
    return [p for _, p in segments(directory)]


def test_a_flipped_byte_in_a_segment_a_snapshot_covers_is_found(tmp_path):
    path = covered(tmp_path)[1]
    data = bytearray(path.read_bytes())
    data[HEAD + 3] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=f"{path} byte 0: corrupt record \\(body checksum\\)"):
        read(tmp_path, after=40)


def test_a_segment_a_snapshot_covers_cut_short_is_found(tmp_path):
    path = covered(tmp_path)[2]
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - SEAL_BYTES - 7)
    with pytest.raises(JournalError, match=f"{path} byte \\d+: corrupt record \\(incomplete body\\)"):
        read(tmp_path, after=40)


def test_a_deleted_segment_a_snapshot_covers_is_found(tmp_path):
    paths = covered(tmp_path)
    paths[3].unlink()
    with pytest.raises(JournalError, match=f"{paths[4].name}: segment starts at record \\d+, expected \\d+: a gap"):
        read(tmp_path, after=40)


def test_a_journal_ending_before_the_record_a_snapshot_includes_is_refused(tmp_path):
    paths = covered(tmp_path)
    paths[-1].unlink()  # the newest segment
    last = read_seal(paths[-2], paths[-2].stat().st_size).last
    with pytest.raises(JournalError, match=f"ends at record {last}, but the state it should continue \\(a snapshot\\) "
                                           f"includes records up to 40: segments holding records {last + 1}..40"):
        read(tmp_path, after=40)


def test_a_segment_a_snapshot_covers_is_checked_by_its_seal_without_reading_its_records(tmp_path):
    covered(tmp_path)
    got, r = read(tmp_path, after=40)
    assert got == [] and (r.records, r.last_seq, r.unsealed) == (40, 40, [])


def test_unsealed_segments_are_read_record_by_record_and_sealed_on_request(tmp_path):
    paths = covered(tmp_path)
    for p in paths:  # a format 1 journal: no seals
        unseal(p)
    got, r = read(tmp_path, after=40)
    assert got == [] and r.last_seq == 40 and [p for p, _, _ in r.unsealed] == paths
    r.seal()
    assert all(read_seal(p, p.stat().st_size) for p in paths)
    assert read(tmp_path)[0] == list(enumerate(BODIES, 1))


def test_after_a_failed_write_the_writer_refuses_to_append_and_closes_without_an_error(tmp_path):
    (tmp_path / "00000000000000000001.wal").symlink_to("/dev/full")  # every write fails with ENOSPC
    w = JournalWriter(tmp_path)
    with pytest.raises(JournalError, match="cannot write journal record 1 in .*: No space left on device"):
        w.append(b"x")
    with pytest.raises(JournalError, match="record 1 .*an earlier write failed \\(No space left on device\\)"):
        w.append(b"y")
    w.close()  # the append reported the failure; closing adds no seal and no second error
