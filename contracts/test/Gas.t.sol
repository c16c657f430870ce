// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {DonationHub} from "../DonationHub.sol";
import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/**
 * Gas of the four operations with targets (docs/DESIGN.md#gas-targets), each measured in a test of
 * its own whose setUp prepared the state, so storage is cold as for a real transaction. Figures go
 * to snapshots/PosMul.json through `vm.snapshotGasLastCall`; the targets are asserted as well, so a
 * regression fails the suite.
 * The targets apply to the default measurement (the call's own gas); under `forge test --isolate`
 * (whole transactions: 21,000 base gas and calldata included) the figures are recorded, not asserted,
 * and they go to snapshots/PosMul-isolate.json, so an isolated run never overwrites the default
 * figures committed in snapshots/PosMul.json.
 */
abstract contract GasTest is PosMulFixture {
    /// @dev The snapshot group (file under snapshots/) of the default figures.
    string internal constant GROUP = "PosMul";
    /// @dev The snapshot group of the `--isolate` figures.
    string internal constant ISOLATED_GROUP = "PosMul-isolate";
    /// @dev The root delay of the Polygon deployments (M6), so waves and claims take the path they take there.
    uint256 internal constant ROOT_DELAY = 6 hours;

    function _setPolygonRootDelay() internal {
        vm.prank(admin);
        wave.setRootDelay(ROOT_DELAY);
    }

    /// @dev Whether this run is isolated, asked once per test, before the measured call: the
    /// probe's own calls must not become the "last call" a snapshot reads.
    bool internal isolated;

    /// @dev The group the figures of this run go to: isolated figures never replace the default ones.
    function _group() internal returns (string memory) {
        isolated = _isolated();
        return isolated ? ISOLATED_GROUP : GROUP;
    }

    /// @dev Fails the test when a measured figure is above its target (default mode only).
    function _assertTarget(uint256 gasUsed, uint256 target) internal view {
        if (!isolated) assertLe(gasUsed, target, "gas target (docs/DESIGN.md#gas-targets)");
    }

    /// @dev Whether top-level calls run as separate transactions (`--isolate`): transient storage
    /// written by one call is gone in the next only then.
    function _isolated() internal returns (bool) {
        IsolationProbe probe = new IsolationProbe();
        probe.mark();
        return !probe.marked();
    }
}

/// @dev See {GasTest-_isolated}.
contract IsolationProbe {
    function mark() external {
        assembly ("memory-safe") {
            tstore(0, 1)
        }
    }

    function marked() external view returns (bool result) {
        assembly ("memory-safe") {
            result := tload(0)
        }
    }
}

/// publishWave — a day after the first, nonzero amount (M4), the previous root having matured (M6).
/// Target <= 85,000.
contract GasPublishWaveTest is GasTest {
    bytes32 internal nextRoot;

    function setUp() public {
        _deploy();
        _setPolygonRootDelay();
        address[] memory accounts = _pair(makeAddr("a"), makeAddr("b"));
        _publish(_tree(accounts, _pair(uint256(300 ether), uint256(700 ether)))[0], 1000 ether);
        nextRoot = _tree(accounts, _pair(uint256(800 ether), uint256(900 ether)))[0];
        vm.warp(_endOf(1) + 1 hours);
    }

    function test_gas_M4_publishWave() public {
        string memory group = _group();
        vm.prank(relayer);
        wave.publishWave(1, nextRoot, 700 ether, keccak256("allocation of day 1"), 1700 ether);
        uint256 gasUsed = vm.snapshotGasLastCall(group, "publishWave");
        assertEq(wave.nextDay(), 2);
        (bytes32 pending,,) = wave.pendingRoot();
        assertEq(pending, nextRoot);
        _assertTarget(gasUsed, 85_000);
    }
}

/**
 * claim_100k_leaves — an account's first claim against a cumulative tree of 100,000 leaves (proof
 * depth 17), published as the second wave, whose delay has passed (M5, M6). Target <= 72,000.
 */
