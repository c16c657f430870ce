// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MoneyWave} from "../MoneyWave.sol";
import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/// @notice M6: a published root becomes claimable only after the admin's delay, during which the
/// guardian can revoke it; claims keep using the last root whose delay has passed.
contract MoneyWaveRootDelayTest is PosMulFixture {
    uint256 internal constant DELAY = 6 hours;

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal thief = makeAddr("thief");

    event WavePublished(
        uint64 indexed day, bytes32 root, uint256 amount, bytes32 allocationHash, uint256 totalCumulative
    );
    event RootPending(uint64 indexed day, bytes32 root, uint64 firstDay, uint256 claimableAt);
    event RootRevoked(uint64 indexed firstDay, uint64 lastDay, bytes32 root, uint256 burned, address account);
    event RootDelayChanged(uint256 previousDelay, uint256 newDelay);

    function setUp() public {
        _deploy();
        vm.prank(admin);
        wave.setRootDelay(DELAY);
    }

    function _aliceBob(uint256 a, uint256 b) internal view returns (bytes32[] memory) {
        return _tree(_pair(alice, bob), _pair(a, b));
    }

    /// @dev Publishes the next day's wave and lets its delay pass.
    function _publishMatured(bytes32 root, uint256 amount) internal {
        _publish(root, amount);
        vm.warp(block.timestamp + DELAY);
    }

    // ------------------------------------------------------------------ the attack

    /// A stolen relayer key publishes a root that sends every PMC to the thief (with an honest
    /// `totalCumulative`, the only thing the chain can check): nothing is claimable during the delay,
    /// the guardian revokes it, and the day is published again, honestly.
    function test_M6_aStolenRelayerKeyCannotCashARoot() public {
        bytes32[] memory honest0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(honest0[0], 1000 ether);

        bytes32[] memory stolen = _tree(_pair(thief, alice), _pair(uint256(2000 ether), uint256(0)));
        _publish(stolen[0], 1000 ether);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, thief, 2000 ether));
        wave.claim(thief, 2000 ether, StandardTree.proof(stolen, 0));

        vm.warp(block.timestamp + DELAY - 1);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, thief, 2000 ether));
        wave.claim(thief, 2000 ether, StandardTree.proof(stolen, 0));
        vm.prank(guardian);
        wave.revokePendingRoot();

        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, thief, 2000 ether));
        wave.claim(thief, 2000 ether, StandardTree.proof(stolen, 0));
        assertEq(pmc.balanceOf(thief), 0, "a revoked root never pays");
        assertEq(pmc.totalSupply(), 1000 ether, "the revoked day's PMC is burnt");
        assertEq(wave.nextDay(), 1, "the revoked day is open again");

        bytes32[] memory honest1 = _aliceBob(800 ether, 1200 ether);
        _publishMatured(honest1[0], 1000 ether);
        wave.claim(alice, 800 ether, StandardTree.proof(honest1, 0));
        assertEq(pmc.balanceOf(alice), 800 ether);
    }

    // ------------------------------------------------------------------ the delay

    function test_M6_aRootIsClaimableFromItsClaimableAtInclusive() public {
        bytes32[] memory tree = _aliceBob(300 ether, 700 ether);
        _publish(tree[0], 1000 ether);
        uint256 claimableAt = block.timestamp + DELAY;
        (bytes32 root, uint64 firstDay, uint256 at) = wave.pendingRoot();
        assertEq(root, tree[0]);
        assertEq(firstDay, 0);
        assertEq(at, claimableAt);
        assertEq(wave.currentRoot(), bytes32(0), "nothing claimable before the first delay ends");

        vm.warp(claimableAt - 1);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 300 ether));
        wave.claim(alice, 300 ether, StandardTree.proof(tree, 0));

        vm.warp(claimableAt);
        assertEq(wave.currentRoot(), tree[0]);
        (root, firstDay, at) = wave.pendingRoot();
        assertEq(root, bytes32(0), "a matured root is no longer pending");
        assertEq(at, 0);
        wave.claim(alice, 300 ether, StandardTree.proof(tree, 0));
        assertEq(pmc.balanceOf(alice), 300 ether);
    }

    function testFuzz_M6_nothingIsClaimableFromAPendingRoot(uint256 delay, uint256 elapsed) public {
        delay = bound(delay, 1, wave.MAX_ROOT_DELAY());
        elapsed = bound(elapsed, 0, delay - 1);
        vm.prank(admin);
        wave.setRootDelay(delay);
        bytes32[] memory tree = _aliceBob(300 ether, 700 ether);
        _publish(tree[0], 1000 ether);
        vm.warp(block.timestamp + elapsed);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 300 ether));
        wave.claim(alice, 300 ether, StandardTree.proof(tree, 0));
        address[] memory accounts = _pair(alice, bob);
        uint256[] memory amounts = _pair(uint256(300 ether), uint256(700 ether));
        bytes32[][] memory proofs = new bytes32[][](2);
        proofs[0] = StandardTree.proof(tree, 0);
        proofs[1] = StandardTree.proof(tree, 1);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 300 ether));
        wave.claimMany(accounts, amounts, proofs);
        vm.warp(block.timestamp + delay - elapsed);
        assertEq(wave.claimMany(accounts, amounts, proofs), 1000 ether);
    }

    function test_M6_aZeroDelayMakesARootClaimableAtOnce() public {
        vm.prank(admin);
        wave.setRootDelay(0);
        bytes32[] memory tree = _aliceBob(300 ether, 700 ether);
        _publish(tree[0], 1000 ether);
        assertEq(wave.currentRoot(), tree[0]);
        wave.claim(bob, 700 ether, StandardTree.proof(tree, 1));
        assertEq(pmc.balanceOf(bob), 700 ether);
    }

    /// Claims never stop: while a new root waits, the previous one still pays; once the new one is
    /// claimable, it pays the difference and the old proofs are stale.
    function test_M6_claimsKeepUsingTheLastMaturedRoot() public {
        bytes32[] memory day0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(day0[0], 1000 ether);
        bytes32[] memory day1 = _aliceBob(800 ether, 900 ether);
        _publish(day1[0], 700 ether);

        assertEq(wave.currentRoot(), day0[0]);
        wave.claim(alice, 300 ether, StandardTree.proof(day0, 0));
        assertEq(pmc.balanceOf(alice), 300 ether);

        vm.warp(block.timestamp + DELAY);
        assertEq(wave.currentRoot(), day1[0]);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, bob, 700 ether));
        wave.claim(bob, 700 ether, StandardTree.proof(day0, 1));
        wave.claim(alice, 800 ether, StandardTree.proof(day1, 0));
        assertEq(pmc.balanceOf(alice), 800 ether, "the later root pays only the difference");
    }

    function test_M6_publishEmitsWavePublishedAndRootPending() public {
        bytes32[] memory day0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(day0[0], 1000 ether);
        bytes32[] memory day1 = _aliceBob(800 ether, 900 ether);
        vm.warp(_endOf(1));
        vm.expectEmit(address(wave));
        emit WavePublished(1, day1[0], 700 ether, keccak256("a1"), 1700 ether);
        vm.expectEmit(address(wave));
        emit RootPending(1, day1[0], 1, block.timestamp + DELAY);
        vm.prank(relayer);
        wave.publishWave(1, day1[0], 700 ether, keccak256("a1"), 1700 ether);
    }

    // ------------------------------------------------------------------ waves while a root waits

    /// Catching up on missed days publishes several waves in a row: each replaces the pending root
    /// (roots are cumulative) and restarts the delay; the replaced root never becomes claimable.
    function test_M6_aWaveReplacesAPendingRootAndRestartsTheDelay() public {
        bytes32[] memory day0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(day0[0], 1000 ether);
        vm.warp(_endOf(2));
        bytes32[] memory day1 = _aliceBob(400 ether, 700 ether);
        _publish(day1[0], 100 ether);
        uint256 firstAt = block.timestamp + DELAY;
        vm.warp(block.timestamp + 1 hours);
        bytes32[] memory day2 = _aliceBob(400 ether, 900 ether);
        vm.expectEmit(address(wave));
        emit RootPending(2, day2[0], 1, block.timestamp + DELAY);
        _publish(day2[0], 200 ether);

        vm.warp(firstAt);
        assertEq(wave.currentRoot(), day0[0], "the replaced root never becomes claimable");
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 400 ether));
        wave.claim(alice, 400 ether, StandardTree.proof(day1, 0));

        // Revoking now unpublishes both days of the pending run.
        vm.expectEmit(address(wave));
        emit RootRevoked(1, 2, day2[0], 300 ether, guardian);
        vm.prank(guardian);
        wave.revokePendingRoot();
        assertEq(wave.nextDay(), 1);
        assertEq(wave.totalMinted(), 1000 ether);
        assertEq(pmc.totalSupply(), 1000 ether);
        assertEq(pmc.balanceOf(address(wave)), 1000 ether);
    }

    /// A root whose delay has passed is final: the next wave starts a new pending run, and a revoke
    /// then reaches back only to that wave's day.
    function test_M6_aMaturedRootStaysWhenTheNextIsRevoked() public {
        bytes32[] memory day0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(day0[0], 1000 ether);
        bytes32[] memory day1 = _aliceBob(800 ether, 900 ether);
        _publishMatured(day1[0], 700 ether);
        bytes32[] memory day2 = _aliceBob(900 ether, 900 ether);
        _publish(day2[0], 100 ether);
        (, uint64 firstDay,) = wave.pendingRoot();
        assertEq(firstDay, 2);

        vm.expectEmit(address(wave));
        emit RootRevoked(2, 2, day2[0], 100 ether, guardian);
        vm.prank(guardian);
        wave.revokePendingRoot();
        assertEq(wave.currentRoot(), day1[0]);
        assertEq(wave.nextDay(), 2);
        assertEq(wave.totalMinted(), 1700 ether);
        wave.claim(bob, 900 ether, StandardTree.proof(day1, 1));
        assertEq(pmc.balanceOf(bob), 900 ether);
    }

    // ------------------------------------------------------------------ revocation

    function test_M6_revokeUnpublishesTheDayAndBurnsItsPmc() public {
        bytes32[] memory day0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(day0[0], 1000 ether);
        wave.claim(alice, 300 ether, StandardTree.proof(day0, 0));
        bytes32[] memory day1 = _aliceBob(800 ether, 900 ether);
        _publish(day1[0], 700 ether);

        vm.expectEmit(address(pmc));
        emit IERC20.Transfer(address(wave), address(0), 700 ether);
        vm.expectEmit(address(wave));
        emit RootRevoked(1, 1, day1[0], 700 ether, guardian);
        vm.prank(guardian);
        wave.revokePendingRoot();

        assertEq(wave.nextDay(), 1);
        assertEq(wave.totalMinted(), 1000 ether);
        assertEq(wave.totalClaimed(), 300 ether);
        assertEq(pmc.totalSupply(), 1000 ether);
        assertEq(pmc.balanceOf(address(wave)), 700 ether, "minted - claimed, bob's day-0 entitlement");
        assertEq(wave.currentRoot(), day0[0]);
        (bytes32 root,, uint256 at) = wave.pendingRoot();
        assertEq(root, bytes32(0));
        assertEq(at, 0);
    }

    function test_M6_aRevokedDayIsPublishedAgain() public {
        bytes32[] memory bad = _aliceBob(0, 5000 ether);
        _publish(bad[0], 5000 ether);
        vm.prank(guardian);
        wave.revokePendingRoot();
        assertEq(wave.currentRoot(), bytes32(0));

        bytes32[] memory good = _aliceBob(300 ether, 700 ether);
        vm.expectEmit(address(wave));
        emit RootPending(0, good[0], 0, block.timestamp + DELAY);
        _publish(good[0], 1000 ether);
        vm.warp(block.timestamp + DELAY);
        assertEq(wave.currentRoot(), good[0]);
        assertEq(pmc.totalSupply(), 1000 ether);
        wave.claim(bob, 700 ether, StandardTree.proof(good, 1));
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, bob, 5000 ether));
        wave.claim(bob, 5000 ether, StandardTree.proof(bad, 1));
    }

    function test_M6_onlyTheGuardianRevokes() public {
        _publish(_aliceBob(300 ether, 700 ether)[0], 1000 ether);
        bytes32 role = wave.GUARDIAN_ROLE();
        address[3] memory others = [relayer, admin, thief];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], role)
            );
            vm.prank(others[i]);
            wave.revokePendingRoot();
        }
    }

    function test_M6_aClaimableRootCannotBeRevoked() public {
        _publish(_aliceBob(300 ether, 700 ether)[0], 1000 ether);
        uint256 at = block.timestamp + DELAY;
        vm.warp(at);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveRootAlreadyClaimable.selector, at));
        vm.prank(guardian);
        wave.revokePendingRoot();
    }

    function test_M6_revokeNeedsAPendingRoot() public {
        vm.expectRevert(MoneyWave.MoneyWaveNoPendingRoot.selector);
        vm.prank(guardian);
        wave.revokePendingRoot();
        _publish(_aliceBob(300 ether, 700 ether)[0], 1000 ether);
        vm.prank(guardian);
        wave.revokePendingRoot();
        vm.expectRevert(MoneyWave.MoneyWaveNoPendingRoot.selector);
        vm.prank(guardian);
        wave.revokePendingRoot();
    }

    function test_M6_revokeWorksWhilePaused() public {
        _publish(_aliceBob(300 ether, 700 ether)[0], 1000 ether);
        vm.startPrank(guardian);
        wave.pause();
        wave.revokePendingRoot();
        vm.stopPrank();
        assertEq(wave.nextDay(), 0);
        assertEq(pmc.totalSupply(), 0);
    }

    function test_M6_anEmptyRevokedDayBurnsNothing() public {
        bytes32[] memory day0 = _aliceBob(300 ether, 700 ether);
        _publishMatured(day0[0], 1000 ether);
        _publish(day0[0], 0);
        vm.expectEmit(address(wave));
        emit RootRevoked(1, 1, day0[0], 0, guardian);
        vm.prank(guardian);
        wave.revokePendingRoot();
        assertEq(pmc.totalSupply(), 1000 ether);
        assertEq(wave.nextDay(), 1);
    }

    // ------------------------------------------------------------------ the delay setting

    function test_M6_setRootDelayIsAdminOnlyBoundedAndLogged() public {
        assertEq(wave.rootDelay(), DELAY);
        vm.expectEmit(address(wave));
        emit RootDelayChanged(DELAY, 30);
        vm.prank(admin);
        wave.setRootDelay(30);
        assertEq(wave.rootDelay(), 30);

        uint256 max = wave.MAX_ROOT_DELAY();
        assertEq(max, 12 hours);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveRootDelayTooLong.selector, max + 1, max));
        vm.prank(admin);
        wave.setRootDelay(max + 1);

        bytes32 role = wave.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, role)
        );
        vm.prank(guardian);
        wave.setRootDelay(0);
    }

    function test_M6_aDelayChangeAppliesToRootsPublishedLater() public {
        bytes32[] memory tree = _aliceBob(300 ether, 700 ether);
        _publish(tree[0], 1000 ether);
        uint256 at = block.timestamp + DELAY;
        vm.prank(admin);
        wave.setRootDelay(0);
        (,, uint256 pendingAt) = wave.pendingRoot();
        assertEq(pendingAt, at, "the pending root keeps its delay");
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 300 ether));
        wave.claim(alice, 300 ether, StandardTree.proof(tree, 0));
    }

    function test_M6_aFreshDeploymentHasNoDelay() public {
        _deploy();
        assertEq(wave.rootDelay(), 0);
        (bytes32 root, uint64 firstDay, uint256 at) = wave.pendingRoot();
        assertEq(root, bytes32(0));
        assertEq(firstDay, 0);
        assertEq(at, 0);
    }
}
