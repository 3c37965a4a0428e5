# pragma version ~=0.4.3
"""
@title FillRegistry
@notice Kabuto's public record of fill batches. The operator commits one record per batch, in order,
        each chained to the previous record's hash; anyone can check that a fill (or a settlement
        delta) belongs to a committed batch with an OpenZeppelin-style Merkle proof.
@dev Record hash = keccak256(abi_encode(batch, prev_hash, first_seq, last_seq, fill_count, fills_root,
     settle_root)). Leaves are keccak256(keccak256(abi.encode(values))); internal nodes hash the
     sorted pair of their children (OpenZeppelin StandardMerkleTree / MerkleProof).
"""

MAX_PROOF: constant(uint256) = 64  # enough for 2**64 leaves

event BatchCommitted:
    batch: indexed(uint64)
    record_hash: bytes32
    first_seq: uint64
    last_seq: uint64
    fill_count: uint64
    fills_root: bytes32
    settle_root: bytes32

event OperatorChanged:
    previous: indexed(address)
    operator: indexed(address)

event OwnerChanged:
    previous: indexed(address)
    owner: indexed(address)

event PauseChanged:
    paused: bool

owner: public(address)
operator: public(address)
paused: public(bool)
next_batch: public(uint64)
last_hash: public(bytes32)
last_seq: public(uint64)
fills_root: public(HashMap[uint64, bytes32])
settle_root: public(HashMap[uint64, bytes32])


@deploy
def __init__(operator: address):
    self.owner = msg.sender
    self.operator = operator
    log OperatorChanged(previous=empty(address), operator=operator)


@external
def commit(batch: uint64, prev_hash: bytes32, first_seq: uint64, last_seq: uint64, fill_count: uint64,
           fills_root: bytes32, settle_root: bytes32):
    """
    @notice Commit the next batch record. Only the operator, only when not paused, only in order.
    """
    assert not self.paused, "paused"
    assert msg.sender == self.operator, "not operator"
    assert batch == self.next_batch, "batch out of order"
    assert prev_hash == self.last_hash, "prev hash mismatch"
    assert fill_count > 0 and first_seq <= last_seq, "bad seq range"
    assert fill_count <= last_seq - first_seq + 1, "bad fill count"
    assert batch == 0 or first_seq > self.last_seq, "seq overlap"
    assert fills_root != empty(bytes32), "empty fills root"
    h: bytes32 = keccak256(abi_encode(batch, prev_hash, first_seq, last_seq, fill_count, fills_root, settle_root))
    self.fills_root[batch] = fills_root
    self.settle_root[batch] = settle_root
    self.last_hash = h
    self.last_seq = last_seq
    self.next_batch = batch + 1
    log BatchCommitted(batch=batch, record_hash=h, first_seq=first_seq, last_seq=last_seq,
                       fill_count=fill_count, fills_root=fills_root, settle_root=settle_root)


@view
@external
def verify_fill(batch: uint64, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    """
    @notice True when leaf (a fill's double-keccak leaf hash) is in committed batch `batch`.
    """
    return self._verify(self.fills_root[batch], leaf, proof)


@view
@external
def verify_settlement(batch: uint64, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    """
    @notice True when leaf (a settlement delta's leaf hash) is in committed batch `batch`.
    """
    return self._verify(self.settle_root[batch], leaf, proof)


@external
def set_operator(operator: address):
    """
    @notice Rotate the operator key (owner only).
    """
    assert msg.sender == self.owner, "not owner"
    log OperatorChanged(previous=self.operator, operator=operator)
    self.operator = operator


@external
def set_paused(paused: bool):
    """
    @notice Stop or resume commits (owner only); verification keeps working.
    """
    assert msg.sender == self.owner, "not owner"
    self.paused = paused
    log PauseChanged(paused=paused)


@external
def transfer_ownership(owner: address):
    """
    @notice Hand the owner role to another address (owner only).
    """
    assert msg.sender == self.owner, "not owner"
    assert owner != empty(address), "zero owner"
    log OwnerChanged(previous=self.owner, owner=owner)
    self.owner = owner


@pure
@internal
def _verify(root: bytes32, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    if root == empty(bytes32):
        return False
    h: bytes32 = leaf
    for p: bytes32 in proof:
        if convert(h, uint256) < convert(p, uint256):
            h = keccak256(concat(h, p))
        else:
            h = keccak256(concat(p, h))
    return h == root
