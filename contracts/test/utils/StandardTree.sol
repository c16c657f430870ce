// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/**
 * @title StandardTree — an in-test copy of @openzeppelin/merkle-tree's StandardMerkleTree
 * @notice Builds the same array-shaped tree as the JS library's `makeMerkleTree`: `2n - 1` nodes,
 * leaf `i` stored at index `2n - 2 - i`, node `k` = sorted-pair keccak of nodes `2k + 1` and `2k + 2`.
 * With leaves in the order given (the JS option `sortLeaves: false`) the roots and proofs are identical
 * to the JS library's, which `MerkleCompat.t.sol` checks against a fixture the JS library wrote.
 */
library StandardTree {
    /// @notice The StandardMerkleTree leaf of `(address, uint256)`.
    /// Hashes in scratch space: building 100,000 leaves must not allocate memory per leaf.
    function leaf(address account, uint256 amount) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            mstore(0x00, and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(0x20, amount)
            mstore(0x00, keccak256(0x00, 0x40))
            result := keccak256(0x00, 0x20)
        }
    }

    /// @notice The `i`-th synthetic account of the large test trees:
    /// `address(uint160(uint256(keccak256(abi.encode(uint256(0x504f534d554c), i)))))` ("POSMUL" as salt),
    /// the same formula as script/merkle-fixture.mjs.
    function syntheticAccount(uint256 i) internal pure returns (address account) {
        assembly ("memory-safe") {
            mstore(0x00, 0x504f534d554c)
            mstore(0x20, i)
            account := and(keccak256(0x00, 0x40), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }

    /// @notice The cumulative amount of the `i`-th synthetic account: `(i % 1000 + 1) * 1e15` wei.
    function syntheticAmount(uint256 i) internal pure returns (uint256) {
        return (i % 1000 + 1) * 1e15;
    }

    /// @notice All nodes of the tree over `leaves` (index 0 is the root).
    function build(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        uint256 n = leaves.length;
        require(n > 0, "StandardTree: no leaves");
        tree = new bytes32[](2 * n - 1);
        for (uint256 i = 0; i < n; ++i) {
            tree[tree.length - 1 - i] = leaves[i];
        }
        for (uint256 k = n - 1; k > 0; --k) {
            tree[k - 1] = Hashes.commutativeKeccak256(tree[2 * k - 1], tree[2 * k]);
        }
    }

    /// @notice The root of a tree from {build}.
    function root(bytes32[] memory tree) internal pure returns (bytes32) {
        return tree[0];
    }

    /// @notice The proof of the `leafIndex`-th leaf (in the order given to {build}).
    function proof(bytes32[] memory tree, uint256 leafIndex) internal pure returns (bytes32[] memory path) {
        uint256 index = tree.length - 1 - leafIndex;
        uint256 depth = 0;
        for (uint256 i = index; i > 0; i = (i - 1) / 2) {
            ++depth;
        }
        path = new bytes32[](depth);
        for (uint256 d = 0; index > 0; ++d) {
            path[d] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }
}
