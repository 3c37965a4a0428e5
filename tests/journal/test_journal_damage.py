"""A damaged journal stops `kabuto serve` with the file and byte, also where a snapshot covers it; only a
torn last write is cut by itself, a corrupt end only on the operator's word (--truncate-corrupt-tail)."""
from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from journalkit import Serve, refused, unseal
from kabuto.durability.journal import HEAD, read_seal, segments
from kabuto.gateway.client import Client

from tests.polling import wait_until

SMALL = ["--segment-bytes", "2000"]  # about 15 one-order records per segment


def place(data: Path, prices: range) -> None:
    with Client.from_data_dir(data, "alice") as c:
        for i in prices:
            c.new("TSLAx-USD", "buy", "1", f"{90 + i / 100:.2f}", cl_oid=f"o{i}")
            c.wait_report(lambda r: r.ev == "accepted")


def listed(data: Path, extra: list[str] = ()) -> list:
    """The live orders a venue started on data lists (it starts, or the test fails)."""
    serve = Serve(data, [*SMALL, *extra])
    try:
        with Client.from_data_dir(data, "alice") as c:
            return sorted(o[0] for o in c.orders())
    finally:
        assert serve.stop() == 0, serve.text()


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """60 orders over 4+ sealed segments, then a graceful stop: the shutdown snapshot covers every record."""
    data = tmp_path_factory.mktemp("stopped") / "venue"
    serve = Serve(data, SMALL)
    place(data, range(60))
    assert serve.stop() == 0, serve.text()
    assert len(segments(data / "journal")) >= 4
    return data


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> Path:
    """30 orders, a snapshot, 30 more orders, kill -9: the last segment is open, its records after the snapshot."""
    data = tmp_path_factory.mktemp("killed") / "venue"
    serve = Serve(data, ["--snapshot-every", "0", *SMALL])
    place(data, range(30))
    serve.proc.send_signal(signal.SIGUSR1)  # a snapshot after the next batch
    place(data, range(30, 60))
    assert wait_until(lambda: list((data / "snapshots").glob("*.snap"))), serve.text()
    serve.kill9()
    last = segments(data / "journal")[-1][1]
    assert read_seal(last, last.stat().st_size) is None
    return data


