// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Script} from "forge-std/Script.sol";
import {PMC} from "../contracts/PMC.sol";
import {MoneyWave} from "../contracts/MoneyWave.sol";
import {DonationHub} from "../contracts/DonationHub.sol";

/**
 * @title Deploy — PMC, MoneyWave and DonationHub, wired together
 * @notice The same script serves anvil, Polygon Amoy (80002) and Polygon mainnet (137):
 *
 *     forge script script/Deploy.s.sol --rpc-url <url> --broadcast --private-key <key>
 *
 * Environment (all optional):
 *   MAX_SUPPLY        PMC hard cap in wei             default 21,000,000,000 PMC (21e27 wei)
 *   DAILY_CAP         MoneyWave daily cap in wei      default 1,000,000 PMC (1e24 wei): the cap lasts
 *                                                     57 years at full emission; set it from M1's EAT/365
 *   GENESIS           start of day 0, unix seconds, a UTC midnight
 *                                                     default: the UTC midnight of the current block's day
 *   ROOT_DELAY        seconds before a published root is claimable (M6), at most 12 hours
 *                                                     default: 6 hours on Polygon (137) and Amoy (80002),
 *                                                     0 elsewhere (anvil), so local roots pay at once
 *   ADMIN_ADDRESS     DEFAULT_ADMIN_ROLE of MoneyWave and DonationHub     default: the broadcaster
 *   RELAYER_ADDRESS   MoneyWave RELAYER_ROLE (publishes waves)           default: the broadcaster
 *   GUARDIAN_ADDRESS  MoneyWave GUARDIAN_ROLE (can pause)                default: the broadcaster
 *   DEPLOYMENT_FILE   where to write the summary      default: deployments/<chainId>.json
 *                     (forge may write only under deployments/, see fs_permissions in foundry.toml)
 *
 * Steps: PMC is created with the *predicted* address of MoneyWave (the broadcaster's next nonce) as
 * its only minter; MoneyWave checks in its constructor that the token names it. The broadcaster is
 * MoneyWave's first admin so that it can set the root delay and grant the relayer and guardian roles, then hands the admin
 * role to ADMIN_ADDRESS and renounces it when that is another account. DonationHub's admin is
 * ADMIN_ADDRESS from the start.
 *
 * The summary file holds chainId, the three addresses, deploymentBlock (the block the script ran
 * against: the contracts' events are at or after it), genesis, rootDelay (seconds), and maxSupply and
 * dailyCap as decimal strings (wei), plus the role holders.
 */
