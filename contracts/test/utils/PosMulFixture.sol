// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {PMC} from "../../PMC.sol";
import {MoneyWave} from "../../MoneyWave.sol";
import {DonationHub} from "../../DonationHub.sol";
import {StandardTree} from "./StandardTree.sol";

/**
 * @title PosMulFixture — the three contracts deployed as the deploy script does, plus helpers
 * @notice PMC is created first with the predicted MoneyWave address as minter; MoneyWave's genesis
 * is {GENESIS} (2026-01-01T00:00:00Z) and the clock starts there. Roles go to named test accounts.
 */
abstract contract PosMulFixture is Test {
    uint256 internal constant GENESIS = 1_767_225_600; // 2026-01-01T00:00:00Z
    uint256 internal constant MAX_SUPPLY = 21_000_000_000 ether;
    uint256 internal constant DAILY_CAP = 1_000_000 ether;

    address internal admin = makeAddr("admin");
    address internal relayer = makeAddr("relayer");
    address internal guardian = makeAddr("guardian");

    PMC internal pmc;
    MoneyWave internal wave;
    DonationHub internal hub;

    function _deploy() internal {
        _deploy(MAX_SUPPLY, DAILY_CAP);
    }

    function _deploy(uint256 maxSupply, uint256 dailyCap) internal {
        vm.warp(GENESIS);
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        pmc = new PMC(maxSupply, predicted);
        wave = new MoneyWave(pmc, GENESIS, dailyCap, admin);
        hub = new DonationHub(pmc, admin);
        vm.startPrank(admin);
        wave.grantRole(wave.RELAYER_ROLE(), relayer);
        wave.grantRole(wave.GUARDIAN_ROLE(), guardian);
        vm.stopPrank();
    }

    /// @dev First timestamp at which `day` may be published.
    function _endOf(uint64 day) internal pure returns (uint256) {
        return GENESIS + (uint256(day) + 1) * 1 days;
    }

    /// @dev Publishes the next wave as the relayer, moving the clock to the end of that day if needed.
    function _publish(bytes32 root, uint256 amount) internal returns (uint64 day) {
        day = wave.nextDay();
        if (vm.getBlockTimestamp() < _endOf(day)) vm.warp(_endOf(day));
        uint256 total = wave.totalMinted() + amount;
        vm.prank(relayer);
        wave.publishWave(day, root, amount, keccak256(abi.encode("allocation", day)), total);
    }

    /// @dev Tree over `(accounts[i], amounts[i])` in the given order (JS `sortLeaves: false` layout).
    function _tree(address[] memory accounts, uint256[] memory amounts) internal pure returns (bytes32[] memory) {
        bytes32[] memory leaves = new bytes32[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            leaves[i] = StandardTree.leaf(accounts[i], amounts[i]);
        }
        return StandardTree.build(leaves);
    }

    function _sum(uint256[] memory amounts) internal pure returns (uint256 total) {
        for (uint256 i = 0; i < amounts.length; ++i) {
            total += amounts[i];
        }
    }

    function _pair(address a, address b) internal pure returns (address[] memory list) {
        list = new address[](2);
        list[0] = a;
        list[1] = b;
    }

    function _pair(uint256 a, uint256 b) internal pure returns (uint256[] memory list) {
        list = new uint256[](2);
        list[0] = a;
        list[1] = b;
    }
}
