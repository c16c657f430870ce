// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console} from "forge-std/console.sol";
import {PosMulFixture} from "../utils/PosMulFixture.sol";
import {MoneyWaveHandler} from "./MoneyWaveHandler.sol";

/**
 * @notice Invariants of the emission under random waves, cap and root-delay changes, revocations,
 * claims (including with pending and revoked proofs), pauses and transfers.
 * The token's MAX_SUPPLY (1,500,000 PMC) is small enough for a run to reach it, so the cap, the
 * supply limit and the solvency rules are all exercised at their edges.
 */
contract MoneyWaveInvariantTest is StdInvariant, PosMulFixture {
    uint256 internal constant SMALL_MAX_SUPPLY = 1_500_000 ether;

    MoneyWaveHandler internal handler;

    function setUp() public {
        _deploy(SMALL_MAX_SUPPLY, 1_000_000 ether);
        handler = new MoneyWaveHandler(pmc, wave, relayer, admin, guardian);
        bytes4[] memory selectors = new bytes4[](10);
        selectors[0] = MoneyWaveHandler.publish.selector;
        selectors[1] = MoneyWaveHandler.publishWrongDay.selector;
        selectors[2] = MoneyWaveHandler.setCap.selector;
        selectors[3] = MoneyWaveHandler.claim.selector;
        selectors[4] = MoneyWaveHandler.claimMany.selector;
        selectors[5] = MoneyWaveHandler.togglePause.selector;
        selectors[6] = MoneyWaveHandler.transfer.selector;
        selectors[7] = MoneyWaveHandler.revoke.selector;
        selectors[8] = MoneyWaveHandler.setDelay.selector;
        selectors[9] = MoneyWaveHandler.claimStale.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// (a) PMC.totalSupply == MoneyWave.totalMinted == the sum of the amounts of the waves in force
    /// (published and not revoked) <= MAX_SUPPLY.
    function invariant_M1_supplyEqualsTheSumOfWaves() public view {
        uint256 sum;
        for (uint256 i = 0; i < handler.publishedCount(); ++i) {
            sum += handler.publishedAmounts(i);
        }
        assertEq(pmc.totalSupply(), wave.totalMinted(), "supply == totalMinted");
        assertEq(wave.totalMinted(), sum, "totalMinted == sum of waves");
        assertEq(sum, handler.ghostMinted());
        assertLe(pmc.totalSupply(), pmc.MAX_SUPPLY(), "supply <= MAX_SUPPLY");
    }

    /// (b) Every published amount is at most the cap in force for its day.
    function invariant_M3_everyWaveWithinItsDayCap() public view {
        for (uint256 i = 0; i < handler.publishedCount(); ++i) {
            assertLe(handler.publishedAmounts(i), handler.capAtPublication(i), "wave above its cap");
        }
        assertEq(wave.dailyCap(), handler.ghostCap());
    }

    /// (c) M5: the wave's PMC balance == totalMinted - totalClaimed, and totalClaimed is what holders
    /// received. The balance is exactly what the latest root (pending or not) leaves to claim, and so at
    /// least what is claimable now (M6: minted - claimed >= claimable).
    function invariant_M5_theWaveIsSolvent() public view {
        assertEq(pmc.balanceOf(address(wave)), wave.totalMinted() - wave.totalClaimed(), "balance == minted - claimed");
        assertEq(wave.totalClaimed(), handler.ghostClaimed(), "totalClaimed == sum received");
        uint256 outstanding;
        uint256 claimable;
        for (uint256 i = 0; i < handler.ACCOUNTS(); ++i) {
            uint256 got = wave.claimed(handler.accounts(i));
            outstanding += handler.latestEntitled(i) - got;
            claimable += handler.entitled(i) - got;
        }
        assertEq(pmc.balanceOf(address(wave)), outstanding, "the balance covers exactly the latest root");
        assertGe(wave.totalMinted() - wave.totalClaimed(), claimable, "minted - claimed >= claimable");
    }

    /// (f) M6: claims use the root in force (the pending one only once its delay passed), the pending
    /// root is the handler's, and a revocation burnt exactly what its waves minted.
    function invariant_M6_pendingAndCurrentRootsFollowTheDelay() public view {
        assertEq(wave.currentRoot(), handler.currentRoot(), "currentRoot");
        (bytes32 root, uint64 firstDay, uint256 claimableAt) = wave.pendingRoot();
        (bytes32 ghostRoot, uint64 ghostFirstDay, uint256 ghostAt) = handler.pendingRoot();
        assertEq(root, ghostRoot, "pending root");
        assertEq(firstDay, ghostFirstDay, "pending run's first day");
        assertEq(claimableAt, ghostAt, "claimableAt");
        assertEq(wave.rootDelay(), handler.ghostDelay(), "rootDelay");
        assertEq(handler.ghostBurned(), handler.ghostRevoked(), "burnt == revoked waves' amounts");
    }

    /// (d) claimed[a] never exceeds a's cumulative amount in the current root.
    function invariant_M5_claimedNeverExceedsTheEntitlement() public view {
        uint256 claimedSum;
        for (uint256 i = 0; i < handler.ACCOUNTS(); ++i) {
            uint256 got = wave.claimed(handler.accounts(i));
            assertLe(got, handler.entitled(i), "claimed above entitlement");
            claimedSum += got;
        }
        assertEq(claimedSum, wave.totalClaimed());
    }

    /// (e) No day is published twice or out of order.
    function invariant_M4_daysArePublishedOnceAndInOrder() public view {
        uint256 n = handler.publishedCount();
        for (uint256 i = 0; i < n; ++i) {
            assertEq(handler.publishedDays(i), i, "day published out of order");
        }
        assertEq(wave.nextDay(), n, "nextDay == number of waves");
    }

    /// Every action behaved as the rules say (refused exactly when a rule forbids it).
    function invariant_M4_M5_everyActionFollowsTheRules() public view {
        assertEq(handler.unexpected(), 0, handler.firstUnexpected());
        assertEq(wave.paused(), handler.ghostPaused());
    }

    /// After each run its coverage is logged (visible with -vv).
    function afterInvariant() external view {
        console.log("waves published %s, refused %s", handler.calls_publish(), handler.calls_publishRefused());
        console.log("claims %s, batches %s", handler.calls_claim(), handler.calls_claimMany());
        console.log("cap changes %s, pause toggles %s", handler.calls_setCap(), handler.calls_pause());
        console.log("revocations %s, refused %s", handler.calls_revoke(), handler.calls_revokeRefused());
        console.log("delay changes %s, stale claims tried %s", handler.calls_setDelay(), handler.calls_claimStale());
        console.log("minted %s PMC of %s", wave.totalMinted() / 1 ether, pmc.MAX_SUPPLY() / 1 ether);
    }
}
