// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/**
 * @notice Trees and proofs made by the JavaScript library web clients use
 * (the npm package merkle-tree of OpenZeppelin, its StandardMerkleTree, via script/merkle-fixture.mjs) are claimable on
 * chain (M5), and the in-test Solidity builder produces the very same 100,000-leaf tree.
 */
contract MerkleCompatTest is PosMulFixture {
    function setUp() public {
        _deploy();
    }

    function test_M5_proofsFromTheJsStandardMerkleTreeClaimOnChain() public {
        string memory json = vm.readFile("contracts/test/fixtures/merkle-standard.json");
        bytes32 root = vm.parseJsonBytes32(json, ".root");
        address[] memory accounts = vm.parseJsonAddressArray(json, ".accounts");
        string[] memory amountStrings = vm.parseJsonStringArray(json, ".amounts");
        uint256 total = vm.parseUint(vm.parseJsonString(json, ".total"));
        uint256 n = accounts.length;
        assertEq(n, 37);
        assertEq(vm.parseJsonBytes32(json, ".dump.tree[0]"), root, "the dump's first node is the root");

        _publish(root, total);
        uint256[] memory amounts = new uint256[](n);
        bytes32[][] memory proofs = new bytes32[][](n);
        for (uint256 i = 0; i < n; ++i) {
            amounts[i] = vm.parseUint(amountStrings[i]);
            proofs[i] = vm.parseJsonBytes32Array(json, string.concat(".proofs[", vm.toString(i), "]"));
        }
        // The first half one by one, the rest in one relayer batch.
        uint256 half = n / 2;
        for (uint256 i = 0; i < half; ++i) {
            wave.claim(accounts[i], amounts[i], proofs[i]);
        }
        address[] memory batch = new address[](n - half);
        uint256[] memory batchAmounts = new uint256[](n - half);
        bytes32[][] memory batchProofs = new bytes32[][](n - half);
        for (uint256 i = half; i < n; ++i) {
            (batch[i - half], batchAmounts[i - half], batchProofs[i - half]) = (accounts[i], amounts[i], proofs[i]);
        }
        vm.prank(relayer);
        wave.claimMany(batch, batchAmounts, batchProofs);

        for (uint256 i = 0; i < n; ++i) {
            assertEq(pmc.balanceOf(accounts[i]), amounts[i]);
        }
        assertEq(wave.totalClaimed(), total);
        assertEq(pmc.balanceOf(address(wave)), 0);
    }

    function test_M5_theJsAndSolidityBuildersAgreeOnA100kLeafTree() public {
        string memory json = vm.readFile("contracts/test/fixtures/merkle-100k.json");
        uint256 leafCount = vm.parseJsonUint(json, ".leaves");
        uint256 index = vm.parseJsonUint(json, ".index");
        bytes32[] memory jsProof = vm.parseJsonBytes32Array(json, ".proof");
        address account = vm.parseJsonAddress(json, ".account");
        uint256 amount = vm.parseUint(vm.parseJsonString(json, ".amount"));
        assertEq(leafCount, 100_000);
        assertEq(account, StandardTree.syntheticAccount(index));
        assertEq(amount, StandardTree.syntheticAmount(index));

        bytes32[] memory leaves = new bytes32[](leafCount);
        uint256 total;
        for (uint256 i = 0; i < leafCount; ++i) {
            uint256 value = StandardTree.syntheticAmount(i);
            leaves[i] = StandardTree.leaf(StandardTree.syntheticAccount(i), value);
            total += value;
        }
        bytes32[] memory tree = StandardTree.build(leaves);
        assertEq(tree[0], vm.parseJsonBytes32(json, ".root"), "same root");
        assertEq(keccak256(abi.encode(StandardTree.proof(tree, index))), keccak256(abi.encode(jsProof)), "same proof");
        assertGe(jsProof.length, 17);

        _publish(tree[0], total);
        wave.claim(account, amount, jsProof);
        assertEq(pmc.balanceOf(account), amount);
    }
}
