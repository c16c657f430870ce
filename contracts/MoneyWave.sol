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
 * on-chain {dailyCap}) to this contract and proposes a cumulative Merkle root whose leaves are
 * `(address account, uint256 cumulativeAmount)` in the OpenZeppelin StandardMerkleTree format. The
 * root becomes {currentRoot} once {rootDelay} has passed; anyone may then {claim} for an account, and
 * the tokens always go to the account itself, which receives `cumulativeAmount - claimed(account)`.
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
 *   minter, so this contract's balance moves only by wave mints (+), revocation burns (-) and
 *   claims (-), and `totalMinted - balance` is exactly the sum of all claims, by construction.
 * - M6: a published root is *pending* until `publication + rootDelay`; claims keep using the last
 *   root whose delay has passed, so they never stop while a new root waits. During the delay the
 *   guardian can {revokePendingRoot}: its days are published again, and the PMC minted for them is
 *   burnt, so {totalMinted} stays the sum of the waves in force. A wave published while a root is
 *   pending replaces it (roots are cumulative, so the new root carries the pending days too) and
 *   restarts the delay; the pending run then spans several days, and a revocation reopens the first.
 *   The delay is at most {MAX_ROOT_DELAY}, well under a day, so a daily wave never keeps replacing
 *   a root before it matures.
 *
 * Roles: the admin ({DEFAULT_ADMIN_ROLE}) sets the cap and the root delay, manages roles and
 * unpauses; the relayer ({RELAYER_ROLE}) publishes waves; the guardian ({GUARDIAN_ROLE}) can pause
 * publishing and claiming and revoke a pending root.
 *
 * Gas: a claim reads two storage slots of this contract — one of the two root slots and the packed
 * slot holding the pause flag and which root is in force (hence a flag of its own rather than
 * OpenZeppelin's Pausable, a separate slot) — and writes one, the account's own `claimed` entry.
 * The two roots alternate between the roles "current" and "pending", so a root that matures is
 * never copied: the packed slot's index says which is which, and the claim picks by timestamp. A
 * wave reads and writes the packed slot and the pending run's slot, reads the cap and the delay,
 * and writes the pending root.
 */
contract MoneyWave is AccessControl {
    using SafeCast for uint256;
    using SafeERC20 for PMC;

    /// @notice The role allowed to {publishWave}.
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// @notice The role allowed to {pause} and {revokePendingRoot}.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice The longest {rootDelay}: 12 hours, so a daily wave's root matures before the next
    /// day's wave could replace it.
    uint256 public constant MAX_ROOT_DELAY = 12 hours;

    /// @dev The value of a root slot never written by a wave. The constructor stores it so that the
    /// second wave, the first to write that slot, pays a nonzero-to-nonzero write like every later
    /// one. No Merkle proof reaches it: that would take a preimage of keccak256.
    bytes32 private constant _NO_ROOT = bytes32(uint256(1));

    /// @dev The PMC token; this contract is its only minter.
    PMC private immutable _token;
    /// @dev Unix timestamp (a UTC midnight) at which day 0 starts.
    uint256 private immutable _genesis;

    // One packed slot, read by every claim (flag, index, claimableAt) and read and written by every wave.
    /// @dev Sum of the amounts of the waves in force (a revoked wave leaves it), equal to the PMC
    /// supply this contract has minted.
    uint128 private _totalMinted;
    /// @dev The only day {publishWave} accepts.
    uint64 private _nextDay;
    /// @dev When the pending root becomes claimable; zero when no root is pending.
    uint40 private _pendingClaimableAt;
    /// @dev Whether publishing and claiming are paused.
    bool private _paused;
    /// @dev Which of {_roots} is the current root; the other holds the pending one.
    uint8 private _currentIndex;

    // One slot, read by every wave, written by the admin.
    /// @dev The most a single wave may mint, in wei.
    uint128 private _dailyCap;
    /// @dev Seconds from a root's publication until it is claimable.
    uint32 private _rootDelay;

    // One slot: the pending run (the waves published since the current root), written by every wave.
    /// @dev PMC minted by the pending run, burnt if it is revoked.
    uint128 private _pendingMinted;
    /// @dev First day of the pending run, which a revocation reopens.
    uint64 private _pendingFirstDay;

    /// @dev The current root and the pending root; {_currentIndex} says which is which.
    bytes32[2] private _roots;
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
     * @notice Wave `day`'s `root` is pending: it becomes {currentRoot} at `claimableAt` unless the
     * guardian revokes it first. Emitted with every {WavePublished}.
     * @param day The UTC day index of the wave.
     * @param root The pending cumulative Merkle root.
     * @param firstDay The first day of the pending run (`day`, or an earlier day whose root this one
     * replaced before it matured); a revocation reopens it.
     * @param claimableAt The timestamp from which claims use `root`.
     */
    event RootPending(uint64 indexed day, bytes32 root, uint64 firstDay, uint256 claimableAt);

    /**
     * @notice The guardian revoked the pending root: days `firstDay` .. `lastDay` are unpublished
     * ({nextDay} is `firstDay` again) and the `burned` PMC minted for them is burnt.
     * @param firstDay The first day of the revoked run, the next day to publish.
     * @param lastDay The last day of the revoked run.
     * @param root The revoked root.
     * @param burned The PMC (wei) burnt, the sum of the revoked waves' amounts.
     * @param account The guardian that revoked.
     */
    event RootRevoked(uint64 indexed firstDay, uint64 lastDay, bytes32 root, uint256 burned, address account);

    /**
     * @notice The root delay changed; it applies to roots published from now on.
     * @param previousDelay The delay before the change, in seconds.
     * @param newDelay The delay from now on, in seconds.
     */
    event RootDelayChanged(uint256 previousDelay, uint256 newDelay);

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

    /**
     * @dev A root delay above {MAX_ROOT_DELAY}.
     * @param delay The rejected delay.
     * @param max The longest accepted delay.
     */
    error MoneyWaveRootDelayTooLong(uint256 delay, uint256 max);

    /// @dev No root is pending: nothing to revoke.
    error MoneyWaveNoPendingRoot();

    /**
     * @dev The pending root's delay has passed: it is the current root and can no longer be revoked.
     * @param claimableAt The timestamp from which it was claimable.
     */
    error MoneyWaveRootAlreadyClaimable(uint256 claimableAt);

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
     * @dev The proof does not place `(account, cumulativeAmount)` in {currentRoot} (a pending or
     * revoked root is never used).
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
     * @param admin The holder of {DEFAULT_ADMIN_ROLE}; it grants the relayer and guardian roles and
     * sets the root delay, which starts at zero.
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
        _roots[0] = _NO_ROOT;
        _roots[1] = _NO_ROOT;
    }

    // ------------------------------------------------------------------ waves

    /**
     * @notice Publishes wave `day`: mints `amount` PMC to this contract and makes `root` pending; it
     * becomes {currentRoot} after {rootDelay} unless the guardian revokes it (M6).
     * @dev Requires {RELAYER_ROLE}, not paused, `day == nextDay()`, the day to have ended
     * (`block.timestamp >= genesis + (day + 1) days`), `amount <= dailyCap()`,
     * `totalCumulative == totalMinted() + amount`, a nonzero `root` unless nothing was ever minted,
     * and the token's MAX_SUPPLY to hold. A pending root whose delay has passed becomes current first;
     * one whose delay has not passed is replaced (it never becomes claimable) and its days join this
     * root's pending run. Emits {WavePublished} and {RootPending} (and the token's {IERC20-Transfer}).
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

        uint256 current = _currentIndex;
        uint256 pendingAt = _pendingClaimableAt;
        uint64 firstDay;
        // forge-lint: disable-next-line(block-timestamp)
        if (pendingAt == 0 || block.timestamp >= pendingAt) {
            // Nothing pending, or the pending root has matured: it becomes current by a flip of the
            // index, and this wave starts a new pending run.
            if (pendingAt != 0) {
                current ^= 1;
                // casting to 'uint8' is safe because current is 0 or 1
                // forge-lint: disable-next-line(unsafe-typecast)
                _currentIndex = uint8(current);
            }
            firstDay = day;
            _pendingFirstDay = day;
            // casting to 'uint128' is safe because amount <= cap, a uint128
            // forge-lint: disable-next-line(unsafe-typecast)
            _pendingMinted = uint128(amount);
        } else {
            // The pending root never became claimable; this cumulative root replaces it.
            firstDay = _pendingFirstDay;
            // casting to 'uint128' is safe because amount <= cap; the sum is below mintedAfter, a uint128
            // forge-lint: disable-next-line(unsafe-typecast)
            _pendingMinted += uint128(amount);
        }
        uint256 claimableAt = block.timestamp + _rootDelay;

        _nextDay = day + 1;
        _totalMinted = mintedAfter.toUint128();
        // casting to 'uint40' is safe until the year 36812
        // forge-lint: disable-next-line(unsafe-typecast)
        _pendingClaimableAt = uint40(claimableAt);
        _roots[current ^ 1] = root;
        if (amount != 0) _token.mint(address(this), amount);
        emit WavePublished(day, root, amount, allocationHash, totalCumulative);
        emit RootPending(day, root, firstDay, claimableAt);
    }

    /**
     * @notice Revokes the pending root: its days are unpublished ({nextDay} returns to the pending
     * run's first day, which the relayer publishes again) and the PMC minted for them is burnt.
     * @dev Requires {GUARDIAN_ROLE} and a pending root whose delay has not passed; works while paused.
     * The current root and every claim stay as they are. Emits {RootRevoked} (and the token's
     * {IERC20-Transfer} to the zero address when something is burnt).
     */
    function revokePendingRoot() external onlyRole(GUARDIAN_ROLE) {
        uint256 pendingAt = _pendingClaimableAt;
        if (pendingAt == 0) revert MoneyWaveNoPendingRoot();
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp >= pendingAt) revert MoneyWaveRootAlreadyClaimable(pendingAt);
        uint64 firstDay = _pendingFirstDay;
        uint64 lastDay = _nextDay - 1;
        uint256 burned = _pendingMinted;
        bytes32 root = _roots[_currentIndex ^ 1];

        _nextDay = firstDay;
        // casting to 'uint128' is safe because burned is a uint128 read from storage
        // forge-lint: disable-next-line(unsafe-typecast)
        _totalMinted -= uint128(burned);
        _pendingClaimableAt = 0;
        _pendingMinted = 0;
        // Claims never touched the pending root, so the balance still holds what it minted.
        if (burned != 0) _token.burn(burned);
        emit RootRevoked(firstDay, lastDay, root, burned, msg.sender);
    }

    /**
     * @notice Sets the delay between a root's publication and its first claim, for roots published
     * from now on (a pending root keeps its `claimableAt`).
     * @dev Requires {DEFAULT_ADMIN_ROLE} and `newDelay <= MAX_ROOT_DELAY`; works while paused.
     * Emits {RootDelayChanged}.
     * @param newDelay The delay in seconds; zero makes roots claimable at once (development chains).
     */
    function setRootDelay(uint256 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newDelay > MAX_ROOT_DELAY) revert MoneyWaveRootDelayTooLong(newDelay, MAX_ROOT_DELAY);
        uint256 previousDelay = _rootDelay;
        // casting to 'uint32' is safe because newDelay <= MAX_ROOT_DELAY
        // forge-lint: disable-next-line(unsafe-typecast)
        _rootDelay = uint32(newDelay);
        emit RootDelayChanged(previousDelay, newDelay);
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
     * leaf `(account, cumulativeAmount)` in {currentRoot} (the last root whose delay has passed, never a
     * pending one), and something due. Emits {Claimed} (and the token's {IERC20-Transfer}).
     * @param account The leaf's account, which receives the tokens.
     * @param cumulativeAmount The account's cumulative entitlement in the current root.
     * @param proof The Merkle proof (sorted-pair hashing) of the leaf.
     */
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external {
        if (_paused) revert MoneyWaveEnforcedPause();
        if (!MerkleProof.verifyCalldata(proof, _claimRoot(), _leaf(account, cumulativeAmount))) {
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
     * @param cumulativeAmounts Each account's cumulative entitlement in the current root ({currentRoot}).
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
        bytes32 root = _claimRoot();
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
     * @notice Pauses publishing and claiming (a pending root still matures; {revokePendingRoot} stays open).
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

    /// @notice The root claims use now: the latest root whose delay has passed (zero before the first).
    function currentRoot() external view returns (bytes32) {
        bytes32 root = _claimRoot();
        return root == _NO_ROOT ? bytes32(0) : root;
    }

    /**
     * @notice The root waiting out its delay, if any (M6).
     * @return root The pending root; zero when none is pending (a root whose delay has passed is {currentRoot}).
     * @return firstDay The first day of the pending run, which a revocation reopens.
     * @return claimableAt The timestamp from which the root is current; zero when none is pending.
     */
    function pendingRoot() external view returns (bytes32 root, uint64 firstDay, uint256 claimableAt) {
        uint256 pendingAt = _pendingClaimableAt;
        // forge-lint: disable-next-line(block-timestamp)
        if (pendingAt == 0 || block.timestamp >= pendingAt) return (bytes32(0), 0, 0);
        return (_roots[_currentIndex ^ 1], _pendingFirstDay, pendingAt);
    }

    /// @notice Seconds from a root's publication until claims use it (set by the admin).
    function rootDelay() external view returns (uint256) {
        return _rootDelay;
    }

    /// @notice The cumulative amount already paid to `account`.
    function claimed(address account) external view returns (uint256) {
        return _claimed[account];
    }

    /// @notice Sum of the waves in force (revoked ones excluded), equal to the PMC supply.
    function totalMinted() external view returns (uint256) {
        return _totalMinted;
    }

    /**
     * @notice Sum of all claims paid.
     * @dev Derived, not stored: this contract's PMC balance changes only by wave mints, revocation
     * burns (each also moving {totalMinted}) and claims (PMC refuses transfers to its minter), so the
     * claims total is `totalMinted - balance`.
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

    /// @dev The root claims verify against: the pending root once its delay has passed, else the current one.
    function _claimRoot() private view returns (bytes32) {
        uint256 index = _currentIndex;
        uint256 pendingAt = _pendingClaimableAt;
        // forge-lint: disable-next-line(block-timestamp)
        if (pendingAt != 0 && block.timestamp >= pendingAt) index ^= 1;
        return _roots[index];
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
