"""A real `kabuto serve` (CurveZMQ, free tcp ports) shared by the gateway tests, and SDK client factories.

Each test module trades its own symbols and accounts, so tests sharing the venue cannot see each
other's orders.
"""
from __future__ import annotations

import pytest
from gatewaykit import ACCOUNTS, OPERATOR, ORACLE, Venue, start_venue
from kabuto.gateway.keys import add_client


@pytest.fixture(scope="session")
def shared_venue(tmp_path_factory):
    """One CurveZMQ venue for the whole test session; stopped with SIGTERM at the end."""
    data_dir = tmp_path_factory.mktemp("venue")
    key_file = data_dir / "clients.toml"
    for name in ACCOUNTS:
        add_client(data_dir, key_file, name)
    serve = start_venue(data_dir, ["--keys", str(key_file), "--operators", OPERATOR, "--oracles", ORACLE, "--l3"])
    v = Venue(data_dir, serve)
    yield v
    v.close_clients()
    rc = serve.stop()
    assert rc == 0, "".join(serve.lines)


@pytest.fixture
def venue(shared_venue):
    """The shared venue, with every client a test opens closed after the test."""
    yield shared_venue
    shared_venue.close_clients()
