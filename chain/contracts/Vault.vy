# pragma version ~=0.4.3
"""
@title Vault
@notice Kabuto's custodian with risk on (docs/balances.md 13): it holds the ERC-20 tokens behind the
        venue's balances, commits the venue's batch records (fills, settlement, balances and
        withdrawals roots), pays withdrawals by Merkle proof, and, after `freeze_after` seconds
        without a commit, freezes for good and lets every user leave with the balance of the last
        committed root (the escape hatch) or take back a deposit the venue never credited.
@dev Record hash = keccak256(abi_encode(batch, prev_hash, first_seq, last_seq, fill_count, fills_root,
     settle_root, balances_root, withdrawals_root, deposit_count)). Leaves are
     keccak256(keccak256(abi.encode(values))); internal nodes hash the sorted pair of their children
     (OpenZeppelin StandardMerkleTree / MerkleProof). Amounts in leaves and events are venue units;
     the vault pays amount * quantum token units (StarkEx's quantum).
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

MAX_PROOF: constant(uint256) = 32  # enough for 2**32 leaves (a claim's memory grows with it)
MAX_HOLDINGS: constant(uint256) = 2**62 - 1  # the venue's largest amount (docs/balances.md 2)
NO_BATCH: constant(uint64) = max_value(uint64)  # Frozen(last_batch) when nothing was ever committed
WIDS_PER_WORD: constant(uint256) = 255  # claimed marks: bit wid % 255 of word wid // 255
IN_USE: constant(uint256) = 1 << 255  # bit 255 of a claimed word: the word is in use (never a wid's mark)
MAX_PREPARED_WORDS: constant(uint256) = 256  # words one commit marks in use (65,280 wids)
FEES: constant(String[5]) = "@fees"  # the venue's fee account: its owner is the fee recipient

struct Deposit:
    depositor: address
    token: address  # the asset's token (registrations never change): one slot, not a string's three
    amount: uint256  # token units

event BatchCommitted:
    batch: indexed(uint64)
    record_hash: bytes32
    prev_hash: bytes32
    first_seq: uint64
    last_seq: uint64
    fill_count: uint64
    fills_root: bytes32
    settle_root: bytes32
    balances_root: bytes32
    withdrawals_root: bytes32
    deposit_count: uint64

event AssetRegistered:
    asset: String[40]
    token: indexed(address)
    decimals: uint8
    quantum: uint256

event Deposited:
    id: indexed(uint64)
    account: String[64]
    asset: String[40]
    amount: uint256  # venue units
    depositor: indexed(address)

event Claimed:
    wid: indexed(uint64)  # the leaf, payee and amount are in the ledger, the claim's calldata and the token's Transfer

event Frozen:
    last_batch: uint64

event Escaped:
    account: String[64]
    asset: String[40]
    total: uint256
    to: address

event Reclaimed:
    dep: uint64
    to: address

event OperatorChanged:
    previous: indexed(address)
    operator: indexed(address)

event OwnerChanged:
    previous: indexed(address)
    owner: indexed(address)

event FeeRecipientChanged:
    recipient: indexed(address)

event PauseChanged:
    paused: bool

owner: public(address)
operator: public(address)
paused: public(bool)
frozen: public(bool)
freeze_after: public(immutable(uint256))

# assets: token address in the low 160 bits, log10(quantum) in the next 8, registered flag above
_asset: HashMap[String[40], uint256]
owner_of: public(HashMap[String[64], address])  # "@fees" -> the fee recipient (no deposit can name it)

deposit_counter: public(uint64)
deposits: HashMap[uint64, Deposit]
reclaimed: public(HashMap[uint64, bool])

next_batch: public(uint64)
last_hash: public(bytes32)
last_seq: public(uint64)
deposit_count: public(uint64)  # of the last committed batch
last_commit_time: public(uint256)
fills_root: public(HashMap[uint64, bytes32])
settle_root: public(HashMap[uint64, bytes32])
balances_root: public(HashMap[uint64, bytes32])
withdrawals_root: public(HashMap[uint64, bytes32])

_claimed: HashMap[uint256, uint256]  # bitmap by wid, 255 per word, bit 255 = in use (a claim pays 5k, not 22k)
escaped: public(HashMap[bytes32, bool])  # by keccak256(abi_encode(account, asset))


@deploy
def __init__(operator: address, freeze_after_s: uint256):
    assert freeze_after_s > 0, "freeze_after must be positive"
    self.owner = msg.sender
    self.operator = operator
    self.owner_of[FEES] = msg.sender
    freeze_after = freeze_after_s
    self.last_commit_time = block.timestamp
    log OperatorChanged(previous=empty(address), operator=operator)


# -- assets and deposits ------------------------------------------------------------------------------

@external
def register_asset(asset: String[40], token: address, decimals: uint8):
    """
    @notice Register a venue asset once (owner only): its token and venue decimals; quantum =
            10^(token decimals - decimals). A registration cannot be changed.
    """
    assert msg.sender == self.owner, "not owner"
    assert len(asset) > 0, "empty asset"
    assert self._asset[asset] == 0, "asset registered"
    assert token != empty(address), "zero token"
    token_decimals: uint8 = staticcall IERC20Detailed(token).decimals()
    assert token_decimals >= decimals, "token has fewer decimals"
    e: uint256 = convert(token_decimals - decimals, uint256)
    assert e <= 77, "quantum too large"
    self._asset[asset] = convert(token, uint256) | (e << 160) | (1 << 168)
    log AssetRegistered(asset=asset, token=token, decimals=decimals, quantum=10 ** e)


@view
@external
def asset_token(asset: String[40]) -> address:
    """
    @notice The token behind a registered asset (zero address when not registered).
    """
    return convert(convert(self._asset[asset] & convert(max_value(uint160), uint256), uint160), address)


@view
@external
def quantum(asset: String[40]) -> uint256:
    """
    @notice Token units per venue unit of a registered asset (0 when not registered).
    """
    a: uint256 = self._asset[asset]
    if a == 0:
        return 0
    return 10 ** ((a >> 160) & 255)


@view
@internal
def _token(asset: String[40]) -> (address, uint256):
    a: uint256 = self._asset[asset]
    assert a != 0, "unknown asset"
    return convert(convert(a & convert(max_value(uint160), uint256), uint160), address), 10 ** ((a >> 160) & 255)


@pure
@internal
def _valid_account(account: String[64]) -> bool:
    b: Bytes[64] = convert(account, Bytes[64])
    n: uint256 = len(b)
    if n == 0:
        return False
    for i: uint256 in range(64):
        if i >= n:
            break
        c: uint256 = convert(slice(b, i, 1), uint256)
        ok: bool = (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or (c >= 48 and c <= 57)
        if not (ok or c == 46 or c == 95 or c == 45):  # . _ -
            return False
    return True


@external
def deposit(asset: String[40], amount: uint256, account: String[64]):
    """
    @notice Deposit `amount` token units of a registered asset for venue account `account`. The first
            depositor of an account owns it for good; only the owner deposits to it later. The venue
            credits the deposit (by its id) after N confirmations.
    """
    assert not self.frozen, "frozen"
    token: address = empty(address)
    q: uint256 = 0
    token, q = self._token(asset)
    assert amount > 0, "zero amount"
    assert amount % q == 0, "amount not a multiple of the quantum"
    assert self._valid_account(account), "bad account"
    owner: address = self.owner_of[account]
    if owner == empty(address):
        self.owner_of[account] = msg.sender
    else:
        assert owner == msg.sender, "account owned by another address"
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "transfer failed"
    after: uint256 = staticcall IERC20(token).balanceOf(self)
    assert after == before + amount, "token took a fee"
    assert after // q <= MAX_HOLDINGS, "vault holdings too large"
    dep: uint64 = self.deposit_counter + 1
    self.deposit_counter = dep
    self.deposits[dep] = Deposit(depositor=msg.sender, token=token, amount=amount)
    log Deposited(id=dep, account=account, asset=asset, amount=amount // q, depositor=msg.sender)


@view
@external
def deposit_of(dep: uint64) -> Deposit:
    """
    @notice (depositor, token, token amount) of a deposit id (zeros when there is none).
    """
    return self.deposits[dep]


# -- batches ------------------------------------------------------------------------------------------

@external
def commit(batch: uint64, prev_hash: bytes32, first_seq: uint64, last_seq: uint64, fill_count: uint64,
           fills_root: bytes32, settle_root: bytes32, balances_root: bytes32, withdrawals_root: bytes32,
           deposit_count: uint64, first_wid: uint64, last_wid: uint64):
    """
    @notice Commit the next batch record (operator only, not paused, not frozen, in order). first_wid and
            last_wid (not in the record; 0, 0 when the batch has no withdrawal) are its lowest and highest
            wid: the claimed-bitmap words they span are marked in use now, so that no claim pays for a
            word's first store. A wrong range costs gas, never a claim: it marks no wid claimed.
    """
    assert msg.sender == self.operator, "not operator"
    assert not self.paused, "paused"
    assert not self.frozen, "frozen"
    assert batch == self.next_batch, "batch out of order"
    assert prev_hash == self.last_hash, "prev hash mismatch"
    assert first_seq == self.last_seq + 1, "seq gap or overlap"
    assert last_seq + 1 >= first_seq, "bad seq range"
    assert fill_count <= last_seq + 1 - first_seq, "bad fill count"
    assert deposit_count >= self.deposit_count, "deposit count goes back"
    assert deposit_count <= self.deposit_counter, "deposit count ahead of the vault"
    assert first_wid <= last_wid and (first_wid > 0 or last_wid == 0), "bad wid range"
    h: bytes32 = keccak256(abi_encode(batch, prev_hash, first_seq, last_seq, fill_count, fills_root, settle_root,
                                      balances_root, withdrawals_root, deposit_count))
    self.fills_root[batch] = fills_root
    self.settle_root[batch] = settle_root
    self.balances_root[batch] = balances_root
    self.withdrawals_root[batch] = withdrawals_root
    self.last_hash = h
    self.last_seq = last_seq
    self.deposit_count = deposit_count
    self.next_batch = batch + 1
    self.last_commit_time = block.timestamp
    if last_wid > 0:
        self._prepare(convert(first_wid, uint256) // WIDS_PER_WORD, convert(last_wid, uint256) // WIDS_PER_WORD)
    log BatchCommitted(batch=batch, record_hash=h, prev_hash=prev_hash, first_seq=first_seq, last_seq=last_seq,
                       fill_count=fill_count, fills_root=fills_root, settle_root=settle_root,
                       balances_root=balances_root, withdrawals_root=withdrawals_root,
                       deposit_count=deposit_count)


@internal
def _prepare(lo: uint256, hi: uint256):
    # words beyond the first MAX_PREPARED_WORDS are left to their first claim (22,100 gas more, once)
    last: uint256 = min(hi, lo + MAX_PREPARED_WORDS - 1)
    for w: uint256 in range(lo, last + 1, bound=MAX_PREPARED_WORDS):
        if self._claimed[w] == 0:
            self._claimed[w] = IN_USE


# -- withdrawals --------------------------------------------------------------------------------------

@view
@internal
def _payee(account: String[64]) -> address:
    to: address = self.owner_of[account]
    assert to != empty(address), "account has no owner"
    return to


@view
@external
def fee_recipient() -> address:
    """
    @notice Who claims and escapes of the venue's fee account "@fees" pay.
    """
    return self.owner_of[FEES]


@internal
def _pay(asset: String[40], amount: uint256, to: address) -> uint256:
    token: address = empty(address)
    q: uint256 = 0
    token, q = self._token(asset)
    assert extcall IERC20(token).transfer(to, amount * q, default_return_value=True), "transfer failed"
    return amount * q


@view
@external
def claimed(wid: uint64) -> bool:
    """
    @notice Whether withdrawal `wid` was claimed.
    """
    w: uint256 = convert(wid, uint256)
    return (self._claimed[w // WIDS_PER_WORD] >> (w % WIDS_PER_WORD)) & 1 == 1


@external
def claim(batch: uint64, wid: uint64, account: String[64], asset: String[40], amount: uint256,
          proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Pay withdrawal `wid` of committed batch `batch` to the account's owner (anyone may send it;
            never twice; works after a freeze too).
    """
    # inlined (_verify, _payee, _pay): an internal call copies its arguments, 700 gas a claim
    h: bytes32 = keccak256(keccak256(abi_encode(wid, account, asset, amount)))
    for p: bytes32 in proof:
        if convert(h, uint256) < convert(p, uint256):
            h = keccak256(abi_encode(h, p))
        else:
            h = keccak256(abi_encode(p, h))
    # a batch not committed has a zero root, which no proof verifies against (no next_batch read: 2,100 gas)
    root: bytes32 = self.withdrawals_root[batch]
    assert h == root and root != empty(bytes32), "bad proof or batch not committed"
    w: uint256 = convert(wid, uint256)
    word: uint256 = w // WIDS_PER_WORD
    bit: uint256 = 1 << (w % WIDS_PER_WORD)
    bits: uint256 = self._claimed[word]
    assert bits & bit == 0, "already claimed"
    self._claimed[word] = bits | bit
    to: address = self.owner_of[account]
    assert to != empty(address), "account has no owner"
    a: uint256 = self._asset[asset]
    assert a != 0, "unknown asset"
    token: address = convert(convert(a & convert(max_value(uint160), uint256), uint160), address)
    assert extcall IERC20(token).transfer(to, amount * 10 ** ((a >> 160) & 255), default_return_value=True), \
        "transfer failed"
    log Claimed(wid=wid)


