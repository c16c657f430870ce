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
 *   ALLOW_SHARED_ROLES  true to let one address hold two of admin, guardian and relayer on Polygon
 *                     (137) or Amoy (80002), which the script refuses otherwise  default: false
 *   DEPLOYMENT_FILE   where to write the summary      default: deployments/<chainId>.json
 *                     (forge may write only under deployments/, see fs_permissions in foundry.toml)
 *   VERIFY_INPUT_DIR  where to write each contract's standard-JSON compiler input, <Name>.input.json
 *                                                     default: deployments/<chainId>
 *
 * Steps: PMC is created with the *predicted* address of MoneyWave (the broadcaster's next nonce) as
 * its only minter; MoneyWave checks in its constructor that the token names it. The broadcaster is
 * MoneyWave's first admin so that it can set the root delay and grant the relayer and guardian roles, then hands the admin
 * role to ADMIN_ADDRESS and renounces it when that is another account. DonationHub's admin is
 * ADMIN_ADDRESS from the start.
 *
 * On Polygon and Amoy the admin, the guardian and the relayer must be three different addresses: the
 * guardian exists to stop a stolen relayer key (M6), and an admin that is also the relayer could set
 * the root delay to zero. The script refuses a shared address unless ALLOW_SHARED_ROLES=true.
 *
 * For explorers (Polygonscan, Sourcify), the script also writes each contract's standard-JSON compiler
 * input: the sources named by the compiler's own metadata of the deployed artifact (each checked
 * against the keccak256 recorded there, so they are the sources compiled) and the settings solc
 * recorded (optimizer, EVM version, remappings, metadata hash), with an output selection. The
 * artifacts are read from out/ (see contracts/VERIFY.md).
 *
 * The summary file holds chainId, the three addresses, deploymentBlock (the block the script ran
 * against: the contracts' events are at or after it), the deployer (MoneyWave's constructor admin,
 * needed to verify it), genesis, rootDelay (seconds), and maxSupply and
 * dailyCap as decimal strings (wei), plus the role holders.
 */
