# pragma version ~=0.4.3
"""
@title Token
@notice A minimal ERC-20 (EIP-20) with a minter: the USD and stock tokens of the vault's tests and
        example. `transfer_fee_bps` > 0 makes it a fee-on-transfer token (the recipient gets less than
        the amount sent), which the vault must refuse; 0 is a plain ERC-20.
"""

from ethereum.ercs import IERC20

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
minter: public(address)
transfer_fee_bps: public(uint256)


@deploy
def __init__(name: String[32], symbol: String[16], decimals: uint8, transfer_fee_bps: uint256):
    assert transfer_fee_bps < 10000, "fee too high"
    self.name = name
    self.symbol = symbol
    self.decimals = decimals
    self.minter = msg.sender
    self.transfer_fee_bps = transfer_fee_bps


@internal
def _move(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "zero receiver"
    self.balanceOf[sender] -= amount  # reverts on underflow
    fee: uint256 = amount * self.transfer_fee_bps // 10000
    self.balanceOf[receiver] += amount - fee
    if fee > 0:
        self.totalSupply -= fee  # burned
    log Transfer(sender=sender, receiver=receiver, value=amount - fee)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._move(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount  # reverts when not allowed
    self._move(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.minter, "not minter"
    assert receiver != empty(address), "zero receiver"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)