contract GasClaim100kLeavesTest is GasTest {
    uint256 internal constant LEAVES = 100_000;
    uint256 internal constant INDEX = 4242;

    address internal account;
    uint256 internal cumulativeAmount;
    bytes32[] internal proof;

    function setUp() public {
        _deploy();
        _setPolygonRootDelay();
        // Day 0: a small first wave, so the measured claim runs against a replaced root.
        _publish(
            _tree(_pair(makeAddr("early"), makeAddr("bird")), _pair(uint256(1 ether), uint256(2 ether)))[0], 3 ether
        );
        // Day 1: the cumulative tree of 100,000 synthetic accounts (plus the day-0 pair, folded in).
        bytes32[] memory leaves = new bytes32[](LEAVES);
        uint256 total;
        for (uint256 i = 0; i < LEAVES; ++i) {
            uint256 amount = StandardTree.syntheticAmount(i);
            if (i == 0) amount += 3 ether; // keeps totalCumulative == totalMinted
            leaves[i] = StandardTree.leaf(StandardTree.syntheticAccount(i), amount);
            total += amount;
        }
        bytes32[] memory tree = StandardTree.build(leaves);
        _publish(tree[0], total - 3 ether);
        vm.warp(block.timestamp + ROOT_DELAY);
        assertEq(wave.currentRoot(), tree[0]);
        account = StandardTree.syntheticAccount(INDEX);
        cumulativeAmount = StandardTree.syntheticAmount(INDEX);
        proof = StandardTree.proof(tree, INDEX);
        assertGe(proof.length, 17, "proof depth");
        assertEq(pmc.balanceOf(account), 0);
    }

    function test_gas_M5_claim_100k_leaves() public {
        string memory group = _group();
        wave.claim(account, cumulativeAmount, proof);
        uint256 gasUsed = vm.snapshotGasLastCall(group, "claim_100k_leaves");
        assertEq(pmc.balanceOf(account), cumulativeAmount);
        _assertTarget(gasUsed, 72_000);
    }
}

/// donate — an institute donation by a holder with a standing allowance, to a beneficiary that
/// already holds PMC (S4). Target <= 40,000. Also measured (informative): a donation to a first-time
/// holder and the gasless permit + intent path.
contract GasDonateTest is GasTest {
    uint256 internal donorKey;
    address internal donor;
    address internal beneficiary = makeAddr("institute");
    uint256 internal id;

    function setUp() public {
        _deploy();
        (donor, donorKey) = makeAddrAndKey("donor");
        address[] memory accounts = _pair(donor, makeAddr("other"));
        bytes32[] memory tree = _tree(accounts, _pair(uint256(10_000 ether), uint256(1 ether)));
        _publish(tree[0], 10_001 ether);
        wave.claim(donor, 10_000 ether, StandardTree.proof(tree, 0));
        vm.prank(admin);
        id = hub.addRecipient(beneficiary, DonationHub.RecipientKind.INSTITUTE);
        vm.startPrank(donor);
        pmc.approve(address(hub), 5_000 ether);
        hub.donate(id, 100 ether, bytes32(0)); // the beneficiary already holds PMC
        vm.stopPrank();
    }

    function test_gas_S4_donate() public {
        string memory group = _group();
        vm.prank(donor);
        hub.donate(id, 250 ether, keccak256("memo"));
        uint256 gasUsed = vm.snapshotGasLastCall(group, "donate");
        assertEq(pmc.balanceOf(beneficiary), 350 ether);
        _assertTarget(gasUsed, 40_000);
    }

    function test_gas_S4_donate_to_new_holder() public {
        string memory group = _group();
        vm.prank(admin);
        uint256 fresh = hub.addRecipient(makeAddr("fresh"), DonationHub.RecipientKind.OPINION_LEADER);
        vm.prank(donor);
        hub.donate(fresh, 250 ether, keccak256("memo"));
        vm.snapshotGasLastCall(group, "donate_to_new_holder");
    }

    function test_gas_S4_donateWithPermit() public {
        string memory group = _group();
        DonationHub.DonationIntent memory intent = DonationHub.DonationIntent({
            donor: donor,
            recipientId: id,
            beneficiary: beneficiary,
            amount: 250 ether,
            memoHash: keccak256("memo"),
            nonce: 0,
            deadline: block.timestamp + 1 hours
        });
        (uint8 iv, bytes32 ir, bytes32 is_) = vm.sign(donorKey, hub.donationIntentDigest(intent));
        bytes memory intentSignature = abi.encodePacked(ir, is_, iv);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 permitHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                donor,
                address(hub),
                250 ether,
                pmc.nonces(donor),
                deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(donorKey, keccak256(abi.encodePacked("\x19\x01", pmc.DOMAIN_SEPARATOR(), permitHash)));
        hub.donateWithPermit(intent, intentSignature, deadline, v, r, s);
        vm.snapshotGasLastCall(group, "donateWithPermit");
        assertEq(pmc.balanceOf(beneficiary), 350 ether);
    }
}

/// transfer — between two existing holders who have not delegated. Target <= 20,000.
contract GasTransferTest is GasTest {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function setUp() public {
        _deploy();
        bytes32[] memory tree = _tree(_pair(alice, bob), _pair(uint256(500 ether), uint256(300 ether)));
        _publish(tree[0], 800 ether);
        wave.claim(alice, 500 ether, StandardTree.proof(tree, 0));
        wave.claim(bob, 300 ether, StandardTree.proof(tree, 1));
    }

    function test_gas_E3_transfer() public {
        string memory group = _group();
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        pmc.transfer(bob, 120 ether);
        uint256 gasUsed = vm.snapshotGasLastCall(group, "transfer");
        assertEq(pmc.balanceOf(bob), 420 ether);
        _assertTarget(gasUsed, 20_000);
    }
}
