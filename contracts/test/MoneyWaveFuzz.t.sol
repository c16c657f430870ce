// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MoneyWave} from "../MoneyWave.sol";
import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/// @notice Random sequences of waves (cumulative amounts), revocations and claims (M3, M4, M5, M6).
contract MoneyWaveFuzzTest is PosMulFixture {
    uint256 internal constant ACCOUNTS = 5;
    uint256 internal constant DELAY = 6 hours;

    address[] internal accounts;
    address internal thief = makeAddr("thief");

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

    /**
     * M6 under a 6-hour delay: up to 8 days, each first published by a thief holding the relayer key
     * (one time in two: every PMC of the wave to itself, with an honest total) and revoked by the
     * guardian at a random moment of the delay, then published honestly. While each root waits,
     * citizens claim with the previous one; nothing ever reaches the thief, and at the end everyone
     * has exactly their credits and the wave holds nothing.
     */
    function testFuzz_M6_revokedRootsNeverPayAndClaimsNeverStop(uint256 seed) public {
        vm.prank(admin);
        wave.setRootDelay(DELAY);
        uint256[] memory cumulative = new uint256[](ACCOUNTS);
        uint256[] memory previous = new uint256[](ACCOUNTS);
        bytes32[] memory tree;
        bytes32[] memory previousTree;
        uint256 days_ = 1 + _rand(seed, 0) % 8;
        uint256 salt = 1;
        for (uint256 d = 0; d < days_; ++d) {
            uint256 amount;
            for (uint256 i = 0; i < ACCOUNTS; ++i) {
                previous[i] = cumulative[i];
                uint256 r = _rand(seed, salt++);
                uint256 credit = r % 3 == 0 ? 0 : (r >> 8) % (200_000 ether);
                cumulative[i] += credit;
                amount += credit;
            }
            if (_rand(seed, salt++) % 2 == 0) _publishStolenAndRevoke(amount, _rand(seed, salt++) % DELAY);
            tree = _tree(accounts, cumulative);
            _publish(tree[0], amount);
            // During the delay, claims run on the previous root.
            if (previousTree.length != 0) {
                _claimBatch(previousTree, previous, _rand(seed, salt++));
                _checkSolvency(previous);
            }
            vm.warp(block.timestamp + DELAY);
            assertEq(wave.currentRoot(), tree[0]);
            previousTree = tree;
        }
        _claimBatch(tree, cumulative, type(uint256).max);
        _checkSolvency(cumulative);
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            assertEq(pmc.balanceOf(accounts[i]), cumulative[i], "everyone got exactly their credits");
        }
        assertEq(pmc.balanceOf(thief), 0, "a revoked root never pays");
        assertEq(pmc.balanceOf(address(wave)), 0);
        assertEq(pmc.totalSupply(), _sum(cumulative), "revoked waves left the supply");
        assertEq(wave.nextDay(), days_);
    }

    /// @dev The thief's root, the whole new total to one leaf, published and revoked `after` seconds later.
    function _publishStolenAndRevoke(uint256 amount, uint256 after_) internal {
        uint256 total = wave.totalMinted() + amount;
        bytes32[] memory stolen = _tree(_pair(thief, accounts[0]), _pair(total, uint256(0)));
        _publish(stolen[0], amount);
        vm.warp(block.timestamp + after_);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, thief, total));
        wave.claim(thief, total, StandardTree.proof(stolen, 0));
        vm.prank(guardian);
        wave.revokePendingRoot();
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
