"""A disk that refuses writes: a failed snapshot gives its space back, a failed journal write is reported as
such and nothing unjournaled is acknowledged.

Two real ways to make writes fail, both on a real `kabuto serve`: a 1 MiB tmpfs that fills up (ENOSPC;
needs root to mount, skipped otherwise) and a file size limit set in the venue process (RLIMIT_FSIZE
with SIGXFSZ ignored: a write past it fails with EFBIG), which needs no privilege."""
from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import pytest
from journalkit import Serve, events
from kabuto.durability.recovery import replay_journal
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.client import Client, new_command

from tests.polling import wait_until

INSTRUMENTS = load_instruments(None)


@dataclass
class Disk:
    """Where the venue's data directory goes, what its process runs first, the error its writes meet."""
    data: Path
    preexec_fn: object
    error: str


def limit_file_size(nbytes: int):
    """A preexec_fn: files of the process may not grow past nbytes; a write past it fails (EFBIG)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


@pytest.fixture(params=["full filesystem", "file size limit"])
def disk(request, tmp_path):
    if request.param == "file size limit":
        yield Disk(tmp_path / "venue", limit_file_size(256 << 10), "File too large")
        return
    mnt = tmp_path / "disk"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if p.returncode:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here (needs root): {p.stderr.strip()}; the file size limit "
                    f"variant of this test makes writes fail without a mount")
    try:
        yield Disk(mnt / "venue", None, "No space left on device")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def trade(c: Client, serve: Serve, n: int = 50) -> list | None:
    """One batch frame of n orders crossing each other (nothing stays on the book): their `accepted`
    reports, or None when the venue exited instead of answering."""
    cmds = [new_command(c.next_req(), c.next_cl_oid(), "TSLAx-USD", ("buy", "sell")[i % 2], "1", "100.00")
            for i in range(n)]
    c.batch(cmds)
    deadline = time.monotonic() + 60
    while sum(r.ev == "accepted" for r in c.reports) < n:
        if serve.proc.poll() is not None:
            c.poll(0.5)  # anything it sent before it exited
            return None
        assert time.monotonic() < deadline, "the venue neither answered nor exited:\n" + serve.text()
        c.poll(0.05)
    accepted = [r for r in c.reports if r.ev == "accepted"]
    for r in accepted:
        c.reports.remove(r)
    return accepted


def test_a_failed_snapshot_removes_its_temporary_file_and_the_journal_keeps_the_space(disk):
    serve = Serve(disk.data, ["--snapshot-every", "0", "--segment-bytes", "65536"], preexec_fn=disk.preexec_fn)
    try:
        with Client.from_data_dir(disk.data, "alice") as c:
            assert trade(c, serve)
            serve.proc.send_signal(signal.SIGUSR1)  # a snapshot after the next batch: 7.5 MB, it cannot fit
            assert trade(c, serve)
            assert wait_until(lambda: "failed: cannot write snapshot" in serve.text()), serve.text()
            assert disk.error in serve.text()
            assert list((disk.data / "snapshots").glob("*")) == []  # no snapshot, no temporary file
            for _ in range(20):  # 1,000 more orders journaled (~100 KB): the disk still has room for them
                assert trade(c, serve), serve.text()
    finally:
        assert serve.stop() == 0, serve.text()


def test_a_journal_write_failure_stops_the_venue_with_that_error_and_acknowledges_nothing_unjournaled(disk,
                                                                                                      tmp_path):
    serve = Serve(disk.data, preexec_fn=disk.preexec_fn)  # a shutdown snapshot is due (--snapshot-every)
    received = []
    try:
        with Client.from_data_dir(disk.data, "alice") as c:
            while (reports := trade(c, serve)) is not None:
                received += reports
            received += c.reports  # what arrived of the batch the journal could not hold: nothing
        rc = serve.proc.wait(timeout=60)
    finally:
        serve.proc.kill()
    serve._reader.join(timeout=10)
    last = serve.lines[-1]
    assert rc == 2, serve.text()
    assert last.startswith("kabuto: cannot write journal record ") and last.rstrip().endswith(disk.error), last
    assert "cannot write snapshot" not in serve.text()
    assert sum(r.ev == "accepted" for r in received) > 1000

    # a copy where writes succeed starts (what the failed write left is a torn record, cut), and every
    # report sent before the failure is an event of the journal
    data = tmp_path / "copy"
    shutil.copytree(disk.data, data)
    restarted = Serve(data)
    assert restarted.stop() == 0, restarted.text()
    out = tmp_path / "events.jsonl"
    replay_journal(Namespace(orders=str(data), events=str(out), book_out=None, instruments=None))
    evs = {e["seq"]: e for e in events(out)}
    for r in received:
        assert evs[r.seq]["ev"] == r.ev, r
        if r.ev == "accepted":
            assert evs[r.seq]["oid"] == r.oid
