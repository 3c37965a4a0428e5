"""The embedded publisher: fills batched into a hash-chained, fsynced ledger file; proofs against the file."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from chainkit import INSTRUMENTS, account_name, engine_run, feed
from kabuto.chain.batch import build_batch
from kabuto.chain.batcher import FillBatcher
from kabuto.chain.errors import ChainError, LedgerError, ProofError
from kabuto.chain.ledger import FILE, Ledger, LedgerPublisher
from kabuto.chain.merkle import ZERO
from kabuto.chain.proof import check_against_ledger, check_fill_proof, fill_proof

HERE = os.path.dirname(os.path.abspath(__file__))


def batch_to_ledger(path, stream, **kw):
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(path), **kw)
    feed(b, stream)
    b.close()
    return Ledger(path)


def committed_seqs(ledger):
    return np.concatenate([ledger.batch(n).fills["seq"] for n in range(ledger.count)])


@pytest.fixture(scope="module")
def ledger_500(tmp_path_factory, stream):
    """The test stream in batches of at most 500 fills."""
    return batch_to_ledger(tmp_path_factory.mktemp("ledger"), stream, max_fills=500, max_ms=60_000)


def test_batches_close_at_max_fills(ledger_500, all_fills):
    sizes = [ledger_500.record(n).fill_count for n in range(ledger_500.count)]
    assert sizes[:-1] == [500] * (len(sizes) - 1)
    assert 0 < sizes[-1] <= 500 and sum(sizes) == len(all_fills)


def test_every_fill_is_committed_once_in_seq_order(ledger_500, all_fills):
    assert committed_seqs(ledger_500).tolist() == [f.seq for f in all_fills]


def test_records_are_numbered_from_zero_and_hash_chained(ledger_500):
    prev, last_seq = ZERO, 0
    for n in range(ledger_500.count):
        r = ledger_500.record(n)
        assert r.batch == n and r.prev_hash == prev and r.first_seq == last_seq + 1
        prev, last_seq = r.hash, r.last_seq


def test_the_ledger_audit_recomputes_every_root(ledger_500):
    assert ledger_500.verify() == []


def test_proofs_of_random_fills_verify_against_the_ledger_file(ledger_500, all_fills):
    for f in random.Random(3).sample(all_fills, 25):
        doc = fill_proof(ledger_500, f.seq)
        assert doc["fill"]["qty"] == f.qty and doc["fill"]["maker_acct"] == f.maker_acct
        assert check_fill_proof(doc) == []
        assert check_against_ledger(doc, ledger_500) == []


def test_a_proof_for_a_changed_fill_is_rejected(ledger_500, all_fills):
    doc = fill_proof(ledger_500, all_fills[10].seq)
    doc["fill"]["qty"] += 1
    assert "the leaf is not the hash of the fill" in check_fill_proof(doc)


def test_a_proof_whose_batch_differs_from_the_ledger_is_rejected(ledger_500, all_fills):
    doc = fill_proof(ledger_500, all_fills[10].seq)
    doc["batch"]["settle_root"] = "0x" + "11" * 32
    doc["batch"].pop("hash")
    assert check_against_ledger(doc, ledger_500) != []


def test_asking_a_proof_of_a_non_fill_or_unknown_seq_is_an_error(ledger_500, all_fills):
    not_fill = next(s for s in range(1, all_fills[-1].seq) if s not in {f.seq for f in all_fills})
    with pytest.raises(ProofError, match="not a fill"):
        fill_proof(ledger_500, not_fill)
    with pytest.raises(ProofError, match="in no batch"):
        fill_proof(ledger_500, all_fills[-1].seq + 1)


def test_a_batch_closes_max_ms_after_its_first_fill_without_more_events(tmp_path, stream):
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=10**6, max_ms=50)
    events, first = stream[0]
    b.handle(events, first)
    deadline = time.monotonic() + 10
    while b.status()["published"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b.status()["published"] == 1
    b.close()
    assert Ledger(tmp_path).record(0).fill_count == int((events["kind"] == 1).sum())


def test_replaying_the_same_stream_into_the_ledger_commits_nothing_twice(tmp_path, stream, all_fills):
    batch_to_ledger(tmp_path, stream[:5], max_fills=300).close()
    ledger = batch_to_ledger(tmp_path, stream, max_fills=300)  # a replay of the whole log from seq 1
    assert committed_seqs(ledger).tolist() == [f.seq for f in all_fills]
    assert ledger.verify() == []


def test_feeding_a_different_log_into_a_used_ledger_is_refused(tmp_path, stream):
    batch_to_ledger(tmp_path, stream[:5], max_fills=300).close()
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=300)
    with pytest.raises(ChainError, match="differs from the fills already committed"):
        feed(b, engine_run(3_000, seed=8))
    b.close()
    assert Ledger(tmp_path).verify() == []


def test_feeding_a_shorter_different_log_into_a_used_ledger_is_refused(tmp_path, stream):
    batch_to_ledger(tmp_path, stream, max_fills=300).close()
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=300)
    with pytest.raises(ChainError, match="differs from the fills already committed"):
        feed(b, engine_run(1_000, seed=8))
    b.close()


def test_feeding_the_start_of_the_log_into_a_ledger_holding_more_is_refused_at_its_end(tmp_path, stream):
    ledger = batch_to_ledger(tmp_path, stream, max_fills=300)
    last = ledger.record(ledger.count - 1).last_seq
    ledger.close()
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=300)
    feed(b, stream[:3])
    with pytest.raises(ChainError, match=f"already commits fills up to seq {last}: a shorter or different log"):
        b.close()


def test_a_batcher_stopped_mid_stream_resumes_without_gap_or_duplicate(tmp_path, stream, all_fills):
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=200)
    feed(b, stream[:6])
    b.flush()
    feed(b, stream[6:8])  # taken by the engine thread but never batched: lost with the process
    b.abort()
    b.publisher.close()
    ledger = batch_to_ledger(tmp_path, stream, max_fills=200)
    assert committed_seqs(ledger).tolist() == [f.seq for f in all_fills]


def test_kill_9_mid_stream_then_restart_leaves_no_gap_or_duplicate(tmp_path, all_fills):
    cmd = [sys.executable, os.path.join(HERE, "run_batcher.py"), str(tmp_path), "--max-fills", "100",
           "--pause", "0.1"]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout.readline() == "started\n"  # imported, compiled, about to feed
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if (tmp_path / FILE).exists() and Ledger(tmp_path).count >= 5:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_at = Ledger(tmp_path).count
    assert 5 <= killed_at < 30
    done = subprocess.run(cmd[:-2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ledger = Ledger(tmp_path)
    assert committed_seqs(ledger).tolist() == [f.seq for f in all_fills]
    assert ledger.verify() == []
    assert not list((tmp_path / "queue").iterdir())


def test_a_torn_last_frame_is_cut_and_the_ledger_goes_on(tmp_path, stream, all_fills):
    batch_to_ledger(tmp_path, stream[:4], max_fills=500).close()
    good = (tmp_path / FILE).stat().st_size
    with open(tmp_path / FILE, "ab") as f:
        f.write(b"KBL2" + (10_000).to_bytes(8, "little") + b"half a frame")  # a crash mid-append
    ledger = batch_to_ledger(tmp_path, stream, max_fills=500)
    assert committed_seqs(ledger).tolist() == [f.seq for f in all_fills]
    assert (tmp_path / FILE).stat().st_size > good


def test_the_bytes_of_a_cut_torn_frame_are_kept_beside_the_ledger(tmp_path, stream):
    batch_to_ledger(tmp_path, stream[:4], max_fills=500).close()
    good = (tmp_path / FILE).stat().st_size
    torn = Ledger(tmp_path).entries[-1]
    with open(tmp_path / FILE, "r+b") as f:
        f.truncate(good - 100)
        f.seek(torn.offset)
        kept = f.read()
    LedgerPublisher(tmp_path).close()
    assert (tmp_path / FILE).stat().st_size == torn.offset
    assert (tmp_path / f"{FILE}.cut-{torn.offset}").read_bytes() == kept


def flip(path, at: int) -> None:
    """Flip every bit of the byte at offset `at` of a file."""
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_a_flipped_byte_in_a_middle_frames_length_stops_readers_and_writers_with_the_byte(tmp_path, stream):
    batch_to_ledger(tmp_path, stream, max_fills=500).close()
    e = Ledger(tmp_path).entries[4]
    size = (tmp_path / FILE).stat().st_size
    flip(tmp_path / FILE, e.offset + 5)  # the length field
    for writable in (False, True):
        with pytest.raises(LedgerError, match=f"corrupt frame header at byte {e.offset}$"):
            Ledger(tmp_path, writable=writable)
    assert (tmp_path / FILE).stat().st_size == size  # nothing was cut


def test_a_middle_frame_failing_its_checksum_stops_the_open_with_the_byte(tmp_path, stream):
    batch_to_ledger(tmp_path, stream, max_fills=500).close()
    e = Ledger(tmp_path).entries[1]
    flip(tmp_path / FILE, e.offset + 20 + e.length - 5)  # a byte of the fills, not of the header
    for writable in (False, True):
        with pytest.raises(LedgerError, match=f"the frame at byte {e.offset} \\(batch 1\\) fails its checksum"):
            Ledger(tmp_path, writable=writable)


def test_a_ledger_of_the_old_frame_format_is_refused_with_a_clear_error(tmp_path):
    (tmp_path / FILE).write_bytes(b"KBL1" + (3).to_bytes(8, "little") + b"abc" + bytes(4))
    with pytest.raises(LedgerError, match="old format \\(KBL1\\)"):
        Ledger(tmp_path)


def test_a_torn_tail_is_reported_by_the_audit_when_no_writer_holds_the_ledger(tmp_path, stream):
    whole = batch_to_ledger(tmp_path, stream[:4], max_fills=500)
    whole.close()
    with open(tmp_path / FILE, "r+b") as f:
        f.truncate(f.seek(0, 2) - 100)
    ledger = Ledger(tmp_path)
    assert ledger.count == whole.count - 1
    assert ledger.verify() == [f"ledger {tmp_path / FILE}: a torn last frame at byte {whole.entries[-1].offset} "
                               f"({whole.entries[-1].length + 20 - 100} bytes), left by a crash: the next writer "
                               f"cuts it and batches its fills again"]


def test_a_half_written_frame_is_no_problem_while_its_writer_holds_the_ledger(tmp_path, stream):
    batch_to_ledger(tmp_path, stream[:4], max_fills=500).close()
    writer = LedgerPublisher(tmp_path)
    with open(tmp_path / FILE, "ab") as f:
        f.write(b"KBL2" + (10_000).to_bytes(8, "little"))  # an append under way
    assert Ledger(tmp_path).verify() == []
    writer.close()


def test_a_batch_whose_seq_range_does_not_continue_the_ledger_is_refused(tmp_path, stream):
    ledger = batch_to_ledger(tmp_path, stream[:4], max_fills=500)
    last, first = ledger.record(ledger.count - 1), ledger.batch(0)
    ledger.close()
    rows = first.fills[:3].copy()
    rows["seq"] += last.last_seq + 100
    gap = build_batch(last.batch + 1, last.hash, last.last_seq + 50, rows, first.symbols, first.accounts)
    pub = LedgerPublisher(tmp_path)
    with pytest.raises(LedgerError, match=f"not from {last.last_seq + 1} where batch {last.batch} ends"):
        pub.publish(gap)
    pub.close()


def test_a_second_writer_is_refused(tmp_path):
    first = LedgerPublisher(tmp_path)
    with pytest.raises(LedgerError, match="in use"):
        LedgerPublisher(tmp_path)
    first.close()
    LedgerPublisher(tmp_path).close()