contract Deploy is Script {
    uint256 public constant DEFAULT_MAX_SUPPLY = 21_000_000_000 ether;
    uint256 public constant DEFAULT_DAILY_CAP = 1_000_000 ether;
    /// @notice The root delay on Polygon and Amoy unless ROOT_DELAY says otherwise (M6).
    uint256 public constant POLYGON_ROOT_DELAY = 6 hours;

    /// @notice What to deploy.
    struct Config {
        uint256 maxSupply;
        uint256 dailyCap;
        uint256 genesis;
        uint256 rootDelay;
        address admin;
        address relayer;
        address guardian;
    }

    /// @notice What was deployed.
    struct Deployment {
        PMC pmc;
        MoneyWave moneyWave;
        DonationHub donationHub;
        uint256 deploymentBlock;
    }

    /// @notice Deploys with the environment's configuration and writes the summary file.
    function run() external returns (Deployment memory deployment) {
        vm.startBroadcast();
        (, address broadcaster,) = vm.readCallers();
        Config memory config = configFromEnv(broadcaster);
        deployment = _deploy(config, broadcaster);
        vm.stopBroadcast();
        write(config, deployment, vm.envOr("DEPLOYMENT_FILE", defaultDeploymentFile()));
    }

    /// @notice The configuration from the environment, with `broadcaster` as the default role holder.
    function configFromEnv(address broadcaster) public view returns (Config memory config) {
        config.maxSupply = vm.envOr("MAX_SUPPLY", DEFAULT_MAX_SUPPLY);
        config.dailyCap = vm.envOr("DAILY_CAP", DEFAULT_DAILY_CAP);
        config.genesis = vm.envOr("GENESIS", block.timestamp - (block.timestamp % 1 days));
        config.rootDelay = vm.envOr("ROOT_DELAY", defaultRootDelay());
        config.admin = vm.envOr("ADMIN_ADDRESS", broadcaster);
        config.relayer = vm.envOr("RELAYER_ADDRESS", broadcaster);
        config.guardian = vm.envOr("GUARDIAN_ADDRESS", broadcaster);
    }

    /// @notice The root delay of this chain when ROOT_DELAY is unset: 6 hours on Polygon mainnet and
    /// Amoy, where a root must wait for the watcher and the guardian; 0 elsewhere (development chains).
    function defaultRootDelay() public view returns (uint256) {
        return _isPolygon() ? POLYGON_ROOT_DELAY : 0;
    }

    /// @notice deployments/<chainId>.json
    function defaultDeploymentFile() public view returns (string memory) {
        return string.concat("deployments/", vm.toString(block.chainid), ".json");
    }

    /// @notice Deploys as `deployer` (broadcasting when the caller started a broadcast for it).
    function deployAs(Config memory config, address deployer) external returns (Deployment memory deployment) {
        vm.startBroadcast(deployer);
        deployment = _deploy(config, deployer);
        vm.stopBroadcast();
    }

    /// @notice Writes the summary of `deployment` to `path` (JSON), creating deployments/ if needed.
    function write(Config memory config, Deployment memory deployment, string memory path) public {
        string memory key = "deployment";
        vm.serializeUint(key, "chainId", block.chainid);
        vm.serializeAddress(key, "pmc", address(deployment.pmc));
        vm.serializeAddress(key, "moneyWave", address(deployment.moneyWave));
        vm.serializeAddress(key, "donationHub", address(deployment.donationHub));
        vm.serializeUint(key, "deploymentBlock", deployment.deploymentBlock);
        vm.serializeUint(key, "genesis", config.genesis);
        vm.serializeUint(key, "rootDelay", config.rootDelay);
        vm.serializeString(key, "maxSupply", vm.toString(config.maxSupply));
        vm.serializeString(key, "dailyCap", vm.toString(config.dailyCap));
        vm.serializeAddress(key, "admin", config.admin);
        vm.serializeAddress(key, "relayer", config.relayer);
        string memory json = vm.serializeAddress(key, "guardian", config.guardian);
        vm.createDir("deployments", true);
        vm.writeJson(json, path);
    }

    function _deploy(Config memory config, address deployer) internal returns (Deployment memory deployment) {
        deployment.deploymentBlock = block.number;
        address predictedWave = vm.computeCreateAddress(deployer, vm.getNonce(deployer) + 1);
        deployment.pmc = new PMC(config.maxSupply, predictedWave);
        deployment.moneyWave = new MoneyWave(deployment.pmc, config.genesis, config.dailyCap, deployer);
        require(address(deployment.moneyWave) == predictedWave, "Deploy: MoneyWave address mispredicted");
        deployment.donationHub = new DonationHub(deployment.pmc, config.admin);

        MoneyWave wave = deployment.moneyWave;
        if (config.rootDelay != 0) wave.setRootDelay(config.rootDelay);
        wave.grantRole(wave.RELAYER_ROLE(), config.relayer);
        wave.grantRole(wave.GUARDIAN_ROLE(), config.guardian);
        if (config.admin != deployer) {
            wave.grantRole(wave.DEFAULT_ADMIN_ROLE(), config.admin);
            wave.renounceRole(wave.DEFAULT_ADMIN_ROLE(), deployer);
        }
    }

    function _isPolygon() internal view returns (bool) {
        return block.chainid == 137 || block.chainid == 80002;
    }
}
