// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/**
 * @title DonationHub — PMC donations and opinion-leader support (DESIGN.md E3, S4)
 * @notice An admin keeps a registry of recipients, `id → (beneficiary, kind, active)`; citizens
 * {donate} PMC to them. The PMC moves straight from the donor to the beneficiary — the hub never
 * holds tokens — and every donation emits {Donated}, which the indexer mirrors.
 *
 * Rules (E3): an institute takes at least {MIN_DONATION} (100 PMC); an opinion leader takes
 * 100 .. {MAX_OPINION_LEADER_SUPPORT} (10,000,000 PMC); nobody can donate to itself; unknown and
 * inactive recipients are refused.
 *
 * Gasless path ({donateWithPermit}): the donor signs an EIP-2612 permit for this hub and an EIP-712
 * {DonationIntent}; anyone (the relayer) submits both. The intent binds donor, recipient id, the
 * recipient's beneficiary address as the donor saw it, amount and memo, carries a nonce (see
 * {nonces}) and a deadline, so the submitter can neither redirect the allowance nor replay the
 * donation, and a beneficiary changed by the admin after the donor signed invalidates the intent.
 * A donor cancels an unused intent with {cancelIntent}, which spends its nonce. The permit is tried
 * and its failure ignored: if someone front-ran it, the allowance it set is already there, and the
 * transfer is what decides.
 */
