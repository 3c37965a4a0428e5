"""A venue comes back from any number of kill -9 restarts, and never hands out an order id twice."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from journalkit import KABUTO, Serve
from kabuto.durability.snapshot import snapshot_name
from kabuto.gateway.client import Client

from tests.polling import wait_until

COD_ACCOUNTS = ("bob", "carol", "dave")


def rest_orders(data, account: str, cod: bool, n: int, tag: str) -> Client:
    """A connected client of an account with n resting buys, acknowledged."""
    c = Client.from_data_dir(data, account, cod=cod)
    for i in range(n):
        c.new("TSLAx-USD", "buy", "1", f"{90 + i}.00", cl_oid=f"{tag}-{i}")
        c.wait_report(lambda r, cl=f"{tag}-{i}": r.ev == "accepted" and r.cl_oid == cl)
    return c


def test_a_venue_comes_back_from_repeated_crashes_with_cancel_on_disconnect_orders_resting(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data)
    for round_ in range(4):
        clients = [rest_orders(data, "alice", False, 2, f"keep{round_}")]  # account 0: no cancel-on-disconnect
        clients += [rest_orders(data, name, True, 3, f"cod{round_}") for name in COD_ACCOUNTS]  # accounts 1..3
        serve.kill9()  # with every connection open: the restart, not a disconnect, cancels the cod orders
        for c in clients:
            c.close(logout=False)
        serve = Serve(data)  # raises when the venue does not come up
        assert f"canceled {3 * len(COD_ACCOUNTS)} orders of cancel-on-disconnect sessions" in serve.text()
    try:
        with Client.from_data_dir(data, "alice") as c:
            assert sorted(o[0] for o in c.orders()) == sorted(f"keep{r}-{i}" for r in range(4) for i in range(2))
        for name in COD_ACCOUNTS:
            with Client.from_data_dir(data, name) as c:
                assert c.orders() == []
    finally:
        assert serve.stop() == 0, serve.text()
    restarted = Serve(data)  # and once more after a clean stop
    assert restarted.stop() == 0, restarted.text()


def test_order_ids_are_never_handed_out_again_after_a_crash(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data)
    seen: list[int] = []
    for round_ in range(3):
        with Client.from_data_dir(data, "alice") as c:
            for i in range(3):  # orders that finish at once: nothing of them rests for recovery to see
                c.new("TSLAx-USD", "buy", "1", "1.00", tif="IOC", cl_oid=f"ioc{round_}-{i}")
                r = c.wait_report(lambda r, cl=f"ioc{round_}-{i}": r.ev == "accepted" and r.cl_oid == cl)
                seen.append(r.oid)
        serve.kill9()
        serve = Serve(data)
    try:
        with Client.from_data_dir(data, "alice") as c:
            c.new("TSLAx-USD", "buy", "1", "1.00", cl_oid="last")
            seen.append(c.wait_report(lambda r: r.ev == "accepted" and r.cl_oid == "last").oid)
    finally:
        assert serve.stop() == 0, serve.text()
    assert len(set(seen)) == len(seen), seen


def test_a_batch_that_fails_after_its_journal_record_leaves_no_snapshot_that_disagrees_with_the_journal(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    data = tmp_path / "venue"
    sink = ["--sink", "failing_sink:make", "--snapshot-every", "1"]
    serve = Serve(data, sink)
    with Client.from_data_dir(data, "alice") as c:
        c.new("TSLAx-USD", "buy", "1", "99.00", cl_oid="before")
        c.wait_report(lambda r: r.ev == "accepted")
        # every sink has seen that batch once its snapshot (the journal's sink comes last) is on disk
        assert wait_until(lambda: (data / "snapshots" / snapshot_name(1)).exists())
        (data / "fail-sink").touch()
        c.new("TSLAx-USD", "buy", "1", "98.00", cl_oid="failing")  # journaled and matched, then the sink raises
        assert serve.proc.wait(timeout=60) != 0
    (data / "fail-sink").unlink()
    restarted = Serve(data, sink)
    try:
        with Client.from_data_dir(data, "alice") as c:
            assert sorted(o[0] for o in c.orders()) == ["before", "failing"]
            c.new("TSLAx-USD", "buy", "1", "97.00", cl_oid="after")  # a record after the restart
            c.wait_report(lambda r: r.ev == "accepted")
    finally:
        assert restarted.stop() == 0, restarted.text()
    out = subprocess.run([KABUTO, "replay", str(data)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr  # every record's event hash checks from the journal's start
    assert [json.loads(line)["oid"] for line in out.stdout.splitlines()] == [1, 2, 3]