contract Deploy is Script {
    /**
     * @notice One address holds two of the roles on a public network (137 or 80002).
     * @param admin The admin.
     * @param guardian The guardian.
     * @param relayer The relayer.
     */
    error DeploySharedRoleHolder(address admin, address guardian, address relayer);

    /**
     * @notice A source file differs from the one the compiler's metadata records: out/ is stale.
     * @param path The source file.
     */
    error DeploySourceChanged(string path);

    /**
     * @notice The artifact's metadata lacks a part the standard-JSON input needs.
     * @param name The contract.
     * @param part The missing part.
     */
    error DeployMetadataUnreadable(string name, string part);

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
        bool allowSharedRoles;
    }

    /// @notice What was deployed.
    struct Deployment {
        PMC pmc;
        MoneyWave moneyWave;
        DonationHub donationHub;
        uint256 deploymentBlock;
        address deployer;
    }

    /// @notice Deploys with the environment's configuration and writes the summary file.
    function run() external returns (Deployment memory deployment) {
        vm.startBroadcast();
        (, address broadcaster,) = vm.readCallers();
        Config memory config = configFromEnv(broadcaster);
        checkRoles(config);
        deployment = _deploy(config, broadcaster);
        vm.stopBroadcast();
        write(config, deployment, vm.envOr("DEPLOYMENT_FILE", defaultDeploymentFile()));
        writeStandardJsonInputs(vm.envOr("VERIFY_INPUT_DIR", defaultVerifyInputDir()));
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
        config.allowSharedRoles = vm.envOr("ALLOW_SHARED_ROLES", false);
    }

    /// @notice Refuses one address for two of admin, guardian and relayer on Polygon and Amoy,
    /// unless `config.allowSharedRoles`.
    function checkRoles(Config memory config) public view {
        if (!_isPolygon() || config.allowSharedRoles) return;
        if (config.admin == config.guardian || config.admin == config.relayer || config.guardian == config.relayer) {
            revert DeploySharedRoleHolder(config.admin, config.guardian, config.relayer);
        }
    }

    /// @notice The root delay of this chain when ROOT_DELAY is unset: 6 hours on Polygon mainnet and
    /// Amoy, where a root must wait for the watcher and the guardian; 0 elsewhere (development chains).
    function defaultRootDelay() public view returns (uint256) {
        return _isPolygon() ? POLYGON_ROOT_DELAY : 0;
    }

    /// @notice deployments/<chainId>, where the standard-JSON compiler inputs go by default.
    function defaultVerifyInputDir() public view returns (string memory) {
        return string.concat("deployments/", vm.toString(block.chainid));
    }

    /// @notice Writes `<dir>/<Name>.input.json`, the standard-JSON compiler input of PMC, MoneyWave
    /// and DonationHub (see {standardJsonInput}).
    function writeStandardJsonInputs(string memory dir) public {
        vm.createDir(dir, true);
        string[3] memory names = ["PMC", "MoneyWave", "DonationHub"];
        for (uint256 i = 0; i < names.length; ++i) {
            vm.writeFile(string.concat(dir, "/", names[i], ".input.json"), standardJsonInput(names[i]));
        }
    }

    /**
     * @notice The standard-JSON compiler input of `contracts/<name>.sol:<name>`, what Polygonscan
     * ("Solidity (Standard-Json-Input)") and Sourcify accept: solc fed with it reproduces the artifact.
     * @dev Built from the artifact's raw metadata, the compiler's own record of the compilation: its
     * sources (read from disk and refused if their keccak256 differs from the recorded one) and its
     * settings verbatim, less `compilationTarget` (metadata only) and plus an output selection.
     */
    function standardJsonInput(string memory name) public returns (string memory) {
        string memory artifact = vm.readFile(string.concat("out/", name, ".sol/", name, ".json"));
        string memory meta = vm.parseJsonString(artifact, ".rawMetadata");
        string[] memory paths = vm.parseJsonKeys(meta, ".sources");
        string memory sources = "{";
        for (uint256 i = 0; i < paths.length; ++i) {
            string memory content = vm.readFile(paths[i]);
            string memory recorded =
                string.concat('"', paths[i], '":{"keccak256":"', vm.toString(keccak256(bytes(content))), '"');
            if (vm.indexOf(meta, recorded) == type(uint256).max) revert DeploySourceChanged(paths[i]);
            // The serializer escapes the content; its one-field object is the source entry.
            string memory entry = vm.serializeString("deploy.standardJsonInput.source", "content", content);
            sources = string.concat(sources, i == 0 ? "" : ",", '"', paths[i], '":', entry);
        }
        return string.concat('{"language":"Solidity","sources":', sources, '},"settings":', _settings(name, meta), "}");
    }

    function defaultDeploymentFile() public view returns (string memory) {
        return string.concat("deployments/", vm.toString(block.chainid), ".json");
    }

    /// @notice Deploys as `deployer` (broadcasting when the caller started a broadcast for it).
    function deployAs(Config memory config, address deployer) external returns (Deployment memory deployment) {
        checkRoles(config);
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
        vm.serializeAddress(key, "deployer", deployment.deployer);
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
        deployment.deployer = deployer;
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

    /// @dev The `settings` object of the raw metadata (solc writes it compact, keys sorted, so it runs
    /// from `"settings":` to `,"sources":`), without `compilationTarget`, with an output selection.
    function _settings(string memory name, string memory meta) internal pure returns (string memory) {
        uint256 start = vm.indexOf(meta, '"settings":{');
        uint256 end = vm.indexOf(meta, ',"sources":{');
        if (start == type(uint256).max || end == type(uint256).max || end < start) {
            revert DeployMetadataUnreadable(name, "settings");
        }
        bytes memory raw = bytes(meta);
        // The object without its closing brace: from after `"settings":` to before `}` at `end - 1`.
        bytes memory body = new bytes(end - 1 - (start + 11));
        for (uint256 i = 0; i < body.length; ++i) {
            body[i] = raw[start + 11 + i];
        }
        string memory target = string.concat('"compilationTarget":{"contracts/', name, ".sol\":\"", name, '"},');
        string memory settings = vm.replace(string(body), target, "");
        if (vm.indexOf(settings, "compilationTarget") != type(uint256).max) {
            revert DeployMetadataUnreadable(name, "compilationTarget");
        }
        return string.concat(
            settings,
            ',"outputSelection":{"*":{"*":["abi","evm.bytecode.object","evm.deployedBytecode.object","metadata"]}}}'
        );
    }
}
