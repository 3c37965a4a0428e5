"""The numba event encoder writes exactly the text of the Python encoder."""
import pytest
from kabuto.engine.engine import Engine
from kabuto.replay.eventlog import Encoder
from kabuto.replay.orderlog import Decoder
from orderlogs import INSTRUMENTS, random_log


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
