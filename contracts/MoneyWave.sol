// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {PMC} from "./PMC.sol";

/**
 * @title MoneyWave — the daily PMC emission
 * @notice Once per UTC day the relayer publishes a *wave*: it mints the day's PMC (at most the
 * on-chain {dailyCap}) to this contract and replaces {currentRoot}, a cumulative Merkle root whose
 * leaves are `(address account, uint256 cumulativeAmount)` in the OpenZeppelin StandardMerkleTree
 * format. Anyone may then {claim} for an account; the tokens always go to the account itself, which
 * receives `cumulativeAmount - claimed(account)`.
 *
 * Rules (DESIGN.md):
 * - M1/M3: a wave never mints more than the daily cap in force when it is published; a cap change
 *   applies to the days not yet published ({DailyCapChanged} names the first such day).
 * - M4: days are published strictly in order from day 0, each only after it has ended; a missed day
 *   is published later, still in order. `totalCumulative` (the sum of the root's leaves) must equal
 *   the total minted, an on-chain check of the relayer's bookkeeping.
 * - M5: claims are permissionless and pay the leaf's account; the contract stays solvent because
 *   its PMC balance is exactly {totalMinted} - {totalClaimed} and no leaf can be paid twice.
 *   {totalClaimed} is *derived* from that balance rather than stored: PMC refuses transfers to its
 *   minter, so this contract's balance moves only by wave mints (+) and claims (-), and
 *   `totalMinted - balance` is exactly the sum of all claims, by construction.
 *
 * Roles: the admin ({DEFAULT_ADMIN_ROLE}) sets the cap, manages roles and unpauses; the relayer
 * ({RELAYER_ROLE}) publishes waves; the guardian ({GUARDIAN_ROLE}) can pause publishing and claiming.
 *
 * Gas: a claim reads two storage slots of this contract — the root and the packed slot holding the
 * pause flag (hence a flag of its own rather than OpenZeppelin's Pausable, a separate slot) — and
 * writes one, the account's own `claimed` entry. A wave reads and writes the packed slot, reads the
 * cap and replaces the root.
 */
