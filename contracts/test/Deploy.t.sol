// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../../script/Deploy.s.sol";
import {PMC} from "../PMC.sol";
import {MoneyWave} from "../MoneyWave.sol";
import {DonationHub} from "../DonationHub.sol";

/// @notice script/Deploy.s.sol wires the contracts as DESIGN.md describes (M1, M4, M5, S4).
contract DeployScriptTest is Test {
    uint256 internal constant GENESIS = 1_767_225_600; // 2026-01-01T00:00:00Z

    Deploy internal script;
    address internal deployer = makeAddr("deployer");
    address internal admin = makeAddr("admin");
    address internal relayer = makeAddr("relayer");
    address internal guardian = makeAddr("guardian");

    function setUp() public {
        vm.warp(GENESIS + 5 hours);
        vm.roll(1234);
        script = new Deploy();
    }

    function _config(address admin_) internal view returns (Deploy.Config memory) {
        return Deploy.Config({
            maxSupply: script.DEFAULT_MAX_SUPPLY(),
            dailyCap: script.DEFAULT_DAILY_CAP(),
            genesis: GENESIS,
            rootDelay: 6 hours,
            admin: admin_,
            relayer: relayer,
            guardian: guardian
        });
    }

    function test_M5_deployMakesMoneyWaveTheOnlyMinter() public {
        Deploy.Deployment memory d = script.deployAs(_config(admin), deployer);
        assertEq(d.pmc.minter(), address(d.moneyWave));
        assertEq(d.moneyWave.token(), address(d.pmc));
        assertEq(d.donationHub.token(), address(d.pmc));
        assertEq(d.pmc.MAX_SUPPLY(), 21_000_000_000 ether);
        assertEq(d.moneyWave.dailyCap(), 1_000_000 ether);
        assertEq(d.moneyWave.genesis(), GENESIS);
        assertEq(d.deploymentBlock, 1234);
    }

    function test_M6_deploySetsTheRootDelay() public {
        Deploy.Deployment memory d = script.deployAs(_config(admin), deployer);
        assertEq(d.moneyWave.rootDelay(), 6 hours);
        Deploy.Config memory config = _config(admin);
        config.rootDelay = 0;
        d = script.deployAs(config, deployer);
        assertEq(d.moneyWave.rootDelay(), 0);
    }

    function test_M6_theRootDelayDefaultsToSixHoursOnPolygonAndZeroElsewhere() public {
        vm.chainId(31337);
        assertEq(script.defaultRootDelay(), 0, "anvil: the Rust end-to-end tests claim at once");
        vm.chainId(80002);
        assertEq(script.defaultRootDelay(), 6 hours);
        vm.chainId(137);
        assertEq(script.defaultRootDelay(), 6 hours);
    }

    function test_M4_deployGrantsTheRolesAndHandsOverAdmin() public {
        Deploy.Deployment memory d = script.deployAs(_config(admin), deployer);
        MoneyWave wave = d.moneyWave;
        assertTrue(wave.hasRole(wave.RELAYER_ROLE(), relayer));
        assertTrue(wave.hasRole(wave.GUARDIAN_ROLE(), guardian));
        assertTrue(wave.hasRole(wave.DEFAULT_ADMIN_ROLE(), admin));
        assertFalse(wave.hasRole(wave.DEFAULT_ADMIN_ROLE(), deployer), "the deployer renounced");
        assertTrue(d.donationHub.hasRole(d.donationHub.DEFAULT_ADMIN_ROLE(), admin));
        assertFalse(d.donationHub.hasRole(d.donationHub.DEFAULT_ADMIN_ROLE(), deployer));
    }

    function test_M4_deployKeepsAdminWhenTheDeployerIsTheAdmin() public {
        Deploy.Deployment memory d = script.deployAs(_config(deployer), deployer);
        assertTrue(d.moneyWave.hasRole(d.moneyWave.DEFAULT_ADMIN_ROLE(), deployer));
        assertTrue(d.donationHub.hasRole(d.donationHub.DEFAULT_ADMIN_ROLE(), deployer));
    }

    function test_M4_deployRefusesAGenesisThatIsNotAMidnight() public {
        Deploy.Config memory config = _config(admin);
        config.genesis = GENESIS + 1;
        vm.expectRevert(abi.encodeWithSelector(MoneyWave.MoneyWaveInvalidGenesis.selector, GENESIS + 1));
        script.deployAs(config, deployer);
    }

    function test_M1_theDeploymentFileNamesEverything() public {
        Deploy.Config memory config = _config(admin);
        Deploy.Deployment memory d = script.deployAs(config, deployer);
        string memory path = "deployments/forge-test-deploy.json";
        script.write(config, d, path);
        string memory json = vm.readFile(path);
        vm.removeFile(path);
        assertEq(vm.parseJsonUint(json, ".chainId"), block.chainid);
        assertEq(vm.parseJsonAddress(json, ".pmc"), address(d.pmc));
        assertEq(vm.parseJsonAddress(json, ".moneyWave"), address(d.moneyWave));
        assertEq(vm.parseJsonAddress(json, ".donationHub"), address(d.donationHub));
        assertEq(vm.parseJsonUint(json, ".deploymentBlock"), 1234);
        assertEq(vm.parseJsonUint(json, ".genesis"), GENESIS);
        assertEq(vm.parseJsonUint(json, ".rootDelay"), 6 hours);
        // Big numbers are decimal strings, so JSON readers never round them.
        assertEq(vm.parseJsonString(json, ".maxSupply"), "21000000000000000000000000000");
        assertEq(vm.parseJsonString(json, ".dailyCap"), "1000000000000000000000000");
        assertEq(vm.parseJsonAddress(json, ".admin"), admin);
        assertEq(vm.parseJsonAddress(json, ".relayer"), relayer);
        assertEq(vm.parseJsonAddress(json, ".guardian"), guardian);
    }

    function test_M1_theEnvironmentConfiguresTheDeployment() public {
        // The only test that touches these variables (the environment is shared by parallel tests).
        vm.setEnv("MAX_SUPPLY", "5000000000000000000000000");
        vm.setEnv("DAILY_CAP", "1000000000000000000000");
        vm.setEnv("GENESIS", "1767312000");
        vm.setEnv("ADMIN_ADDRESS", vm.toString(admin));
        vm.setEnv("RELAYER_ADDRESS", vm.toString(relayer));
        vm.setEnv("GUARDIAN_ADDRESS", vm.toString(guardian));
        vm.setEnv("ROOT_DELAY", "30");
        Deploy.Config memory config = script.configFromEnv(deployer);
        assertEq(config.rootDelay, 30);
        assertEq(config.maxSupply, 5_000_000 ether);
        assertEq(config.dailyCap, 1000 ether);
        assertEq(config.genesis, 1_767_312_000);
        assertEq(config.admin, admin);
        assertEq(config.relayer, relayer);
        assertEq(config.guardian, guardian);
        assertEq(script.defaultDeploymentFile(), string.concat("deployments/", vm.toString(block.chainid), ".json"));
    }
}
