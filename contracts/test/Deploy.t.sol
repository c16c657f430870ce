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
            guardian: guardian,
            allowSharedRoles: false
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
        assertEq(vm.parseJsonAddress(json, ".deployer"), deployer);
        assertEq(vm.parseJsonUint(json, ".genesis"), GENESIS);
        assertEq(vm.parseJsonUint(json, ".rootDelay"), 6 hours);
        // Big numbers are decimal strings, so JSON readers never round them.
        assertEq(vm.parseJsonString(json, ".maxSupply"), "21000000000000000000000000000");
        assertEq(vm.parseJsonString(json, ".dailyCap"), "1000000000000000000000000");
        assertEq(vm.parseJsonAddress(json, ".admin"), admin);
        assertEq(vm.parseJsonAddress(json, ".relayer"), relayer);
        assertEq(vm.parseJsonAddress(json, ".guardian"), guardian);
    }

    // ------------------------------------------------------------------ separate role holders on Polygon

    function test_M6_polygonRefusesOneAddressForTwoRoles() public {
        uint64[2] memory chains = [uint64(137), uint64(80002)];
        for (uint256 c = 0; c < chains.length; ++c) {
            vm.chainId(chains[c]);
            Deploy.Config memory config = _config(admin);
            config.guardian = admin;
            vm.expectRevert(abi.encodeWithSelector(Deploy.DeploySharedRoleHolder.selector, admin, admin, relayer));
            script.deployAs(config, deployer);
            config = _config(admin);
            config.relayer = admin;
            vm.expectRevert(abi.encodeWithSelector(Deploy.DeploySharedRoleHolder.selector, admin, guardian, admin));
            script.deployAs(config, deployer);
            config = _config(admin);
            config.relayer = guardian;
            vm.expectRevert(abi.encodeWithSelector(Deploy.DeploySharedRoleHolder.selector, admin, guardian, guardian));
            script.deployAs(config, deployer);
            // The defaults, every role to the broadcaster, are refused too.
            config = _config(deployer);
            (config.relayer, config.guardian) = (deployer, deployer);
            vm.expectRevert(
                abi.encodeWithSelector(Deploy.DeploySharedRoleHolder.selector, deployer, deployer, deployer)
            );
            script.deployAs(config, deployer);
        }
    }

    function test_M6_polygonDeploysWithThreeRoleHolders() public {
        vm.chainId(137);
        Deploy.Deployment memory d = script.deployAs(_config(admin), deployer);
        assertTrue(d.moneyWave.hasRole(d.moneyWave.GUARDIAN_ROLE(), guardian));
    }

    function test_M6_sharedRolesNeedTheExplicitFlag() public {
        vm.chainId(80002);
        Deploy.Config memory config = _config(admin);
        (config.relayer, config.guardian, config.allowSharedRoles) = (admin, admin, true);
        Deploy.Deployment memory d = script.deployAs(config, deployer);
        assertTrue(d.moneyWave.hasRole(d.moneyWave.RELAYER_ROLE(), admin));
        assertTrue(d.moneyWave.hasRole(d.moneyWave.GUARDIAN_ROLE(), admin));
    }

    function test_M6_aDevelopmentChainAcceptsOneAddress() public {
        vm.chainId(31337);
        Deploy.Config memory config = _config(deployer);
        (config.relayer, config.guardian) = (deployer, deployer);
        Deploy.Deployment memory d = script.deployAs(config, deployer);
        assertTrue(d.moneyWave.hasRole(d.moneyWave.RELAYER_ROLE(), deployer));
    }

    // ------------------------------------------------------------------ explorer verification

    function test_M1_theDeploymentWritesEachContractsStandardJsonInput() public {
        string memory dir = "deployments/forge-test-verify";
        script.writeStandardJsonInputs(dir);
        string[3] memory names = ["PMC", "MoneyWave", "DonationHub"];
        for (uint256 i = 0; i < names.length; ++i) {
            string memory json = vm.readFile(string.concat(dir, "/", names[i], ".input.json"));
            assertEq(vm.parseJsonString(json, ".language"), "Solidity");
            string memory main = string.concat("contracts/", names[i], ".sol");
            // The contract's own source and its dependencies, with their content as compiled.
            string memory meta = vm.parseJsonString(
                vm.readFile(string.concat("out/", names[i], ".sol/", names[i], ".json")), ".rawMetadata"
            );
            string[] memory expected = vm.parseJsonKeys(meta, ".sources");
            string[] memory written = vm.parseJsonKeys(json, ".sources");
            assertEq(written.length, expected.length, "every source the compiler used");
            bool seen;
            for (uint256 k = 0; k < written.length; ++k) {
                assertEq(written[k], expected[k]);
                if (keccak256(bytes(written[k])) == keccak256(bytes(main))) seen = true;
            }
            assertTrue(seen, "the contract's own source");
            assertEq(vm.parseJsonBool(json, ".settings.optimizer.enabled"), true);
            assertEq(vm.parseJsonUint(json, ".settings.optimizer.runs"), 200);
            assertEq(vm.parseJsonString(json, ".settings.evmVersion"), "cancun");
            assertEq(vm.parseJsonString(json, ".settings.metadata.bytecodeHash"), "ipfs");
            assertFalse(vm.keyExistsJson(json, ".settings.compilationTarget"), "not an input setting");
            assertTrue(vm.keyExistsJson(json, ".settings.outputSelection"));
            assertGt(vm.parseJsonStringArray(json, ".settings.remappings").length, 0);
        }
        string memory pmcJson = vm.readFile(string.concat(dir, "/PMC.input.json"));
        vm.removeDir(dir, true);
        // The content is the file, byte for byte (the JSON escaping round-trips).
        assertEq(
            keccak256(bytes(vm.parseJsonString(pmcJson, ".sources['contracts/PMC.sol'].content"))),
            keccak256(bytes(vm.readFile("contracts/PMC.sol")))
        );
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
        vm.setEnv("ALLOW_SHARED_ROLES", "true");
        Deploy.Config memory config = script.configFromEnv(deployer);
        assertEq(config.rootDelay, 30);
        assertTrue(config.allowSharedRoles);
        assertEq(config.maxSupply, 5_000_000 ether);
        assertEq(config.dailyCap, 1000 ether);
        assertEq(config.genesis, 1_767_312_000);
        assertEq(config.admin, admin);
        assertEq(config.relayer, relayer);
        assertEq(config.guardian, guardian);
        assertEq(script.defaultDeploymentFile(), string.concat("deployments/", vm.toString(block.chainid), ".json"));
        assertEq(script.defaultVerifyInputDir(), string.concat("deployments/", vm.toString(block.chainid)));
    }
}
