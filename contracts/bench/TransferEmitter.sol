// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title TransferEmitter
 * @notice TEST AND BENCHMARK ONLY. Emits PMC-shaped `Transfer` events in bulk so that the indexer
 * can be tested and benchmarked without minting real PMC. It holds no balances and is never
 * deployed outside a local anvil.
 * @dev Event `i` of the sequence: an even `i` mints 2 wei to holder(i/2); an odd `i` moves 1 wei
 * from holder(i/2) to holder(i/2 + 1). Emitted in order from an even start, no mirrored balance
 * ever goes negative. holder(k) = address(keccak256(abi.encode(k % holders))).
 */
contract TransferEmitter {
    /// @notice Same signature as ERC-20's (and PMC's) Transfer.
    event Transfer(address indexed from, address indexed to, uint256 value);

    /**
     * @notice Emits events `start .. start + count - 1` of the sequence over `holders` addresses.
     * @param start First event number (even, to keep balances non-negative).
     * @param count Number of events (even).
     * @param holders Number of distinct holder addresses (at least 1).
     */
    function emitTransfers(uint256 start, uint256 count, uint256 holders) external {
        uint256 end = start + count;
        for (uint256 i = start; i < end; ++i) {
            uint256 k = i >> 1;
            address a = holder(k % holders);
            if (i & 1 == 0) {
                emit Transfer(address(0), a, 2);
            } else {
                emit Transfer(a, holder((k + 1) % holders), 1);
            }
        }
    }

    /// @notice The address of holder number `n`.
    function holder(uint256 n) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(n)))));
    }
}
