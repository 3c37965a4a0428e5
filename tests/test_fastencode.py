"""The numba event encoder writes exactly the text of the Python encoder."""
import inspect

import pytest
from kabuto.engine.codes import Ev
from kabuto.engine.engine import Engine
from kabuto.replay.eventlog import Encoder
from kabuto.replay.orderlog import Decoder
from kabuto.replay.replay import make_engine
from orderlogs import INSTRUMENTS, random_log
from risklogs import RISK, random_risk_log


@pytest.mark.parametrize("seed", range(3))
def test_numba_encoder_writes_the_python_encoders_text(seed):
    decoder = Decoder(INSTRUMENTS)
    decoder.accounts.id("naïve \"quoted\" \\ name")  # a name only the Python decoder can spell
    encoder = Encoder(INSTRUMENTS, decoder.accounts)
    cmds = decoder.decode_chunk(random_log(seed, 4000), 1)
    events = Engine(INSTRUMENTS).process(cmds)
    assert len(events) > 3000
    assert encoder.encode_bytes(events, 17).decode() == encoder.encode(events, 17)


def test_numba_encoder_prints_accounts_with_json_escapes():
    decoder = Decoder(INSTRUMENTS)
    log = ('{"op":"new","oid":1,"acct":"mm \\"one\\"","sym":"TSLAx-USD","side":"sell","type":"limit",'
           '"px":"1.00","qty":"1"}\n'
           '{"op":"new","oid":2,"acct":"b\\u00e9","sym":"TSLAx-USD","side":"buy","type":"limit","px":"1.00","qty":"1"}\n')
    events = Engine(INSTRUMENTS).process(decoder.decode_chunk(log.encode(), 1))
    text = Encoder(INSTRUMENTS, decoder.accounts).encode_bytes(events, 1).decode()
    assert '"maker_acct":"mm \\"one\\"","taker_acct":"b\\u00e9"' in text


@pytest.mark.parametrize("kind", ["reference", pytest.param("numba", marks=pytest.mark.skipif(
    "risk" not in inspect.signature(Engine).parameters, reason="the numba engine does not take risk= yet"))])
def test_numba_encoder_writes_the_python_encoders_text_with_risk_on(kind):
    decoder = Decoder(INSTRUMENTS, risk=RISK)
    fee_acct = decoder.accounts.id("@fees")
    encoder = Encoder(INSTRUMENTS, decoder.accounts, RISK)
    cmds = decoder.decode_chunk(random_risk_log(3, 3000), 1)
    events = make_engine(kind, INSTRUMENTS, RISK, fee_acct).process(cmds)
    assert (events["kind"] == Ev.BALANCE).sum() > 100
    assert encoder.encode_bytes(events, 5).decode() == encoder.encode(events, 5)