contract DonationHub is AccessControl, EIP712, Nonces {
    using SafeERC20 for IERC20;

    /// @notice Kinds of recipient: registered institutes and opinion leaders.
    enum RecipientKind {
        INSTITUTE,
        OPINION_LEADER
    }

    /// @dev A registry entry; packs into one storage slot.
    struct Recipient {
        address beneficiary;
        RecipientKind kind;
        bool active;
    }

    /**
     * @notice What a donor signs for the gasless path.
     * @param donor The account whose PMC is donated (the signer).
     * @param recipientId The recipient's id.
     * @param beneficiary The recipient's beneficiary when the donor signed; the donation is refused
     * if the registry names another one by the time the intent is submitted.
     * @param amount The PMC (wei) donated.
     * @param memoHash Hash of the donor's memo (the memo itself stays off chain).
     * @param nonce The donor's current {nonces} value; each intent uses one.
     * @param deadline Last timestamp at which the intent may be submitted.
     */
    struct DonationIntent {
        address donor;
        uint256 recipientId;
        address beneficiary;
        uint256 amount;
        bytes32 memoHash;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice EIP-712 type hash of {DonationIntent}.
    bytes32 public constant DONATION_INTENT_TYPEHASH = keccak256(
        "DonationIntent(address donor,uint256 recipientId,address beneficiary,uint256 amount,bytes32 memoHash,uint256 nonce,uint256 deadline)"
    );
    /// @notice Smallest donation or support, for every kind: 100 PMC.
    uint256 public constant MIN_DONATION = 100 ether;
    /// @notice Largest support of an opinion leader: 10,000,000 PMC.
    uint256 public constant MAX_OPINION_LEADER_SUPPORT = 10_000_000 ether;

    /// @dev The PMC token.
    IERC20 private immutable _token;
    /// @dev Number of recipients ever added; ids run from 1 to this.
    uint256 private _recipientCount;
    /// @dev The registry.
    mapping(uint256 id => Recipient) private _recipients;

    /**
     * @notice Recipient `id` was added or changed.
     * @param id The recipient id.
     * @param beneficiary The address that receives its donations.
     * @param kind 0 = INSTITUTE, 1 = OPINION_LEADER.
     * @param active Whether it accepts donations.
     */
    event RecipientSet(uint256 indexed id, address indexed beneficiary, uint8 kind, bool active);

    /**
     * @notice `donor` gave `amount` PMC to recipient `recipientId`, paid to `beneficiary`.
     * @param recipientId The recipient id.
     * @param donor The account whose PMC moved.
     * @param beneficiary The account that received it.
     * @param amount The PMC (wei) donated.
     * @param memoHash Hash of the donor's memo.
     */
    event Donated(
        uint256 indexed recipientId,
        address indexed donor,
        address indexed beneficiary,
        uint256 amount,
        bytes32 memoHash
    );

    /**
     * @notice `donor` cancelled its unused intent with nonce `nonce`; no intent with that nonce can pay.
     * @param donor The donor.
     * @param nonce The nonce spent.
     */
    event IntentCancelled(address indexed donor, uint256 nonce);

    /**
     * @dev The zero address was given as token or admin.
     * @param account The rejected address.
     */
    error DonationHubInvalidAddress(address account);

    /**
     * @dev The zero address cannot be a beneficiary.
     * @param beneficiary The rejected beneficiary.
     */
    error DonationHubInvalidBeneficiary(address beneficiary);

    /**
     * @dev No recipient has this id.
     * @param id The unknown id.
     */
    error DonationHubUnknownRecipient(uint256 id);

    /**
     * @dev The recipient exists but does not accept donations now.
     * @param id The inactive recipient's id.
     */
    error DonationHubRecipientInactive(uint256 id);

    /**
     * @dev A donor tried to donate to itself (E3).
     * @param donor The donor, who is also the beneficiary.
     */
    error DonationHubSelfDonation(address donor);

    /**
     * @dev The amount is outside the recipient kind's range (E3).
     * @param amount The amount offered.
     * @param min The smallest accepted amount.
     * @param max The largest accepted amount.
     */
    error DonationHubAmountOutOfRange(uint256 amount, uint256 min, uint256 max);

    /**
     * @dev The donation intent's deadline has passed.
     * @param deadline The intent's deadline.
     */
    error DonationHubIntentExpired(uint256 deadline);

    /**
     * @dev The recipient's beneficiary is not the one the donor signed for (S4).
     * @param recipientId The recipient id.
     * @param signed The beneficiary named by the intent.
     * @param current The beneficiary the registry names now.
     */
    error DonationHubBeneficiaryChanged(uint256 recipientId, address signed, address current);

    /**
     * @dev The intent signature is not the donor's.
     * @param donor The donor named by the intent.
     */
    error DonationHubInvalidIntentSignature(address donor);

    /**
     * @param token_ The PMC token (ERC-20 with EIP-2612 permit).
     * @param admin The holder of {DEFAULT_ADMIN_ROLE}, which manages the registry.
     */
    constructor(IERC20 token_, address admin) EIP712("PosMul DonationHub", "1") {
        if (address(token_) == address(0)) revert DonationHubInvalidAddress(address(token_));
        if (admin == address(0)) revert DonationHubInvalidAddress(admin);
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ registry

    /**
     * @notice Registers a new, active recipient.
     * @dev Requires {DEFAULT_ADMIN_ROLE} and a nonzero `beneficiary`. Ids start at 1.
     * Emits {RecipientSet}.
     * @param beneficiary The address that will receive its donations.
     * @param kind INSTITUTE or OPINION_LEADER (fixed for the id's lifetime).
     * @return id The new recipient id.
     */
    function addRecipient(address beneficiary, RecipientKind kind)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint256 id)
    {
        if (beneficiary == address(0)) revert DonationHubInvalidBeneficiary(beneficiary);
        id = ++_recipientCount;
        _recipients[id] = Recipient({beneficiary: beneficiary, kind: kind, active: true});
        emit RecipientSet(id, beneficiary, uint8(kind), true);
    }

    /**
     * @notice Changes a recipient's beneficiary and whether it accepts donations.
     * @dev Requires {DEFAULT_ADMIN_ROLE}, a known `id` and a nonzero `beneficiary`. The kind never
     * changes. Emits {RecipientSet}.
     * @param id The recipient id.
     * @param beneficiary The address that receives its donations from now on.
     * @param active Whether it accepts donations from now on.
     */
    function setRecipient(uint256 id, address beneficiary, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Recipient storage entry = _recipients[id];
        if (entry.beneficiary == address(0)) revert DonationHubUnknownRecipient(id);
        if (beneficiary == address(0)) revert DonationHubInvalidBeneficiary(beneficiary);
        entry.beneficiary = beneficiary;
        entry.active = active;
        emit RecipientSet(id, beneficiary, uint8(entry.kind), active);
    }

    // ------------------------------------------------------------------ donations

    /**
     * @notice Donates `amount` PMC of the caller to recipient `recipientId`.
     * @dev Requires a known, active recipient whose beneficiary is not the caller, an amount in the
     * kind's range, and an allowance for this hub of at least `amount`. Emits {Donated} (and the
     * token's {IERC20-Transfer}).
     * @param recipientId The recipient id.
     * @param amount The PMC (wei) to donate.
     * @param memoHash Hash of the donor's memo.
     */
    function donate(uint256 recipientId, uint256 amount, bytes32 memoHash) external {
        Recipient memory entry = _openRecipient(msg.sender, recipientId, amount);
        _pay(msg.sender, recipientId, entry.beneficiary, amount, memoHash);
    }

    /**
     * @notice Submits a donor's signed {DonationIntent}, with an EIP-2612 permit for the allowance.
     * @dev Anyone may call. Requires `block.timestamp <= intent.deadline`, `intentSignature` valid for
     * `intent.donor` (ECDSA, or ERC-1271 for contract wallets), `intent.nonce == nonces(intent.donor)`
     * (consumed), `intent.beneficiary` to be the recipient's beneficiary now, and everything {donate}
     * requires of the donor. The permit
     * `(donor, this hub, intent.amount, permitDeadline, v, r, s)` is tried first; its failure is
     * ignored (front-run, or an allowance already given) and the transfer decides.
     * Emits {Donated}.
     * @param intent What the donor signed.
     * @param intentSignature The donor's EIP-712 signature of `intent`.
     * @param permitDeadline The permit's deadline.
     * @param v The permit signature's v.
     * @param r The permit signature's r.
     * @param s The permit signature's s.
     */
    function donateWithPermit(
        DonationIntent calldata intent,
        bytes calldata intentSignature,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > intent.deadline) revert DonationHubIntentExpired(intent.deadline);
        if (!SignatureChecker.isValidSignatureNowCalldata(intent.donor, _intentDigest(intent), intentSignature)) {
            revert DonationHubInvalidIntentSignature(intent.donor);
        }
        _useCheckedNonce(intent.donor, intent.nonce);
        Recipient memory entry = _openRecipient(intent.donor, intent.recipientId, intent.amount);
        if (entry.beneficiary != intent.beneficiary) {
            revert DonationHubBeneficiaryChanged(intent.recipientId, intent.beneficiary, entry.beneficiary);
        }
        try IERC20Permit(address(_token)).permit(intent.donor, address(this), intent.amount, permitDeadline, v, r, s) {}
            catch {}
        _pay(intent.donor, intent.recipientId, entry.beneficiary, intent.amount, intent.memoHash);
    }

    /**
     * @notice Cancels the caller's unused donation intent with nonce `nonce`, so that nobody can
     * submit it any more.
     * @dev Requires `nonce == nonces(msg.sender)` (an intent with a later nonce cannot be submitted
     * before this one anyway; a used one cannot be cancelled). Spends the nonce. Emits {IntentCancelled}.
     * @param nonce The nonce of the intent to cancel, the caller's current {nonces}.
     */
    function cancelIntent(uint256 nonce) external {
        _useCheckedNonce(msg.sender, nonce);
        emit IntentCancelled(msg.sender, nonce);
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice A recipient's registry entry; an unknown id answers `(address(0), INSTITUTE, false)`.
     * @param id The recipient id.
     * @return beneficiary The address that receives its donations.
     * @return kind INSTITUTE or OPINION_LEADER.
     * @return active Whether it accepts donations.
     */
    function recipient(uint256 id) external view returns (address beneficiary, RecipientKind kind, bool active) {
        Recipient memory entry = _recipients[id];
        return (entry.beneficiary, entry.kind, entry.active);
    }

    /// @notice The number of recipients ever added (the largest id).
    function recipientCount() external view returns (uint256) {
        return _recipientCount;
    }

    /// @notice The PMC token.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The EIP-712 domain separator of this hub (name "PosMul DonationHub", version "1").
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /**
     * @notice The EIP-712 digest a donor signs for `intent`.
     * @param intent The intent.
     * @return The typed-data digest.
     */
    function donationIntentDigest(DonationIntent calldata intent) external view returns (bytes32) {
        return _intentDigest(intent);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The registry entry of `recipientId` once the donation rules (E3) allow `donor` to give `amount` to it.
    function _openRecipient(address donor, uint256 recipientId, uint256 amount)
        private
        view
        returns (Recipient memory entry)
    {
        entry = _recipients[recipientId];
        if (entry.beneficiary == address(0)) revert DonationHubUnknownRecipient(recipientId);
        if (!entry.active) revert DonationHubRecipientInactive(recipientId);
        if (donor == entry.beneficiary) revert DonationHubSelfDonation(donor);
        uint256 max = entry.kind == RecipientKind.OPINION_LEADER ? MAX_OPINION_LEADER_SUPPORT : type(uint256).max;
        if (amount < MIN_DONATION || amount > max) revert DonationHubAmountOutOfRange(amount, MIN_DONATION, max);
    }

    function _pay(address donor, uint256 recipientId, address beneficiary, uint256 amount, bytes32 memoHash) private {
        _token.safeTransferFrom(donor, beneficiary, amount);
        emit Donated(recipientId, donor, beneficiary, amount, memoHash);
    }

    function _intentDigest(DonationIntent calldata intent) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    DONATION_INTENT_TYPEHASH,
                    intent.donor,
                    intent.recipientId,
                    intent.beneficiary,
                    intent.amount,
                    intent.memoHash,
                    intent.nonce,
                    intent.deadline
                )
            )
        );
    }
}
