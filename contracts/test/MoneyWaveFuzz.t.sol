// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MoneyWave} from "../MoneyWave.sol";
import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/// @notice Random sequences of waves (cumulative amounts) and claims (M3, M4, M5).
contract MoneyWaveFuzzTest is PosMulFixture {
    uint256 internal constant ACCOUNTS = 5;

    address[] internal accounts;

    function setUp() public {
        _deploy();
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            accounts.push(makeAddr(string.concat("citizen", vm.toString(i))));
        }
    }

    /// @dev Random number `salt` of the sequence `seed`.
    function _rand(uint256 seed, uint256 salt) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, salt)));
    }

    /**
     * Up to 8 waves, each crediting every account a random amount (often zero) and published after a
     * random number of missed days; between waves a random subset claims, alone or in a batch, some
     * of them twice. After every step each account's balance equals what it claimed, and the wave's
     * balance is what is still claimable (M5); at the end everyone claims and nothing is left.
     */
    function testFuzz_M5_randomWavesAndClaimsKeepTheWaveSolvent(uint256 seed) public {
        uint256[] memory cumulative = new uint256[](ACCOUNTS);
        uint256 waves = 1 + _rand(seed, 0) % 8;
        uint256 salt = 1;
        bytes32[] memory tree;
        for (uint256 w = 0; w < waves; ++w) {
            uint256 amount;
            for (uint256 i = 0; i < ACCOUNTS; ++i) {
                uint256 r = _rand(seed, salt++);
                uint256 credit = r % 3 == 0 ? 0 : (r >> 8) % (200_000 ether);
                cumulative[i] += credit;
                amount += credit;
            }
            tree = _tree(accounts, cumulative);
            // Sometimes days were missed: they are published later, in order, as empty days first.
            uint256 missed = _rand(seed, salt++) % 3;
            vm.warp(block.timestamp + missed * 1 days);
            _publish(tree[0], amount);
            assertEq(wave.totalMinted(), _sum(cumulative), "M4: totalCumulative == totalMinted");

            uint256 claimers = _rand(seed, salt++);
            if (claimers & 1 == 0) {
                for (uint256 i = 0; i < ACCOUNTS; ++i) {
                    if ((claimers >> (i + 1)) & 1 == 1) _claimIfDue(tree, i, cumulative[i]);
                }
            } else {
                _claimBatch(tree, cumulative, claimers >> 1);
            }
            _checkSolvency(cumulative);
        }
        _claimBatch(tree, cumulative, type(uint256).max);
        _checkSolvency(cumulative);
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            assertEq(pmc.balanceOf(accounts[i]), cumulative[i], "everyone got exactly their credits");
        }
        assertEq(pmc.balanceOf(address(wave)), 0, "nothing is minted that no credit justifies");
        assertEq(wave.totalClaimed(), wave.totalMinted());
    }

    function _claimIfDue(bytes32[] memory tree, uint256 i, uint256 cumulativeAmount) internal {
        bytes32[] memory proof = StandardTree.proof(tree, i);
        uint256 before = wave.claimed(accounts[i]);
        if (cumulativeAmount > before) {
            wave.claim(accounts[i], cumulativeAmount, proof);
            assertEq(wave.claimed(accounts[i]), cumulativeAmount);
        }
        // A second attempt with the same leaf never pays again.
        vm.expectRevert(
            abi.encodeWithSelector(
                MoneyWave.MoneyWaveNothingToClaim.selector, accounts[i], cumulativeAmount, cumulativeAmount
            )
        );
        wave.claim(accounts[i], cumulativeAmount, proof);
    }

    function _claimBatch(bytes32[] memory tree, uint256[] memory cumulative, uint256 mask) internal {
        uint256 n;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            if ((mask >> i) & 1 == 1) ++n;
        }
        address[] memory batchAccounts = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32[][] memory proofs = new bytes32[][](n);
        uint256 due;
        uint256 k;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            batchAccounts[k] = accounts[i];
            amounts[k] = cumulative[i];
            proofs[k] = StandardTree.proof(tree, i);
            due += cumulative[i] - wave.claimed(accounts[i]);
            ++k;
        }
        vm.prank(relayer);
        assertEq(wave.claimMany(batchAccounts, amounts, proofs), due);
    }

    function _checkSolvency(uint256[] memory cumulative) internal view {
        uint256 claimedSum;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            uint256 got = wave.claimed(accounts[i]);
            assertLe(got, cumulative[i], "M5: never more than the entitlement");
            assertEq(pmc.balanceOf(accounts[i]), got, "the account holds what it claimed");
            claimedSum += got;
        }
        assertEq(wave.totalClaimed(), claimedSum);
        assertEq(pmc.balanceOf(address(wave)), wave.totalMinted() - claimedSum, "M5: solvent");
        assertEq(pmc.totalSupply(), wave.totalMinted());
    }
}
