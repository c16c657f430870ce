// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {DonationHub} from "../DonationHub.sol";
import {PosMulFixture} from "./utils/PosMulFixture.sol";
import {StandardTree} from "./utils/StandardTree.sol";

/// @dev A minimal ERC-1271 contract wallet: valid signatures are its owner's ECDSA signatures.
contract MockContractWallet is IERC1271 {
    address private immutable _owner;

    constructor(address owner) {
        _owner = owner;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == _owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    function approve(IERC20 token, address spender, uint256 amount) external {
        require(msg.sender == _owner, "not owner");
        token.approve(spender, amount);
    }
}

/// @notice DonationHub: registry, donations (E3, S4) and the gasless permit + intent path.
contract DonationHubTest is PosMulFixture {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant FUNDS = 20_000_000 ether;

    address internal donor;
    uint256 internal donorKey;
    address internal other;
    uint256 internal otherKey;
    address internal institute = makeAddr("institute");
    address internal leader = makeAddr("leader");
    address internal submitter = makeAddr("submitter");
    MockContractWallet internal wallet;

    uint256 internal instituteId;
    uint256 internal leaderId;

    event RecipientSet(uint256 indexed id, address indexed beneficiary, uint8 kind, bool active);
    event IntentCancelled(address indexed donor, uint256 nonce);
    event Donated(
        uint256 indexed recipientId,
        address indexed donor,
        address indexed beneficiary,
        uint256 amount,
        bytes32 memoHash
    );

    function setUp() public {
        _deploy(MAX_SUPPLY, 3 * FUNDS);
        (donor, donorKey) = makeAddrAndKey("donor");
        (other, otherKey) = makeAddrAndKey("other");
        wallet = new MockContractWallet(other);
        // Donors get their PMC the only way there is: a wave and a claim.
        address[] memory holders = new address[](3);
        (holders[0], holders[1], holders[2]) = (donor, other, address(wallet));
        uint256[] memory amounts = new uint256[](3);
        (amounts[0], amounts[1], amounts[2]) = (FUNDS, FUNDS, FUNDS);
        bytes32[] memory tree = _tree(holders, amounts);
        _publish(tree[0], 3 * FUNDS);
        for (uint256 i = 0; i < 3; ++i) {
            wave.claim(holders[i], FUNDS, StandardTree.proof(tree, i));
        }
        vm.startPrank(admin);
        instituteId = hub.addRecipient(institute, DonationHub.RecipientKind.INSTITUTE);
        leaderId = hub.addRecipient(leader, DonationHub.RecipientKind.OPINION_LEADER);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ construction

    function test_S4_constructorSetsTokenAndAdmin() public view {
        assertEq(hub.token(), address(pmc));
        assertTrue(hub.hasRole(hub.DEFAULT_ADMIN_ROLE(), admin));
        assertEq(hub.MIN_DONATION(), 100 ether);
        assertEq(hub.MAX_OPINION_LEADER_SUPPORT(), 10_000_000 ether);
    }

    function test_S4_constructorRefusesZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidAddress.selector, address(0)));
        new DonationHub(IERC20(address(0)), admin);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidAddress.selector, address(0)));
        new DonationHub(pmc, address(0));
    }

    // ------------------------------------------------------------------ registry

    function test_S4_addRecipientNumbersFromOneAndEmits() public {
        assertEq(instituteId, 1);
        assertEq(leaderId, 2);
        address newcomer = makeAddr("newcomer");
        vm.expectEmit(address(hub));
        emit RecipientSet(3, newcomer, 1, true);
        vm.prank(admin);
        assertEq(hub.addRecipient(newcomer, DonationHub.RecipientKind.OPINION_LEADER), 3);
        (address beneficiary, DonationHub.RecipientKind kind, bool active) = hub.recipient(3);
        assertEq(beneficiary, newcomer);
        assertEq(uint8(kind), 1);
        assertTrue(active);
        assertEq(hub.recipientCount(), 3);
    }

    function test_S4_addRecipientIsAdminOnly() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, donor, hub.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(donor);
        hub.addRecipient(donor, DonationHub.RecipientKind.INSTITUTE);
    }

    function test_S4_addRecipientRefusesTheZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidBeneficiary.selector, address(0)));
        vm.prank(admin);
        hub.addRecipient(address(0), DonationHub.RecipientKind.INSTITUTE);
    }

    function test_S4_addRecipientRefusesAnUnknownKind() public {
        // An out-of-range enum is refused by the ABI decoder before any code runs.
        vm.prank(admin);
        (bool ok,) = address(hub).call(abi.encodeWithSignature("addRecipient(address,uint8)", institute, uint8(2)));
        assertFalse(ok);
        assertEq(hub.recipientCount(), 2);
    }

    function test_S4_setRecipientChangesBeneficiaryAndActivityNotKind() public {
        address moved = makeAddr("moved");
        vm.expectEmit(address(hub));
        emit RecipientSet(leaderId, moved, 1, false);
        vm.prank(admin);
        hub.setRecipient(leaderId, moved, false);
        (address beneficiary, DonationHub.RecipientKind kind, bool active) = hub.recipient(leaderId);
        assertEq(beneficiary, moved);
        assertEq(uint8(kind), uint8(DonationHub.RecipientKind.OPINION_LEADER));
        assertFalse(active);
    }

    function test_S4_setRecipientRefusesUnknownIds() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubUnknownRecipient.selector, 0));
        hub.setRecipient(0, institute, true);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubUnknownRecipient.selector, 3));
        hub.setRecipient(3, institute, true);
        vm.stopPrank();
    }

    function test_S4_setRecipientRefusesTheZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidBeneficiary.selector, address(0)));
        vm.prank(admin);
        hub.setRecipient(instituteId, address(0), true);
    }

    function test_S4_setRecipientIsAdminOnly() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, institute, hub.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(institute);
        hub.setRecipient(instituteId, institute, false);
    }

    function test_S4_anUnknownRecipientReadsAsEmpty() public view {
        (address beneficiary, DonationHub.RecipientKind kind, bool active) = hub.recipient(99);
        assertEq(beneficiary, address(0));
        assertEq(uint8(kind), 0);
        assertFalse(active);
    }

    // ------------------------------------------------------------------ donate

    function test_S4_donateMovesPmcFromDonorToBeneficiary() public {
        vm.prank(donor);
        pmc.approve(address(hub), 250 ether);
        vm.expectEmit(address(pmc));
        emit IERC20.Transfer(donor, institute, 250 ether);
        vm.expectEmit(address(hub));
        emit Donated(instituteId, donor, institute, 250 ether, keccak256("memo"));
        vm.prank(donor);
        hub.donate(instituteId, 250 ether, keccak256("memo"));
        assertEq(pmc.balanceOf(institute), 250 ether);
        assertEq(pmc.balanceOf(donor), FUNDS - 250 ether);
        assertEq(pmc.balanceOf(address(hub)), 0);
    }

    function test_E3_anInstituteTakesAtLeast100Pmc() public {
        vm.startPrank(donor);
        pmc.approve(address(hub), type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                DonationHub.DonationHubAmountOutOfRange.selector, 100 ether - 1, 100 ether, type(uint256).max
            )
        );
        hub.donate(instituteId, 100 ether - 1, bytes32(0));
        hub.donate(instituteId, 100 ether, bytes32(0));
        hub.donate(instituteId, 15_000_000 ether, bytes32(0)); // no upper bound for institutes
        vm.stopPrank();
        assertEq(pmc.balanceOf(institute), 15_000_100 ether);
    }

    function test_E3_anOpinionLeaderTakes100To10MillionPmc() public {
        vm.startPrank(donor);
        pmc.approve(address(hub), type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                DonationHub.DonationHubAmountOutOfRange.selector, 100 ether - 1, 100 ether, 10_000_000 ether
            )
        );
        hub.donate(leaderId, 100 ether - 1, bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                DonationHub.DonationHubAmountOutOfRange.selector, 10_000_000 ether + 1, 100 ether, 10_000_000 ether
            )
        );
        hub.donate(leaderId, 10_000_000 ether + 1, bytes32(0));
        hub.donate(leaderId, 100 ether, bytes32(0));
        hub.donate(leaderId, 10_000_000 ether, bytes32(0));
        vm.stopPrank();
        assertEq(pmc.balanceOf(leader), 10_000_100 ether);
    }

    function testFuzz_E3_donationRangesByKind(uint256 amount, bool toLeader) public {
        amount = bound(amount, 0, FUNDS);
        uint256 id = toLeader ? leaderId : instituteId;
        uint256 max = toLeader ? 10_000_000 ether : type(uint256).max;
        vm.startPrank(donor);
        pmc.approve(address(hub), amount);
        bool ok = amount >= 100 ether && amount <= max;
        if (!ok) {
            vm.expectRevert(
                abi.encodeWithSelector(DonationHub.DonationHubAmountOutOfRange.selector, amount, 100 ether, max)
            );
        }
        hub.donate(id, amount, bytes32(0));
        vm.stopPrank();
        assertEq(pmc.balanceOf(donor), ok ? FUNDS - amount : FUNDS);
    }

    function test_E3_nobodySupportsThemselves() public {
        vm.prank(admin);
        hub.setRecipient(leaderId, donor, true);
        vm.startPrank(donor);
        pmc.approve(address(hub), 1000 ether);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubSelfDonation.selector, donor));
        hub.donate(leaderId, 1000 ether, bytes32(0));
        vm.stopPrank();
    }

    function test_S4_anInactiveRecipientIsRefused() public {
        vm.prank(admin);
        hub.setRecipient(instituteId, institute, false);
        vm.startPrank(donor);
        pmc.approve(address(hub), 1000 ether);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubRecipientInactive.selector, instituteId));
        hub.donate(instituteId, 1000 ether, bytes32(0));
        vm.stopPrank();
        vm.prank(admin);
        hub.setRecipient(instituteId, institute, true);
        vm.prank(donor);
        hub.donate(instituteId, 1000 ether, bytes32(0));
    }

    function test_S4_anUnknownRecipientIsRefused() public {
        vm.startPrank(donor);
        pmc.approve(address(hub), 1000 ether);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubUnknownRecipient.selector, 0));
        hub.donate(0, 1000 ether, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubUnknownRecipient.selector, 3));
        hub.donate(3, 1000 ether, bytes32(0));
        vm.stopPrank();
    }

    function test_S4_donateNeedsAnAllowance() public {
        vm.prank(donor);
        pmc.approve(address(hub), 99 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(hub), 99 ether, 100 ether)
        );
        vm.prank(donor);
        hub.donate(instituteId, 100 ether, bytes32(0));
    }

    function test_E1_donateNeedsTheBalance() public {
        address poor = makeAddr("poor");
        vm.prank(poor);
        pmc.approve(address(hub), 100 ether);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, poor, 0, 100 ether));
        vm.prank(poor);
        hub.donate(instituteId, 100 ether, bytes32(0));
    }

    // ------------------------------------------------------------------ EIP-712 surface

    function test_S4_domainAndDigestFollowEip712() public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("PosMul DonationHub"),
                keccak256("1"),
                block.chainid,
                address(hub)
            )
        );
        assertEq(hub.DOMAIN_SEPARATOR(), domain);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "DonationIntent(address donor,uint256 recipientId,address beneficiary,uint256 amount,bytes32 memoHash,uint256 nonce,uint256 deadline)"
                ),
                intent.donor,
                intent.recipientId,
                intent.beneficiary,
                intent.amount,
                intent.memoHash,
                intent.nonce,
                intent.deadline
            )
        );
        assertEq(
            hub.DONATION_INTENT_TYPEHASH(),
            keccak256(
                "DonationIntent(address donor,uint256 recipientId,address beneficiary,uint256 amount,bytes32 memoHash,uint256 nonce,uint256 deadline)"
            )
        );
        assertEq(hub.donationIntentDigest(intent), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    // ------------------------------------------------------------------ donateWithPermit

    function test_S4_aSignedIntentWithPermitIsSubmittedByAnyone() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        bytes memory sig = _signIntent(donorKey, intent);
        vm.expectEmit(address(hub));
        emit Donated(leaderId, donor, leader, 500 ether, intent.memoHash);
        vm.prank(submitter);
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
        assertEq(pmc.balanceOf(leader), 500 ether);
        assertEq(pmc.balanceOf(submitter), 0);
        assertEq(hub.nonces(donor), 1);
        assertEq(pmc.allowance(donor, address(hub)), 0);
    }

    function testFuzz_S4_aSubmitterCannotRedirectOrResizeAnIntent(uint256 field, uint256 junk) public {
        DonationHub.DonationIntent memory signed = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, signed);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        DonationHub.DonationIntent memory tampered = _intent(leaderId, 500 ether, 0, signed.deadline);
        field = bound(field, 0, 5);
        if (field == 0) tampered.recipientId = instituteId;
        if (field == 1) tampered.amount = bound(junk, 100 ether, 10_000_000 ether);
        if (field == 2) tampered.memoHash = keccak256(abi.encode(junk));
        if (field == 3) tampered.deadline = bound(junk, block.timestamp, type(uint256).max);
        if (field == 4) tampered.donor = other;
        if (field == 5) tampered.beneficiary = address(uint160(bound(junk, 1, type(uint160).max)));
        vm.assume(keccak256(abi.encode(tampered)) != keccak256(abi.encode(signed)));
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidIntentSignature.selector, tampered.donor));
        vm.prank(submitter);
        hub.donateWithPermit(tampered, sig, deadline, v, r, s);
    }

    function testFuzz_S4_aTamperedSignatureIsRefused(uint256 byteIndex, uint8 flip) public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        byteIndex = bound(byteIndex, 0, 64);
        flip = uint8(bound(flip, 1, 255));
        sig[byteIndex] = bytes1(uint8(sig[byteIndex]) ^ flip);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidIntentSignature.selector, donor));
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
    }

    function test_S4_anIntentSignedByAnotherKeyIsRefused() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        bytes memory sig = _signIntent(otherKey, intent);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidIntentSignature.selector, donor));
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
    }

    function test_S4_aReplayedIntentIsRefused() public {
        vm.prank(donor);
        pmc.approve(address(hub), type(uint256).max);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, donor, 1));
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
        assertEq(pmc.balanceOf(leader), 500 ether);
    }

    function test_S4_anIntentWithAFutureNonceIsRefused() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 7, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, donor, 0));
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
    }

    function testFuzz_S4_anExpiredIntentIsRefused(uint256 late) public {
        late = bound(late, 1, 3650 days);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp);
        bytes memory sig = _signIntent(donorKey, intent);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        vm.warp(block.timestamp + late);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubIntentExpired.selector, intent.deadline));
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
    }

    function test_S4_anIntentIsValidUntilItsDeadlineInclusive() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 60);
        bytes memory sig = _signIntent(donorKey, intent);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        vm.warp(intent.deadline);
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
        assertEq(pmc.balanceOf(leader), 500 ether);
    }

    /// The admin (or a stolen admin key) points the recipient elsewhere after the donor signed: the
    /// intent names the beneficiary the donor saw, so it no longer pays.
    function test_S4_aChangedBeneficiaryInvalidatesTheIntent() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        address elsewhere = makeAddr("elsewhere");
        vm.prank(admin);
        hub.setRecipient(leaderId, elsewhere, true);
        vm.expectRevert(
            abi.encodeWithSelector(DonationHub.DonationHubBeneficiaryChanged.selector, leaderId, leader, elsewhere)
        );
        vm.prank(submitter);
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
        assertEq(pmc.balanceOf(elsewhere), 0);
        assertEq(hub.nonces(donor), 0, "the refused intent left the nonce unused");

        // Changed back, the same intent pays as signed.
        vm.prank(admin);
        hub.setRecipient(leaderId, leader, true);
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
        assertEq(pmc.balanceOf(leader), 500 ether);
    }

    function test_S4_anIntentNamingAnotherBeneficiaryIsRefused() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        intent.beneficiary = institute; // signed by the donor, but not leaderId's beneficiary
        bytes memory sig = _signIntent(donorKey, intent);
        vm.prank(donor);
        pmc.approve(address(hub), 500 ether);
        vm.expectRevert(
            abi.encodeWithSelector(DonationHub.DonationHubBeneficiaryChanged.selector, leaderId, institute, leader)
        );
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
    }

    function test_S4_aDonorCancelsAnUnusedIntent() public {
        vm.prank(donor);
        pmc.approve(address(hub), type(uint256).max);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        vm.expectEmit(address(hub));
        emit IntentCancelled(donor, 0);
        vm.prank(donor);
        hub.cancelIntent(0);
        assertEq(hub.nonces(donor), 1);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, donor, 1));
        vm.prank(submitter);
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
        assertEq(pmc.balanceOf(leader), 0, "a cancelled intent never pays");

        // The next intent, signed with the next nonce, works.
        intent = _intent(leaderId, 500 ether, 1, block.timestamp + 1 hours);
        hub.donateWithPermit(intent, _signIntent(donorKey, intent), 0, 0, bytes32(0), bytes32(0));
        assertEq(pmc.balanceOf(leader), 500 ether);
    }

    function test_S4_cancelNamesTheCurrentNonce() public {
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, donor, 0));
        vm.prank(donor);
        hub.cancelIntent(1);
        vm.prank(donor);
        pmc.approve(address(hub), type(uint256).max);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        hub.donateWithPermit(intent, _signIntent(donorKey, intent), 0, 0, bytes32(0), bytes32(0));
        // A used intent cannot be cancelled: its nonce is spent.
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, donor, 1));
        vm.prank(donor);
        hub.cancelIntent(0);
    }

    function test_S4_onlyTheDonorCancelsItsIntents() public {
        vm.prank(donor);
        pmc.approve(address(hub), type(uint256).max);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        // Anyone else's cancel spends its own nonce, never the donor's.
        vm.prank(submitter);
        hub.cancelIntent(0);
        assertEq(hub.nonces(submitter), 1);
        assertEq(hub.nonces(donor), 0);
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
        assertEq(pmc.balanceOf(leader), 500 ether);
    }

    function test_S4_aFrontRunPermitDoesNotBlockTheDonation() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        // An observer submits the permit first: the allowance is set, the permit's nonce is spent.
        vm.prank(makeAddr("frontRunner"));
        pmc.permit(donor, address(hub), 500 ether, deadline, v, r, s);
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
        assertEq(pmc.balanceOf(leader), 500 ether);
    }

    function test_S4_aFailedPermitWithoutAllowanceRevertsOnTheTransfer() public {
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        // The permit was signed for a smaller value than the intent, so it does not verify.
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 100 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(hub), 0, 500 ether)
        );
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
        assertEq(hub.nonces(donor), 0, "a reverted submission does not use the nonce");
    }

    function test_S4_anIntentStillObeysTheDonationRules() public {
        vm.prank(admin);
        hub.setRecipient(leaderId, donor, true);
        DonationHub.DonationIntent memory intent = _intent(leaderId, 500 ether, 0, block.timestamp + 1 hours);
        bytes memory sig = _signIntent(donorKey, intent);
        (uint256 deadline, uint8 v, bytes32 r, bytes32 s) = _permit(donorKey, donor, 500 ether);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubSelfDonation.selector, donor));
        hub.donateWithPermit(intent, sig, deadline, v, r, s);
    }

    function test_S4_aContractWalletDonatesWithAnErc1271Intent() public {
        vm.prank(other);
        wallet.approve(pmc, address(hub), 700 ether);
        DonationHub.DonationIntent memory intent = DonationHub.DonationIntent({
            donor: address(wallet),
            recipientId: instituteId,
            beneficiary: institute,
            amount: 700 ether,
            memoHash: keccak256("from a multisig"),
            nonce: 0,
            deadline: block.timestamp + 1 hours
        });
        bytes memory sig = _signIntent(otherKey, intent); // the wallet's owner signs
        vm.expectEmit(address(hub));
        emit Donated(instituteId, address(wallet), institute, 700 ether, intent.memoHash);
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
        assertEq(hub.nonces(address(wallet)), 1);
    }

    function test_S4_aContractWalletRefusesForeignSignatures() public {
        DonationHub.DonationIntent memory intent = DonationHub.DonationIntent({
            donor: address(wallet),
            recipientId: instituteId,
            beneficiary: institute,
            amount: 700 ether,
            memoHash: bytes32(0),
            nonce: 0,
            deadline: block.timestamp + 1 hours
        });
        bytes memory sig = _signIntent(donorKey, intent);
        vm.expectRevert(abi.encodeWithSelector(DonationHub.DonationHubInvalidIntentSignature.selector, address(wallet)));
        hub.donateWithPermit(intent, sig, 0, 0, bytes32(0), bytes32(0));
    }

    // ------------------------------------------------------------------ helpers

    function _intent(uint256 recipientId, uint256 amount, uint256 nonce, uint256 deadline)
        internal
        view
        returns (DonationHub.DonationIntent memory)
    {
        (address beneficiary,,) = hub.recipient(recipientId);
        return DonationHub.DonationIntent({
            donor: donor,
            recipientId: recipientId,
            beneficiary: beneficiary,
            amount: amount,
            memoHash: keccak256("thank you"),
            nonce: nonce,
            deadline: deadline
        });
    }

    function _signIntent(uint256 key, DonationHub.DonationIntent memory intent) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hub.donationIntentDigest(intent));
        return abi.encodePacked(r, s, v);
    }

    function _permit(uint256 key, address owner, uint256 value)
        internal
        view
        returns (uint256 deadline, uint8 v, bytes32 r, bytes32 s)
    {
        deadline = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(hub), value, pmc.nonces(owner), deadline));
        (v, r, s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", pmc.DOMAIN_SEPARATOR(), structHash)));
    }
}
