"""A client process for the cancel-on-disconnect tests: rests orders, prints "ready", then heartbeats forever.

    python cod_client.py DATA_DIR ACCOUNT SYMBOL cod|nocod
"""
import sys

from kabuto.gateway.client import Client


def main() -> None:
    data_dir, account, sym, mode = sys.argv[1:5]
    c = Client.from_data_dir(data_dir, account, cod=mode == "cod", heartbeat=0.2)
    for i in range(3):
        c.new(sym, "buy", "1", f"{100 + i}", cl_oid=f"{mode}{i}")
    assert [r.ev for r in c.wait_reports(3)] == ["accepted"] * 3
    print("ready", flush=True)
    while True:
        c.poll(0.1)


if __name__ == "__main__":
    main()
