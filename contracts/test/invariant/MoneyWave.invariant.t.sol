// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console} from "forge-std/console.sol";
import {PosMulFixture} from "../utils/PosMulFixture.sol";
import {MoneyWaveHandler} from "./MoneyWaveHandler.sol";

/**
 * @notice Invariants of the emission under random waves, cap changes, claims, pauses and transfers.
 * The token's MAX_SUPPLY (1,500,000 PMC) is small enough for a run to reach it, so the cap, the
 * supply limit and the solvency rules are all exercised at their edges.
 */
contract MoneyWaveInvariantTest is StdInvariant, PosMulFixture {
    uint256 internal constant SMALL_MAX_SUPPLY = 1_500_000 ether;

    MoneyWaveHandler internal handler;

    function setUp() public {
        _deploy(SMALL_MAX_SUPPLY, 1_000_000 ether);
        handler = new MoneyWaveHandler(pmc, wave, relayer, admin, guardian);
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = MoneyWaveHandler.publish.selector;
        selectors[1] = MoneyWaveHandler.publishWrongDay.selector;
        selectors[2] = MoneyWaveHandler.setCap.selector;
        selectors[3] = MoneyWaveHandler.claim.selector;
        selectors[4] = MoneyWaveHandler.claimMany.selector;
        selectors[5] = MoneyWaveHandler.togglePause.selector;
        selectors[6] = MoneyWaveHandler.transfer.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// (a) PMC.totalSupply == MoneyWave.totalMinted == the sum of published amounts <= MAX_SUPPLY.
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

    /// (c) M5: the wave's PMC balance == totalMinted - totalClaimed, and totalClaimed is what holders received.
    function invariant_M5_theWaveIsSolvent() public view {
        assertEq(pmc.balanceOf(address(wave)), wave.totalMinted() - wave.totalClaimed(), "balance == minted - claimed");
        assertEq(wave.totalClaimed(), handler.ghostClaimed(), "totalClaimed == sum received");
        uint256 outstanding;
        for (uint256 i = 0; i < handler.ACCOUNTS(); ++i) {
            outstanding += handler.entitled(i) - wave.claimed(handler.accounts(i));
        }
        assertEq(pmc.balanceOf(address(wave)), outstanding, "the balance covers exactly what is claimable");
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
        console.log("minted %s PMC of %s", wave.totalMinted() / 1 ether, pmc.MAX_SUPPLY() / 1 ether);
    }
}