def copy(src: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    data = tmp_path / "venue"
    shutil.copytree(src, data)
    return data, [p for _, p in segments(data / "journal")]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


ALL = sorted(f"o{i}" for i in range(60))


def test_a_flipped_byte_in_a_record_the_snapshot_covers_stops_the_venue(stopped, tmp_path):
    data, segs = copy(stopped, tmp_path)
    flip(segs[1], HEAD + 5)
    rc, out = refused(data, SMALL)
    assert rc == 2 and f"kabuto: {segs[1]} byte 0: corrupt record (body checksum) in the middle of the journal" in out


def test_a_segment_the_snapshot_covers_cut_short_stops_the_venue(stopped, tmp_path):
    data, segs = copy(stopped, tmp_path)
    with open(segs[1], "r+b") as f:
        f.truncate(segs[1].stat().st_size - 100)
    rc, out = refused(data, SMALL)
    assert rc == 2 and f"kabuto: {segs[1]} byte" in out and "corrupt record (incomplete body) in the middle" in out


def test_a_deleted_middle_segment_stops_the_venue(stopped, tmp_path):
    data, segs = copy(stopped, tmp_path)
    segs[1].unlink()
    rc, out = refused(data, SMALL)
    assert rc == 2 and f"kabuto: {segs[2].name}: segment starts at record {int(segs[2].stem)}, expected " \
                       f"{int(segs[1].stem)}: a gap" in out


def test_a_deleted_newest_segment_stops_the_venue(stopped, tmp_path):
    data, segs = copy(stopped, tmp_path)
    (snap,) = (data / "snapshots").glob("*.snap")
    last = int(snap.stem)  # the journal record the snapshot includes
    segs[-1].unlink()
    rc, out = refused(data, SMALL)
    assert rc == 2
    assert f"ends at record {int(segs[-1].stem) - 1}, but the state it should continue (a snapshot) includes " \
           f"records up to {last}" in out


def test_a_pruned_start_of_the_journal_is_not_damage(stopped, tmp_path):
    data, segs = copy(stopped, tmp_path)
    segs[0].unlink()  # what --prune-journal does once the snapshot covers it
    assert listed(data) == ALL


def test_a_torn_last_record_is_cut_by_itself(killed, tmp_path):
    data, segs = copy(killed, tmp_path)
    with open(segs[-1], "r+b") as f:
        f.truncate(segs[-1].stat().st_size - 5)
    assert listed(data) == sorted(f"o{i}" for i in range(59))


def test_garbage_after_the_last_record_stops_the_venue_as_a_corrupt_end_at_its_byte(killed, tmp_path):
    data, segs = copy(killed, tmp_path)
    end = segs[-1].stat().st_size
    with open(segs[-1], "ab") as f:
        f.write(bytes(range(1, 151)) * 2)
    rc, out = refused(data, SMALL)
    assert rc == 2, out
    assert f"kabuto: {segs[-1]} byte {end}: 300 unreadable bytes after record " in out
    assert "not a torn write" in out and "--truncate-corrupt-tail" in out and "middle" not in out


def test_truncate_corrupt_tail_cuts_garbage_after_the_last_record_and_keeps_every_order(killed, tmp_path):
    data, segs = copy(killed, tmp_path)
    end = segs[-1].stat().st_size
    with open(segs[-1], "ab") as f:
        f.write(bytes(range(1, 151)) * 2)
    assert listed(data, ["--truncate-corrupt-tail"]) == ALL
    assert read_seal(segs[-1], segs[-1].stat().st_size).size == end  # cut there, then sealed


def test_a_flipped_byte_in_the_complete_last_record_stops_the_venue(killed, tmp_path):
    data, segs = copy(killed, tmp_path)
    flip(segs[-1], segs[-1].stat().st_size - 3)
    rc, out = refused(data, SMALL)
    assert rc == 2, out
    assert f"kabuto: {segs[-1]} byte " in out and "is complete" in out and "fails its checksum" in out
    assert "not a torn write" in out


def test_truncate_corrupt_tail_cuts_a_damaged_last_record(killed, tmp_path):
    data, segs = copy(killed, tmp_path)
    flip(segs[-1], segs[-1].stat().st_size - 3)
    assert listed(data, ["--truncate-corrupt-tail"]) == sorted(f"o{i}" for i in range(59))


def test_a_restart_seals_the_segment_a_crash_left_open(killed, tmp_path):
    data, segs = copy(killed, tmp_path)
    assert listed(data) == ALL
    seal = read_seal(segs[-1], segs[-1].stat().st_size)
    assert seal is not None and seal.first == int(segs[-1].stem)
    flip(segs[-1], HEAD + 1)  # now covered by the shutdown snapshot, and found by its seal
    rc, out = refused(data, SMALL)
    assert rc == 2 and f"{segs[-1]} byte 0: corrupt record (body checksum)" in out


def test_a_format_1_journal_is_read_and_sealed_as_format_2(stopped, tmp_path):
    data, segs = copy(stopped, tmp_path)
    meta = data / "journal" / "journal.json"
    doc = json.loads(meta.read_text())
    assert doc["version"] == 2
    meta.write_text(json.dumps({**doc, "version": 1}))
    for p in segs:  # format 1 wrote no seals
        unseal(p)
    assert listed(data) == ALL
    assert all(read_seal(p, p.stat().st_size) for p in segs)
    assert json.loads(meta.read_text())["version"] == 2


def test_a_journal_of_an_unknown_format_is_refused(stopped, tmp_path):
    data, _ = copy(stopped, tmp_path)
    meta = data / "journal" / "journal.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": 3}))
    rc, out = refused(data, SMALL)
    assert rc == 2 and "is format 3: this Kabuto reads formats 1 to 2" in out
