"""`kabuto fix`: the FIX 4.4 order entry adapter in front of a running venue (adapters/fix)."""
from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

log = logging.getLogger(__name__)

FIX_HELP = """\
Accept FIX 4.4 order entry sessions on TCP in front of a running `kabuto serve` (found through
DATA_DIR/endpoints.json). Each FIX session logs on with Username (553) and Password (554) from the
--fix-users file and trades for its account through a venue session of its own; its CurveZMQ key pair
is created in DATA_DIR on first use. Sequence numbers and sent messages are kept in --store.
SIGINT or SIGTERM logs every session out. Rules of engagement: docs/fix.md."""


def register(subparsers) -> None:
    """Add the fix subcommand."""
    p = subparsers.add_parser("fix", help="FIX 4.4 order entry adapter in front of a running venue",
                              description=FIX_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fix-users", type=Path, required=True, metavar="FILE",
                   help="TOML file of [[user]] tables: sender_comp_id, password, account (username, cod optional)")
    p.add_argument("--data-dir", type=Path, default=Path("kabuto-data"), metavar="DIR",
                   help="the venue's data directory: endpoints.json and keys (default: %(default)s)")
    p.add_argument("--keys", type=Path, metavar="FILE",
                   help="the venue's client key file new key pairs are added to (default: DATA_DIR/clients.toml)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=9878, help="TCP port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--comp-id", default="KABUTO", metavar="ID",
                   help="the acceptor's CompID: initiators' TargetCompID (default: %(default)s)")
    p.add_argument("--store", type=Path, metavar="DIR",
                   help="session store directory: sequence numbers and sent messages (default: DATA_DIR/fix)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the acceptor until SIGINT or SIGTERM."""
    from kabuto.adapters.fix.acceptor import Acceptor
    from kabuto.adapters.fix.users import load_users

    users = load_users(args.fix_users)
    acceptor = Acceptor(host=args.host, port=args.port, comp_id=args.comp_id, users=users,
                        store_dir=args.store or args.data_dir / "fix", data_dir=args.data_dir, key_file=args.keys)
    signal.signal(signal.SIGINT, lambda *_: acceptor.stop())
    signal.signal(signal.SIGTERM, lambda *_: acceptor.stop())
    host, port = acceptor.address
    log.info("ready: FIX 4.4 acceptor %s on %s:%d (%d users)", args.comp_id, host, port, len(users))
    acceptor.serve_forever()
    log.info("stopped")
    return 0