contract MoneyWave is AccessControl {
    using SafeCast for uint256;
    using SafeERC20 for PMC;

    /// @notice The role allowed to {publishWave}.
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// @notice The role allowed to {pause}.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @dev The PMC token; this contract is its only minter.
    PMC private immutable _token;
    /// @dev Unix timestamp (a UTC midnight) at which day 0 starts.
    uint256 private immutable _genesis;

    // One packed slot, read by every claim (the flag) and read and written by every wave.
    /// @dev Sum of all wave amounts, equal to the PMC minted by this contract.
    uint128 private _totalMinted;
    /// @dev The only day {publishWave} accepts.
    uint64 private _nextDay;
    /// @dev Whether publishing and claiming are paused.
    bool private _paused;

    /// @dev The most a single wave may mint, in wei.
    uint128 private _dailyCap;

    /// @dev Root of the cumulative allocation tree of the latest wave.
    bytes32 private _currentRoot;
    /// @dev Cumulative amount already paid to each account.
    mapping(address account => uint256) private _claimed;

    /**
     * @notice Wave `day` was published: `amount` PMC minted to this contract and `root` made current.
     * @param day The UTC day index of the wave.
     * @param root The cumulative Merkle root now claimable.
     * @param amount The PMC (wei) minted for this day.
     * @param allocationHash Hash of the relayer's published allocation, for auditors to recompute.
     * @param totalCumulative Sum of the root's cumulative amounts, equal to {totalMinted} after the wave.
     */
    event WavePublished(
        uint64 indexed day, bytes32 root, uint256 amount, bytes32 allocationHash, uint256 totalCumulative
    );

    /**
     * @notice `amount` PMC was paid to `account`, whose claimed total is now `cumulativeAmount`.
     * @param account The leaf's account, which received the tokens.
     * @param amount The PMC (wei) paid by this claim.
     * @param cumulativeAmount The account's cumulative entitlement in the current root, now fully claimed.
     */
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);

    /**
     * @notice The daily cap changed.
     * @param previousCap The cap before the change.
     * @param newCap The cap from now on.
     * @param effectiveFromDay The first day the new cap applies to: {nextDay} at the time of the change.
     */
    event DailyCapChanged(uint256 previousCap, uint256 newCap, uint64 effectiveFromDay);

    /**
     * @notice Publishing and claiming were paused by `account`.
     * @param account The guardian that paused.
     */
    event Paused(address account);

    /**
     * @notice Publishing and claiming were resumed by `account`.
     * @param account The admin that unpaused.
     */
    event Unpaused(address account);

    /**
     * @dev The genesis timestamp is not a UTC midnight.
     * @param genesis The rejected timestamp.
     */
    error MoneyWaveInvalidGenesis(uint256 genesis);

    /**
     * @dev The token does not name this contract as its minter.
     * @param minter The token's minter.
     */
    error MoneyWaveNotTokenMinter(address minter);

    /**
     * @dev The token's maximum supply does not fit the 128-bit counters of this contract.
     * @param maxSupply The token's maximum supply.
     */
    error MoneyWaveUnsupportedMaxSupply(uint256 maxSupply);

    /**
     * @dev The zero address was given as admin.
     * @param admin The rejected admin.
     */
    error MoneyWaveInvalidAdmin(address admin);

    /**
     * @dev A daily cap above the 128-bit limit of this contract.
     * @param cap The rejected cap.
     * @param max The largest accepted cap.
     */
    error MoneyWaveDailyCapTooLarge(uint256 cap, uint256 max);

    /// @dev The operation needs the contract not to be paused.
    error MoneyWaveEnforcedPause();

    /// @dev The operation needs the contract to be paused.
    error MoneyWaveExpectedPause();

    /**
     * @dev A wave for another day than {nextDay} (M4: in order, never twice).
     * @param day The day offered.
     * @param expected The only day accepted now.
     */
    error MoneyWaveUnexpectedDay(uint64 day, uint64 expected);

    /**
     * @dev A wave for a day that has not ended yet (M4).
     * @param day The day offered.
     * @param endsAt The timestamp from which the day can be published.
     */
    error MoneyWaveDayNotEnded(uint64 day, uint256 endsAt);

    /**
     * @dev A wave above the daily cap (M1/M3).
     * @param day The day offered.
     * @param amount The amount offered.
     * @param cap The cap in force.
     */
    error MoneyWaveDailyCapExceeded(uint64 day, uint256 amount, uint256 cap);

    /**
     * @dev The relayer's `totalCumulative` does not equal the total minted after this wave.
     * @param totalCumulative The sum of the root's leaves, as declared by the relayer.
     * @param expected {totalMinted} after this wave.
     */
    error MoneyWaveCumulativeMismatch(uint256 totalCumulative, uint256 expected);

    /**
     * @dev A zero root for a wave after which something is claimable.
     * @param day The day offered.
     */
    error MoneyWaveZeroRoot(uint64 day);

    /**
     * @dev The proof does not place `(account, cumulativeAmount)` in {currentRoot}.
     * @param account The account claimed for.
     * @param cumulativeAmount The cumulative amount claimed.
     */
    error MoneyWaveInvalidProof(address account, uint256 cumulativeAmount);

    /**
     * @dev Nothing is due: the account already claimed this cumulative amount (or more).
     * @param account The account claimed for.
     * @param cumulativeAmount The cumulative amount offered.
     * @param alreadyClaimed What the account has already received.
     */
    error MoneyWaveNothingToClaim(address account, uint256 cumulativeAmount, uint256 alreadyClaimed);

    /**
     * @dev The three arrays of {claimMany} differ in length.
     * @param accounts The number of accounts.
     * @param cumulativeAmounts The number of cumulative amounts.
     * @param proofs The number of proofs.
     */
    error MoneyWaveBatchLengthMismatch(uint256 accounts, uint256 cumulativeAmounts, uint256 proofs);

    /**
     * @dev A timestamp before genesis has no day index.
     * @param timestamp The timestamp asked about.
     * @param genesis The start of day 0.
     */
    error MoneyWaveBeforeGenesis(uint256 timestamp, uint256 genesis);

    /**
     * @param token_ The PMC token, whose {PMC-minter} must be this contract.
     * @param genesis_ Start of day 0: a UTC midnight (`genesis_ % 1 days == 0`).
     * @param initialDailyCap The first daily cap, in wei. Emits {DailyCapChanged} (effective from day 0).
     * @param admin The holder of {DEFAULT_ADMIN_ROLE}; it grants the relayer and guardian roles.
     */
    constructor(PMC token_, uint256 genesis_, uint256 initialDailyCap, address admin) {
        if (genesis_ % 1 days != 0) revert MoneyWaveInvalidGenesis(genesis_);
        address tokenMinter = token_.minter();
        if (tokenMinter != address(this)) revert MoneyWaveNotTokenMinter(tokenMinter);
        uint256 maxSupply = token_.MAX_SUPPLY();
        if (maxSupply > type(uint128).max) revert MoneyWaveUnsupportedMaxSupply(maxSupply);
        if (admin == address(0)) revert MoneyWaveInvalidAdmin(admin);
        _token = token_;
        _genesis = genesis_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setDailyCap(initialDailyCap);
    }

    // ------------------------------------------------------------------ waves

    /**
     * @notice Publishes wave `day`: mints `amount` PMC to this contract and makes `root` current.
     * @dev Requires {RELAYER_ROLE}, not paused, `day == nextDay()`, the day to have ended
     * (`block.timestamp >= genesis + (day + 1) days`), `amount <= dailyCap()`,
     * `totalCumulative == totalMinted() + amount`, a nonzero `root` unless nothing was ever minted,
     * and the token's MAX_SUPPLY to hold. Emits {WavePublished} (and the token's {IERC20-Transfer}).
     * @param day The UTC day index of the wave.
     * @param root The new cumulative Merkle root (leaves `(account, cumulativeAmount)`).
     * @param amount The PMC (wei) to mint for this day; zero publishes an empty day.
     * @param allocationHash Hash of the relayer's published allocation for this wave.
     * @param totalCumulative The sum of all cumulative amounts in `root`.
     */
    function publishWave(uint64 day, bytes32 root, uint256 amount, bytes32 allocationHash, uint256 totalCumulative)
        external
        onlyRole(RELAYER_ROLE)
    {
        if (_paused) revert MoneyWaveEnforcedPause();
        uint64 expected = _nextDay;
        if (day != expected) revert MoneyWaveUnexpectedDay(day, expected);
        uint256 endsAt = _genesis + (uint256(day) + 1) * 1 days;
        // Day boundaries are timestamps by definition; a validator's few seconds of drift are harmless.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < endsAt) revert MoneyWaveDayNotEnded(day, endsAt);
        uint256 cap = _dailyCap;
        if (amount > cap) revert MoneyWaveDailyCapExceeded(day, amount, cap);
        uint256 mintedAfter = _totalMinted + amount;
        if (totalCumulative != mintedAfter) revert MoneyWaveCumulativeMismatch(totalCumulative, mintedAfter);
        if (root == bytes32(0) && mintedAfter != 0) revert MoneyWaveZeroRoot(day);

        _nextDay = day + 1;
        _totalMinted = mintedAfter.toUint128();
        _currentRoot = root;
        if (amount != 0) _token.mint(address(this), amount);
        emit WavePublished(day, root, amount, allocationHash, totalCumulative);
    }

    /**
     * @notice Sets the daily cap for every day not yet published, from {nextDay} on.
     * @dev Requires {DEFAULT_ADMIN_ROLE} and `newCap <= type(uint128).max`. Emits {DailyCapChanged}.
     * @param newCap The new cap, in wei.
     */
    function setDailyCap(uint256 newCap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDailyCap(newCap);
    }

    // ------------------------------------------------------------------ claims

    /**
     * @notice Pays `account` what it is due under the current root: `cumulativeAmount - claimed(account)`.
     * @dev Permissionless; the tokens always go to `account`. Requires not paused, a valid `proof` of the
     * leaf `(account, cumulativeAmount)` in {currentRoot}, and something due. Emits {Claimed} (and the
     * token's {IERC20-Transfer}).
     * @param account The leaf's account, which receives the tokens.
     * @param cumulativeAmount The account's cumulative entitlement in the current root.
     * @param proof The Merkle proof (sorted-pair hashing) of the leaf.
     */
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external {
        if (_paused) revert MoneyWaveEnforcedPause();
        if (!MerkleProof.verifyCalldata(proof, _currentRoot, _leaf(account, cumulativeAmount))) {
            revert MoneyWaveInvalidProof(account, cumulativeAmount);
        }
        uint256 alreadyClaimed = _claimed[account];
        if (cumulativeAmount <= alreadyClaimed) {
            revert MoneyWaveNothingToClaim(account, cumulativeAmount, alreadyClaimed);
        }
        uint256 amount;
        unchecked {
            amount = cumulativeAmount - alreadyClaimed;
        }
        _claimed[account] = cumulativeAmount;
        _token.safeTransfer(account, amount);
        emit Claimed(account, amount, cumulativeAmount);
    }

    /**
     * @notice Claims for many accounts at once (the relayer's gasless batches).
     * @dev Requires not paused, arrays of equal length and a valid proof for every entry (an invalid
     * proof reverts the whole batch: it is a bug in the caller's data). An entry with nothing due is
     * skipped silently — no event, no transfer — so a batch never fails because a user claimed alone
     * in the meantime. Emits {Claimed} for every entry that paid something.
     * @param accounts The leaves' accounts, which receive the tokens.
     * @param cumulativeAmounts Each account's cumulative entitlement in the current root.
     * @param proofs Each leaf's Merkle proof.
     * @return paid The total PMC (wei) paid by the batch.
     */
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        returns (uint256 paid)
    {
        if (_paused) revert MoneyWaveEnforcedPause();
        uint256 n = accounts.length;
        if (cumulativeAmounts.length != n || proofs.length != n) {
            revert MoneyWaveBatchLengthMismatch(n, cumulativeAmounts.length, proofs.length);
        }
        bytes32 root = _currentRoot;
        for (uint256 i = 0; i < n; ++i) {
            address account = accounts[i];
            uint256 cumulativeAmount = cumulativeAmounts[i];
            if (!MerkleProof.verifyCalldata(proofs[i], root, _leaf(account, cumulativeAmount))) {
                revert MoneyWaveInvalidProof(account, cumulativeAmount);
            }
            uint256 alreadyClaimed = _claimed[account];
            if (cumulativeAmount <= alreadyClaimed) continue;
            uint256 amount;
            unchecked {
                amount = cumulativeAmount - alreadyClaimed;
            }
            _claimed[account] = cumulativeAmount;
            paid += amount;
            _token.safeTransfer(account, amount);
            emit Claimed(account, amount, cumulativeAmount);
        }
    }

    // ------------------------------------------------------------------ emergency

    /**
     * @notice Pauses publishing and claiming.
     * @dev Requires {GUARDIAN_ROLE} and not paused. Emits {Paused}.
     */
    function pause() external onlyRole(GUARDIAN_ROLE) {
        if (_paused) revert MoneyWaveEnforcedPause();
        _paused = true;
        emit Paused(msg.sender);
    }

    /**
     * @notice Resumes publishing and claiming.
     * @dev Requires {DEFAULT_ADMIN_ROLE} and paused. Emits {Unpaused}.
     */
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_paused) revert MoneyWaveExpectedPause();
        _paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @notice The PMC token.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice Start of day 0 (a UTC midnight, unix seconds).
    function genesis() external view returns (uint256) {
        return _genesis;
    }

    /// @notice The most a wave published from now on may mint, in wei.
    function dailyCap() external view returns (uint256) {
        return _dailyCap;
    }

    /// @notice The only day {publishWave} accepts now (the number of waves published so far).
    function nextDay() external view returns (uint64) {
        return _nextDay;
    }

    /// @notice The cumulative Merkle root of the latest wave (zero before the first).
    function currentRoot() external view returns (bytes32) {
        return _currentRoot;
    }

    /// @notice The cumulative amount already paid to `account`.
    function claimed(address account) external view returns (uint256) {
        return _claimed[account];
    }

    /// @notice Sum of all waves, equal to the PMC this contract has minted.
    function totalMinted() external view returns (uint256) {
        return _totalMinted;
    }

    /**
     * @notice Sum of all claims paid.
     * @dev Derived, not stored: this contract's PMC balance changes only by wave mints and claims
     * (PMC refuses transfers to its minter), so the claims total is `totalMinted - balance`.
     */
    function totalClaimed() external view returns (uint256) {
        return _totalMinted - _token.balanceOf(address(this));
    }

    /// @notice Whether publishing and claiming are paused.
    function paused() external view returns (bool) {
        return _paused;
    }

    /**
     * @notice The UTC day index of `timestamp`: `(timestamp - genesis) / 1 days`.
     * @dev Reverts with {MoneyWaveBeforeGenesis} for a timestamp before genesis.
     * @param timestamp Unix seconds.
     * @return The day index.
     */
    function dayOf(uint256 timestamp) external view returns (uint64) {
        if (timestamp < _genesis) revert MoneyWaveBeforeGenesis(timestamp, _genesis);
        return ((timestamp - _genesis) / 1 days).toUint64();
    }

    // ------------------------------------------------------------------ internals

    function _setDailyCap(uint256 newCap) private {
        if (newCap > type(uint128).max) revert MoneyWaveDailyCapTooLarge(newCap, type(uint128).max);
        uint256 previousCap = _dailyCap;
        // casting to 'uint128' is safe because newCap was checked against type(uint128).max above
        // forge-lint: disable-next-line(unsafe-typecast)
        _dailyCap = uint128(newCap);
        emit DailyCapChanged(previousCap, newCap, _nextDay);
    }

    /// @dev The StandardMerkleTree leaf of `(account, cumulativeAmount)`: keccak256(keccak256(abi.encode(..))).
    function _leaf(address account, uint256 cumulativeAmount) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, cumulativeAmount)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }
}
