// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {PMC} from "../PMC.sol";
import {MoneyWave} from "../MoneyWave.sol";
import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/// @notice Unit tests of MoneyWave: every external function and every revert path (M1, M3, M4, M5).
contract MoneyWaveTest is PosMulFixture {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal stranger = makeAddr("stranger");

    event WavePublished(
        uint64 indexed day, bytes32 root, uint256 amount, bytes32 allocationHash, uint256 totalCumulative
    );
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);
    event DailyCapChanged(uint256 previousCap, uint256 newCap, uint64 effectiveFromDay);
    event Paused(address account);
    event Unpaused(address account);

    function setUp() public {
        _deploy();
    }

    /// @dev Publishes a wave whose tree holds alice and bob with these cumulative amounts.
    function _publishAliceBob(uint256 aliceCumulative, uint256 bobCumulative, uint256 amount)
        internal
        returns (bytes32[] memory tree)
    {
        tree = _tree(_pair(alice, bob), _pair(aliceCumulative, bobCumulative));
        _publish(tree[0], amount);
    }

    // ------------------------------------------------------------------ construction

    function test_M1_constructorSetsTheInitialState() public view {
        assertEq(wave.token(), address(pmc));
        assertEq(wave.genesis(), GENESIS);
        assertEq(wave.dailyCap(), DAILY_CAP);
        assertEq(wave.nextDay(), 0);
        assertEq(wave.currentRoot(), bytes32(0));
        assertEq(wave.rootDelay(), 0, "M6: development chains need no delay");
        assertEq(wave.totalMinted(), 0);
        assertEq(wave.totalClaimed(), 0);
        assertFalse(wave.paused());
        assertTrue(wave.hasRole(wave.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(wave.hasRole(wave.RELAYER_ROLE(), relayer));
        assertTrue(wave.hasRole(wave.GUARDIAN_ROLE(), guardian));
        assertEq(pmc.minter(), address(wave));
    }

    function test_M1_constructorLogsTheInitialCap() public {
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        PMC token = new PMC(MAX_SUPPLY, predicted);
        vm.expectEmit(predicted);
        emit DailyCapChanged(0, 42 ether, 0);
        new MoneyWave(token, GENESIS, 42 ether, admin);
    }

    function testFuzz_M4_constructorRefusesAGenesisThatIsNotAMidnight(uint256 genesis) public {
        vm.assume(genesis % 1 days != 0);
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        PMC token = new PMC(MAX_SUPPLY, predicted);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidGenesis.selector, genesis));
        new MoneyWave(token, genesis, DAILY_CAP, admin);
    }

    function test_M5_constructorRefusesATokenMintingForSomeoneElse() public {
        PMC token = new PMC(MAX_SUPPLY, stranger);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveNotTokenMinter.selector, stranger));
        new MoneyWave(token, GENESIS, DAILY_CAP, admin);
    }

    function test_M5_constructorRefusesAMaxSupplyBeyond128Bits() public {
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        uint256 max = uint256(type(uint128).max) + 1;
        PMC token = new PMC(max, predicted);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveUnsupportedMaxSupply.selector, max));
        new MoneyWave(token, GENESIS, DAILY_CAP, admin);
    }

    function test_M1_constructorRefusesACapBeyond128Bits() public {
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        PMC token = new PMC(MAX_SUPPLY, predicted);
        uint256 cap = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDailyCapTooLarge.selector, cap, type(uint128).max));
        new MoneyWave(token, GENESIS, cap, admin);
    }

    function test_M1_constructorRefusesAZeroAdmin() public {
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        PMC token = new PMC(MAX_SUPPLY, predicted);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidAdmin.selector, address(0)));
        new MoneyWave(token, GENESIS, DAILY_CAP, address(0));
    }

    // ------------------------------------------------------------------ publishWave

    function test_M4_publishWaveMintsAndEmits() public {
        bytes32[] memory tree = _tree(_pair(alice, bob), _pair(30 ether, 70 ether));
        vm.warp(_endOf(0));
        vm.expectEmit(address(pmc));
        emit IERC20.Transfer(address(0), address(wave), 100 ether);
        vm.expectEmit(address(wave));
        emit WavePublished(0, tree[0], 100 ether, keccak256("alloc"), 100 ether);
        vm.prank(relayer);
        wave.publishWave(0, tree[0], 100 ether, keccak256("alloc"), 100 ether);

        assertEq(wave.nextDay(), 1);
        assertEq(wave.currentRoot(), tree[0]);
        assertEq(wave.totalMinted(), 100 ether);
        assertEq(pmc.totalSupply(), 100 ether);
        assertEq(pmc.balanceOf(address(wave)), 100 ether);
    }

    function test_M4_publishWaveIsRelayerOnly() public {
        vm.warp(_endOf(0));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, wave.RELAYER_ROLE())
        );
        vm.prank(admin);
        wave.publishWave(0, bytes32(uint256(1)), 1, bytes32(0), 1);
    }

    function test_M4_daysArePublishedInOrder() public {
        vm.warp(_endOf(5));
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveUnexpectedDay.selector, 1, 0));
        vm.prank(relayer);
        wave.publishWave(1, bytes32(uint256(1)), 1, bytes32(0), 1);
        _publish(bytes32(uint256(1)), 1);
        _publish(bytes32(uint256(2)), 1);
        assertEq(wave.nextDay(), 2);
    }

    function test_M4_aDayIsNeverPublishedTwice() public {
        _publish(bytes32(uint256(1)), 1);
        vm.warp(_endOf(3));
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveUnexpectedDay.selector, 0, 1));
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(2)), 1, bytes32(0), 2);
    }

    function test_M4_aMissedDayIsPublishedLaterInOrder() public {
        vm.warp(_endOf(9) + 5 hours); // ten days have ended, none published
        for (uint64 day = 0; day < 10; ++day) {
            vm.prank(relayer);
            wave.publishWave(day, bytes32(uint256(day + 1)), 1 ether, bytes32(0), (uint256(day) + 1) * 1 ether);
        }
        assertEq(wave.nextDay(), 10);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDayNotEnded.selector, 10, _endOf(10)));
        vm.prank(relayer);
        wave.publishWave(10, bytes32(uint256(11)), 1 ether, bytes32(0), 11 ether);
    }

    function test_M4_aDayIsPublishedOnlyAfterItEnds() public {
        vm.warp(_endOf(0) - 1);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDayNotEnded.selector, 0, _endOf(0)));
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), 1, bytes32(0), 1);
        vm.warp(_endOf(0));
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), 1, bytes32(0), 1);
    }

    function testFuzz_M4_aDayIsPublishableExactlyWhenItHasEnded(uint64 day, uint256 offset) public {
        day = uint64(bound(day, 0, 30));
        offset = bound(offset, 0, 2 days);
        // Any time from the end of the previous day to one day after the end of `day`.
        vm.warp(_endOf(day) - 1 days + offset);
        for (uint64 d = 0; d < day; ++d) {
            vm.prank(relayer);
            wave.publishWave(d, bytes32(0), 0, bytes32(0), 0);
        }
        bool ended = wave.dayOf(vm.getBlockTimestamp()) > day;
        assertEq(ended, offset >= 1 days);
        if (!ended) {
            vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDayNotEnded.selector, day, _endOf(day)));
        }
        vm.prank(relayer);
        wave.publishWave(day, bytes32(0), 0, bytes32(0), 0);
        assertEq(wave.nextDay(), ended ? day + 1 : day);
    }

    function test_M1_theCapIsInclusive() public {
        vm.warp(_endOf(0));
        vm.expectRevert(
            abi.encodeWithSelector(MoneyWave.MoneyWaveDailyCapExceeded.selector, 0, DAILY_CAP + 1, DAILY_CAP)
        );
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), DAILY_CAP + 1, bytes32(0), DAILY_CAP + 1);
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), DAILY_CAP, bytes32(0), DAILY_CAP);
        assertEq(wave.totalMinted(), DAILY_CAP);
    }

    function testFuzz_M1_noWaveExceedsTheCap(uint256 cap, uint256 amount) public {
        cap = bound(cap, 0, MAX_SUPPLY);
        amount = bound(amount, 0, MAX_SUPPLY);
        vm.prank(admin);
        wave.setDailyCap(cap);
        vm.warp(_endOf(0));
        if (amount > cap) {
            vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDailyCapExceeded.selector, 0, amount, cap));
        }
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), amount, bytes32(0), amount);
        assertEq(wave.totalMinted(), amount > cap ? 0 : amount);
        assertEq(pmc.totalSupply(), wave.totalMinted());
    }

    function test_M4_totalCumulativeMustMatchTheMintedTotal() public {
        _publish(bytes32(uint256(1)), 10 ether);
        vm.warp(_endOf(1));
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveCumulativeMismatch.selector, 5 ether, 15 ether));
        vm.prank(relayer);
        wave.publishWave(1, bytes32(uint256(2)), 5 ether, bytes32(0), 5 ether);
    }

    function test_M4_aZeroRootIsRefusedOnceSomethingIsClaimable() public {
        vm.warp(_endOf(0));
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveZeroRoot.selector, 0));
        vm.prank(relayer);
        wave.publishWave(0, bytes32(0), 1 ether, bytes32(0), 1 ether);
    }

    function test_M3_anEmptyDayMintsNothing() public {
        vm.warp(_endOf(0));
        vm.expectEmit(address(wave));
        emit WavePublished(0, bytes32(0), 0, bytes32(0), 0);
        vm.recordLogs();
        vm.prank(relayer);
        wave.publishWave(0, bytes32(0), 0, bytes32(0), 0);
        assertEq(vm.getRecordedLogs().length, 2, "only WavePublished and RootPending, no Transfer");
        assertEq(pmc.totalSupply(), 0);
        assertEq(wave.nextDay(), 1);
    }

    function test_M3_anEmptyDayKeepsTheRootClaimable() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        _publish(tree[0], 0);
        wave.claim(alice, 30 ether, StandardTree.proof(tree, 0));
        assertEq(pmc.balanceOf(alice), 30 ether);
    }

    function test_M1_theTokenMaxSupplyHolds() public {
        _deploy(150 ether, 100 ether);
        _publish(bytes32(uint256(1)), 100 ether);
        vm.warp(_endOf(1));
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCMaxSupplyExceeded.selector, 200 ether, 150 ether));
        vm.prank(relayer);
        wave.publishWave(1, bytes32(uint256(2)), 100 ether, bytes32(0), 200 ether);
        _publish(bytes32(uint256(2)), 50 ether);
        assertEq(pmc.totalSupply(), 150 ether);
    }

    function test_M4_publishingIsPausable() public {
        vm.prank(guardian);
        wave.pause();
        vm.warp(_endOf(0));
        vm.expectRevert(MoneyWave.MoneyWaveEnforcedPause.selector);
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), 1, bytes32(0), 1);
    }

    // ------------------------------------------------------------------ setDailyCap

    function test_M1_setDailyCapLogsTheFirstDayItAppliesTo() public {
        _publish(bytes32(uint256(1)), 1);
        _publish(bytes32(uint256(1)), 0);
        vm.expectEmit(address(wave));
        emit DailyCapChanged(DAILY_CAP, 5 ether, 2);
        vm.prank(admin);
        wave.setDailyCap(5 ether);
        assertEq(wave.dailyCap(), 5 ether);
    }

    function test_M1_aCapChangeAppliesToDaysNotYetPublished() public {
        vm.warp(_endOf(3)); // days 0..3 have ended, none is published
        vm.prank(admin);
        wave.setDailyCap(5 ether);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDailyCapExceeded.selector, 0, 6 ether, 5 ether));
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), 6 ether, bytes32(0), 6 ether);
        vm.prank(relayer);
        wave.publishWave(0, bytes32(uint256(1)), 5 ether, bytes32(0), 5 ether);
        vm.prank(admin);
        wave.setDailyCap(7 ether);
        vm.prank(relayer);
        wave.publishWave(1, bytes32(uint256(1)), 7 ether, bytes32(0), 12 ether);
    }

    function test_M1_setDailyCapIsAdminOnly() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, relayer, wave.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(relayer);
        wave.setDailyCap(1);
    }

    function test_M1_setDailyCapRefusesMoreThan128Bits() public {
        uint256 cap = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveDailyCapTooLarge.selector, cap, type(uint128).max));
        vm.prank(admin);
        wave.setDailyCap(cap);
    }

    function test_M1_setDailyCapWorksWhilePaused() public {
        vm.prank(guardian);
        wave.pause();
        vm.prank(admin);
        wave.setDailyCap(0);
        assertEq(wave.dailyCap(), 0);
    }

    // ------------------------------------------------------------------ claim

    function test_M5_claimPaysTheAccountAndEmits() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        bytes32[] memory proof = StandardTree.proof(tree, 0);
        vm.expectEmit(address(pmc));
        emit IERC20.Transfer(address(wave), alice, 30 ether);
        vm.expectEmit(address(wave));
        emit Claimed(alice, 30 ether, 30 ether);
        vm.prank(stranger); // permissionless: anyone submits, the account receives
        wave.claim(alice, 30 ether, proof);
        assertEq(pmc.balanceOf(alice), 30 ether);
        assertEq(pmc.balanceOf(stranger), 0);
        assertEq(wave.claimed(alice), 30 ether);
        assertEq(wave.totalClaimed(), 30 ether);
        assertEq(pmc.balanceOf(address(wave)), 70 ether);
    }

    function test_M4_aLaterWavePaysOnlyTheDifference() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        wave.claim(alice, 30 ether, StandardTree.proof(tree, 0));
        tree = _publishAliceBob(45 ether, 70 ether, 15 ether);
        vm.expectEmit(address(wave));
        emit Claimed(alice, 15 ether, 45 ether);
        wave.claim(alice, 45 ether, StandardTree.proof(tree, 0));
        assertEq(pmc.balanceOf(alice), 45 ether);
        wave.claim(bob, 70 ether, StandardTree.proof(tree, 1));
        assertEq(wave.totalClaimed(), 115 ether);
        assertEq(pmc.balanceOf(address(wave)), 0);
    }

    function test_M5_aClaimIsNeverPaidTwice() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        bytes32[] memory proof = StandardTree.proof(tree, 0);
        wave.claim(alice, 30 ether, proof);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveNothingToClaim.selector, alice, 30 ether, 30 ether));
        wave.claim(alice, 30 ether, proof);
    }

    function test_M5_anOlderLeafPaysNothing() public {
        bytes32[] memory oldTree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        bytes32[] memory tree = _publishAliceBob(45 ether, 70 ether, 15 ether);
        wave.claim(alice, 45 ether, StandardTree.proof(tree, 0));
        // The old leaf is no longer in the current root.
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 30 ether));
        wave.claim(alice, 30 ether, StandardTree.proof(oldTree, 0));
    }

    function test_M5_claimRefusesAWrongAmount() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 31 ether));
        wave.claim(alice, 31 ether, StandardTree.proof(tree, 0));
    }

    function test_M5_claimRefusesAnotherAccount() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, carol, 30 ether));
        wave.claim(carol, 30 ether, StandardTree.proof(tree, 0));
    }

    function testFuzz_M5_claimRefusesATamperedProof(bytes32 junk, uint256 position) public {
        bytes32[] memory tree =
            _tree(_triple(alice, bob, carol), _triple(uint256(1 ether), uint256(2 ether), uint256(3 ether)));
        _publish(tree[0], 6 ether);
        bytes32[] memory proof = StandardTree.proof(tree, 2);
        position = bound(position, 0, proof.length - 1);
        vm.assume(proof[position] != junk);
        proof[position] = junk;
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, carol, 3 ether));
        wave.claim(carol, 3 ether, proof);
    }

    function test_M5_claimBeforeTheFirstWaveIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, alice, 0));
        wave.claim(alice, 0, new bytes32[](0));
    }

    function test_M5_aZeroLeafIsNothingToClaim() public {
        bytes32[] memory tree = _publishAliceBob(0, 70 ether, 70 ether);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveNothingToClaim.selector, alice, 0, 0));
        wave.claim(alice, 0, StandardTree.proof(tree, 0));
    }

    function test_M5_claimingIsPausable() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        vm.prank(guardian);
        wave.pause();
        vm.expectRevert(MoneyWave.MoneyWaveEnforcedPause.selector);
        wave.claim(alice, 30 ether, StandardTree.proof(tree, 0));
        vm.prank(admin);
        wave.unpause();
        wave.claim(alice, 30 ether, StandardTree.proof(tree, 0));
    }

    function test_M5_aLeafAboveTheMintedTotalCannotDrainTheWave() public {
        // A buggy tree: alice's leaf claims more than was ever minted.
        bytes32[] memory tree = _tree(_pair(alice, bob), _pair(150 ether, 0));
        vm.warp(_endOf(0));
        vm.prank(relayer);
        wave.publishWave(0, tree[0], 100 ether, bytes32(0), 100 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, address(wave), 100 ether, 150 ether)
        );
        wave.claim(alice, 150 ether, StandardTree.proof(tree, 0));
    }

    // ------------------------------------------------------------------ claimMany

    function test_M5_claimManyPaysEveryAccount() public {
        bytes32[] memory tree =
            _tree(_triple(alice, bob, carol), _triple(uint256(1 ether), uint256(2 ether), uint256(3 ether)));
        _publish(tree[0], 6 ether);
        (address[] memory accounts, uint256[] memory amounts, bytes32[][] memory proofs) = _batch(tree);
        vm.expectEmit(address(wave));
        emit Claimed(alice, 1 ether, 1 ether);
        vm.expectEmit(address(wave));
        emit Claimed(bob, 2 ether, 2 ether);
        vm.expectEmit(address(wave));
        emit Claimed(carol, 3 ether, 3 ether);
        vm.prank(relayer);
        uint256 paid = wave.claimMany(accounts, amounts, proofs);
        assertEq(paid, 6 ether);
        assertEq(pmc.balanceOf(carol), 3 ether);
        assertEq(wave.totalClaimed(), 6 ether);
    }

    function test_M5_claimManySkipsEntriesWithNothingDue() public {
        bytes32[] memory tree =
            _tree(_triple(alice, bob, carol), _triple(uint256(1 ether), uint256(2 ether), uint256(3 ether)));
        _publish(tree[0], 6 ether);
        wave.claim(bob, 2 ether, StandardTree.proof(tree, 1));
        (address[] memory accounts, uint256[] memory amounts, bytes32[][] memory proofs) = _batch(tree);
        vm.recordLogs();
        uint256 paid = wave.claimMany(accounts, amounts, proofs);
        assertEq(paid, 4 ether);
        // Two claims, each a Transfer and a Claimed: bob, already paid, was skipped silently.
        assertEq(vm.getRecordedLogs().length, 4);
        assertEq(pmc.balanceOf(bob), 2 ether);
        assertEq(wave.totalClaimed(), 6 ether);
        // A batch where nothing is due pays nothing and does not revert.
        assertEq(wave.claimMany(accounts, amounts, proofs), 0);
    }

    function test_M5_claimManyRefusesMismatchedArrays() public {
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveBatchLengthMismatch.selector, 2, 1, 2));
        wave.claimMany(new address[](2), new uint256[](1), new bytes32[][](2));
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveBatchLengthMismatch.selector, 2, 2, 3));
        wave.claimMany(new address[](2), new uint256[](2), new bytes32[][](3));
    }

    function test_M5_claimManyRevertsOnAnInvalidProof() public {
        bytes32[] memory tree =
            _tree(_triple(alice, bob, carol), _triple(uint256(1 ether), uint256(2 ether), uint256(3 ether)));
        _publish(tree[0], 6 ether);
        (address[] memory accounts, uint256[] memory amounts, bytes32[][] memory proofs) = _batch(tree);
        amounts[2] = 4 ether;
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidProof.selector, carol, 4 ether));
        wave.claimMany(accounts, amounts, proofs);
    }

    function test_M5_claimManyIsPausable() public {
        vm.prank(guardian);
        wave.pause();
        vm.expectRevert(MoneyWave.MoneyWaveEnforcedPause.selector);
        wave.claimMany(new address[](0), new uint256[](0), new bytes32[][](0));
    }

    function test_M5_anEmptyBatchPaysNothing() public {
        assertEq(wave.claimMany(new address[](0), new uint256[](0), new bytes32[][](0)), 0);
    }

    // ------------------------------------------------------------------ pause / unpause

    function test_M5_guardianPausesAndAdminUnpauses() public {
        vm.expectEmit(address(wave));
        emit Paused(guardian);
        vm.prank(guardian);
        wave.pause();
        assertTrue(wave.paused());
        vm.expectEmit(address(wave));
        emit Unpaused(admin);
        vm.prank(admin);
        wave.unpause();
        assertFalse(wave.paused());
    }

    function test_M5_onlyTheGuardianPauses() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, admin, wave.GUARDIAN_ROLE()
            )
        );
        vm.prank(admin);
        wave.pause();
    }

    function test_M5_onlyTheAdminUnpauses() public {
        vm.prank(guardian);
        wave.pause();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, wave.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(guardian);
        wave.unpause();
    }

    function test_M5_pauseTwiceReverts() public {
        vm.prank(guardian);
        wave.pause();
        vm.expectRevert(MoneyWave.MoneyWaveEnforcedPause.selector);
        vm.prank(guardian);
        wave.pause();
    }

    function test_M5_unpauseWhenRunningReverts() public {
        vm.expectRevert(MoneyWave.MoneyWaveExpectedPause.selector);
        vm.prank(admin);
        wave.unpause();
    }

    // ------------------------------------------------------------------ views

    function test_M4_dayOfCountsUtcDaysFromGenesis() public view {
        assertEq(wave.dayOf(GENESIS), 0);
        assertEq(wave.dayOf(GENESIS + 1 days - 1), 0);
        assertEq(wave.dayOf(GENESIS + 1 days), 1);
        assertEq(wave.dayOf(GENESIS + 365 days + 12 hours), 365);
    }

    function testFuzz_M4_dayOf(uint256 timestamp) public view {
        timestamp = bound(timestamp, GENESIS, type(uint64).max);
        uint64 day = wave.dayOf(timestamp);
        assertLe(GENESIS + uint256(day) * 1 days, timestamp);
        assertGt(GENESIS + (uint256(day) + 1) * 1 days, timestamp);
    }

    function testFuzz_M4_dayOfBeforeGenesisReverts(uint256 timestamp) public {
        timestamp = bound(timestamp, 0, GENESIS - 1);
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveBeforeGenesis.selector, timestamp, GENESIS));
        wave.dayOf(timestamp);
    }

    function test_M4_dayOfRefusesADayBeyond64Bits() public {
        uint256 timestamp = type(uint256).max;
        vm.expectRevert(
            abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 64, (timestamp - GENESIS) / 1 days)
        );
        wave.dayOf(timestamp);
    }

    function test_M5_totalClaimedIsMintedMinusBalance() public {
        bytes32[] memory tree = _publishAliceBob(30 ether, 70 ether, 100 ether);
        wave.claim(bob, 70 ether, StandardTree.proof(tree, 1));
        assertEq(wave.totalClaimed(), 70 ether);
        assertEq(pmc.balanceOf(address(wave)), wave.totalMinted() - wave.totalClaimed());
    }

    // ------------------------------------------------------------------ helpers

    function _triple(address a, address b, address c) internal pure returns (address[] memory list) {
        list = new address[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _triple(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory list) {
        list = new uint256[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    /// @dev The batch for the three-leaf tree of alice, bob and carol (1, 2 and 3 PMC).
    function _batch(bytes32[] memory tree)
        internal
        view
        returns (address[] memory accounts, uint256[] memory amounts, bytes32[][] memory proofs)
    {
        accounts = _triple(alice, bob, carol);
        amounts = _triple(uint256(1 ether), uint256(2 ether), uint256(3 ether));
        proofs = new bytes32[][](3);
        for (uint256 i = 0; i < 3; ++i) {
            proofs[i] = StandardTree.proof(tree, i);
        }
    }
}