# -- freeze and the escape hatch ----------------------------------------------------------------------

@external
def freeze():
    """
    @notice Freeze the vault for good (anyone), once freeze_after seconds passed without a commit.
    """
    assert not self.frozen, "frozen"
    assert block.timestamp >= self.last_commit_time + freeze_after, "not stale yet"
    self.frozen = True
    last: uint64 = NO_BATCH
    if self.next_batch > 0:
        last = self.next_batch - 1
    log Frozen(last_batch=last)


@external
def escape(account: String[64], asset: String[40], total: uint256, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Frozen only: pay an account's balance in the last committed balances root to its owner
            (anyone may send it; once per (account, asset)).
    """
    assert self.frozen, "not frozen"
    assert self.next_batch > 0, "nothing committed"
    leaf: bytes32 = keccak256(keccak256(abi_encode(account, asset, total)))
    assert self._verify(self.balances_root[self.next_batch - 1], leaf, proof), "bad proof"
    key: bytes32 = keccak256(abi_encode(account, asset))
    assert not self.escaped[key], "already escaped"
    self.escaped[key] = True
    to: address = self._payee(account)
    self._pay(asset, total, to)
    log Escaped(account=account, asset=asset, total=total, to=to)


@external
def reclaim(dep: uint64):
    """
    @notice Frozen only: give a deposit the last committed batch did not credit back to its depositor.
    """
    assert self.frozen, "not frozen"
    assert dep > self.deposit_count and dep <= self.deposit_counter, "deposit credited or unknown"
    assert not self.reclaimed[dep], "already reclaimed"
    self.reclaimed[dep] = True
    d: Deposit = self.deposits[dep]
    assert extcall IERC20(d.token).transfer(d.depositor, d.amount, default_return_value=True), "transfer failed"
    log Reclaimed(dep=dep, to=d.depositor)


# -- proofs -------------------------------------------------------------------------------------------

@view
@external
def verify_fill(batch: uint64, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    return self._verify(self.fills_root[batch], leaf, proof)


@view
@external
def verify_settlement(batch: uint64, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    return self._verify(self.settle_root[batch], leaf, proof)


@view
@external
def verify_balance(batch: uint64, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    return self._verify(self.balances_root[batch], leaf, proof)


@view
@external
def verify_withdrawal(batch: uint64, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    return self._verify(self.withdrawals_root[batch], leaf, proof)


@pure
@internal
def _verify(root: bytes32, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    if root == empty(bytes32):
        return False
    h: bytes32 = leaf
    for p: bytes32 in proof:
        if convert(h, uint256) < convert(p, uint256):
            h = keccak256(abi_encode(h, p))
        else:
            h = keccak256(abi_encode(p, h))
    return h == root


# -- roles --------------------------------------------------------------------------------------------

@external
def set_operator(operator: address):
    assert msg.sender == self.owner, "not owner"
    log OperatorChanged(previous=self.operator, operator=operator)
    self.operator = operator


@external
def set_fee_recipient(recipient: address):
    assert msg.sender == self.owner, "not owner"
    assert recipient != empty(address), "zero recipient"
    self.owner_of[FEES] = recipient
    log FeeRecipientChanged(recipient=recipient)


@external
def set_paused(paused: bool):
    assert msg.sender == self.owner, "not owner"
    self.paused = paused
    log PauseChanged(paused=paused)


@external
def transfer_ownership(owner: address):
    assert msg.sender == self.owner, "not owner"
    assert owner != empty(address), "zero owner"
    log OwnerChanged(previous=self.owner, owner=owner)
    self.owner = owner
