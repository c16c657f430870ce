// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {PMC} from "../../PMC.sol";
import {MoneyWave} from "../../MoneyWave.sol";
import {StandardTree} from "../utils/StandardTree.sol";

/**
 * @title MoneyWaveHandler — random waves, cap and delay changes, revocations, claims, pauses and transfers
 * @notice Drives MoneyWave the way the relayer, the admin, the guardian and citizens do, and keeps
 * its own books (ghost variables) to compare with the contracts. Each action also checks its own
 * outcome: an action that must fail and succeeds, or that must succeed and fails, is counted in
 * {unexpected}, which the invariant suite requires to stay zero.
 *
 * M6 books: the *current* tree (what claims use) and the *pending* one (published, its delay not yet
 * passed). A pending tree whose delay has passed is the current one; the views and {_settle} apply
 * that rule, as the contract does lazily. Revoked trees are kept so that claims can be tried with
 * their proofs, which must never pay.
 */
contract MoneyWaveHandler is CommonBase, StdCheats, StdUtils {
    uint256 public constant ACCOUNTS = 6;
    uint256 public constant MAX_CREDIT = 400_000 ether;
    /// @dev The delays drawn: zero (development chains) up to one past the contract's maximum.
    uint256 public constant MAX_DELAY = 12 hours;

    PMC public immutable pmc;
    MoneyWave public immutable wave;
    address public immutable relayer;
    address public immutable admin;
    address public immutable guardian;
    uint256 public immutable maxSupply;

    address[] public accounts;

    // ---- ghosts
    /// @dev Each account's cumulative entitlement in the current root (see {entitled} for the one in force).
    uint256[ACCOUNTS] internal _entitled;
    /// @dev The current tree (leaves in account order).
    bytes32[] internal _tree;
    /// @dev The pending tree and its entitlements; {ghostPendingAt} is zero when none is pending.
    uint256[ACCOUNTS] internal _pendingEntitled;
    bytes32[] internal _pendingTree;
    uint256 public ghostPendingAt;
    uint64 public ghostPendingFirstDay;
    uint256 public ghostPendingMinted;
    /// @dev The delay in force, as set by this handler.
    uint256 public ghostDelay;
    /// @dev The last revoked tree and its entitlements (empty before the first revocation).
    uint256[ACCOUNTS] internal _revokedEntitled;
    bytes32[] internal _revokedTree;
    /// @dev Sum of the amounts of all revoked waves, and what revocations burnt.
    uint256 public ghostRevoked;
    uint256 public ghostBurned;
    /// @dev The cap in force, as set by this handler (not read from the contract).
    uint256 public ghostCap;
    /// @dev Sum of the amounts of the waves in force (published, not revoked).
    uint256 public ghostMinted;
    /// @dev Sum of what accounts received from claims (measured by their balances).
    uint256 public ghostClaimed;
    /// @dev Days in force, in publication order, with the minted amount and the cap at that time
    /// (a revocation removes its days).
    uint64[] public publishedDays;
    uint256[] public publishedAmounts;
    uint256[] public capAtPublication;
    /// @dev Actions whose outcome contradicted the rules.
    uint256 public unexpected;
    /// @dev Human-readable description of the first contradiction.
    string public firstUnexpected;
    bool public ghostPaused;

    // ---- coverage counters (printed by the suite)
    uint256 public calls_publish;
    uint256 public calls_publishRefused;
    uint256 public calls_claim;
    uint256 public calls_claimMany;
    uint256 public calls_setCap;
    uint256 public calls_pause;
    uint256 public calls_revoke;
    uint256 public calls_revokeRefused;
    uint256 public calls_setDelay;
    uint256 public calls_claimStale;

    constructor(PMC pmc_, MoneyWave wave_, address relayer_, address admin_, address guardian_) {
        pmc = pmc_;
        wave = wave_;
        relayer = relayer_;
        admin = admin_;
        guardian = guardian_;
        maxSupply = pmc_.MAX_SUPPLY();
        ghostCap = wave_.dailyCap();
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            accounts.push(makeAddr(string.concat("holder", vm.toString(i))));
        }
    }

    // ------------------------------------------------------------------ actions

    /// @notice Time passes, then the relayer publishes the next day with random credits.
    /// @dev Like the relayer (M3), the credits are scaled down to fit the cap and the remaining supply,
    /// except one time in five, when the wave exceeds the tighter limit by one wei and must be refused.
    /// Usually the clock moves past the end of the next day (by up to a day); one time in four it moves
    /// by less than an hour, which may leave the day unfinished.
    function publish(uint256 seed, uint256 advance) external {
        seed = uint256(keccak256(abi.encode(seed)));
        uint64 day = wave.nextDay();
        if (seed % 4 == 0) {
            vm.warp(block.timestamp + bound(advance, 0, 1 hours));
        } else {
            uint256 endOfDay = _endOf(day);
            uint256 now_ = vm.getBlockTimestamp();
            vm.warp((now_ > endOfDay ? now_ : endOfDay) + bound(advance, 0, 1 days));
        }
        _settle();
        (uint256[ACCOUNTS] memory next, uint256 amount) = _nextEntitlements(seed);
        bytes32[] memory tree = _buildTree(next);
        uint256 total = ghostMinted + amount;
        bytes memory expectedError = _expectedPublishError(day, amount, total);
        vm.prank(relayer);
        try wave.publishWave(day, tree[0], amount, keccak256(abi.encode(seed)), total) {
            if (expectedError.length != 0) _unexpected("a wave that breaks a rule was published");
            ++calls_publish;
            ghostMinted = total;
            if (ghostPendingAt == 0) {
                // A new pending run starts (a still-pending root would have been replaced instead).
                ghostPendingFirstDay = day;
                ghostPendingMinted = amount;
            } else {
                ghostPendingMinted += amount;
            }
            for (uint256 i = 0; i < ACCOUNTS; ++i) {
                _pendingEntitled[i] = next[i];
            }
            _pendingTree = tree;
            ghostPendingAt = vm.getBlockTimestamp() + ghostDelay;
            publishedDays.push(day);
            publishedAmounts.push(amount);
            capAtPublication.push(ghostCap);
        } catch (bytes memory err) {
            ++calls_publishRefused;
            if (keccak256(err) != keccak256(expectedError)) {
                _unexpected("a valid wave was refused, or for another reason");
            }
        }
    }

    /// @notice The relayer tries a day other than the next one (already published, or ahead): refused (M4).
    function publishWrongDay(uint64 offset) external {
        uint64 next = wave.nextDay();
        uint64 day;
        if (offset % 2 == 0 && next > 0) {
            day = uint64(bound(offset, 0, next - 1));
        } else {
            day = next + uint64(bound(offset, 1, 10));
        }
        vm.warp(block.timestamp + 11 days); // every candidate day has ended
        vm.prank(relayer);
        try wave.publishWave(day, bytes32(uint256(1)), 0, bytes32(0), ghostMinted) {
            _unexpected("a day was published out of order or twice");
        } catch {}
    }

    /// @notice The guardian revokes the pending root, which must work exactly while one is pending (M6).
    function revoke(uint256 advance) external {
        vm.warp(block.timestamp + bound(advance, 0, 2 hours));
        _settle();
        uint256 supplyBefore = pmc.totalSupply();
        vm.prank(guardian);
        try wave.revokePendingRoot() {
            if (ghostPendingAt == 0) _unexpected("a revocation without a pending root succeeded");
            ++calls_revoke;
            if (supplyBefore - pmc.totalSupply() != ghostPendingMinted) {
                _unexpected("a revocation burnt a wrong amount");
            }
            // Its days leave the books; the current tree stays.
            while (publishedDays.length != 0 && publishedDays[publishedDays.length - 1] >= ghostPendingFirstDay) {
                publishedDays.pop();
                publishedAmounts.pop();
                capAtPublication.pop();
            }
            if (wave.nextDay() != ghostPendingFirstDay) _unexpected("a revocation did not reopen its first day");
            ghostMinted -= ghostPendingMinted;
            ghostRevoked += ghostPendingMinted;
            ghostBurned += supplyBefore - pmc.totalSupply();
            for (uint256 i = 0; i < ACCOUNTS; ++i) {
                _revokedEntitled[i] = _pendingEntitled[i];
            }
            _revokedTree = _pendingTree;
            ghostPendingAt = 0;
            ghostPendingMinted = 0;
        } catch {
            ++calls_revokeRefused;
            if (ghostPendingAt != 0) _unexpected("a pending root could not be revoked");
        }
    }

    /// @notice The admin changes the root delay for roots published later; beyond the maximum it is refused.
    function setDelay(uint256 delay) external {
        delay = bound(delay, 0, MAX_DELAY + 1);
        vm.prank(admin);
        try wave.setRootDelay(delay) {
            if (delay > MAX_DELAY) _unexpected("a delay beyond the maximum was accepted");
            ghostDelay = delay;
            ++calls_setDelay;
        } catch {
            if (delay <= MAX_DELAY) _unexpected("a valid delay was refused");
        }
    }

    /// @notice Someone claims with a proof of the pending root before its delay has passed, or of a
    /// revoked root: it never pays, unless the very same root is the one in force.
    function claimStale(uint256 index, bool revoked) external {
        _settle();
        bytes32[] memory tree = revoked ? _revokedTree : _pendingTree;
        if (tree.length == 0 || (!revoked && ghostPendingAt == 0)) return;
        index = bound(index, 0, ACCOUNTS - 1);
        uint256 amount = revoked ? _revokedEntitled[index] : _pendingEntitled[index];
        bool inForce = _tree.length != 0 && tree[0] == _tree[0];
        uint256 before = pmc.balanceOf(accounts[index]);
        try wave.claim(accounts[index], amount, StandardTree.proof(tree, index)) {
            if (!inForce) _unexpected("a pending or revoked root paid");
            ghostClaimed += pmc.balanceOf(accounts[index]) - before;
        } catch {}
        ++calls_claimStale;
    }

    /// @notice The admin changes the cap for the days not yet published.
    function setCap(uint256 newCap) external {
        newCap = bound(newCap, 0, 3 * MAX_CREDIT);
        vm.prank(admin);
        wave.setDailyCap(newCap);
        ghostCap = newCap;
        ++calls_setCap;
    }

    /// @notice Anyone claims for one account with the current proof.
    function claim(uint256 index) external {
        _settle();
        if (_tree.length == 0) return;
        index = bound(index, 0, ACCOUNTS - 1);
        address account = accounts[index];
        uint256 before = pmc.balanceOf(account);
        uint256 already = wave.claimed(account);
        bytes32[] memory proof = StandardTree.proof(_tree, index);
        try wave.claim(account, _entitled[index], proof) {
            if (ghostPaused || _entitled[index] <= already) {
                _unexpected("a claim paid while paused or with nothing due");
            }
            uint256 received = pmc.balanceOf(account) - before;
            if (received != _entitled[index] - already) _unexpected("a claim paid a wrong amount");
            ghostClaimed += received;
            ++calls_claim;
        } catch {
            if (!ghostPaused && _entitled[index] > already) _unexpected("a valid claim was refused");
        }
    }

    /// @notice The relayer claims for a random subset in one batch.
    function claimMany(uint256 mask) external {
        _settle();
        if (_tree.length == 0) return;
        uint256 n;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            if ((mask >> i) & 1 == 1) ++n;
        }
        address[] memory batch = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32[][] memory proofs = new bytes32[][](n);
        uint256 due;
        uint256 k;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            batch[k] = accounts[i];
            amounts[k] = _entitled[i];
            proofs[k] = StandardTree.proof(_tree, i);
            due += _entitled[i] - wave.claimed(accounts[i]);
            ++k;
        }
        uint256 waveBefore = pmc.balanceOf(address(wave));
        vm.prank(relayer);
        try wave.claimMany(batch, amounts, proofs) returns (uint256 paid) {
            if (ghostPaused) _unexpected("a batch paid while paused");
            if (paid != due || waveBefore - pmc.balanceOf(address(wave)) != due) {
                _unexpected("a batch paid a wrong amount");
            }
            ghostClaimed += paid;
            ++calls_claimMany;
        } catch {
            if (!ghostPaused) _unexpected("a valid batch was refused");
        }
    }

    /// @notice The admin unpauses; or, one time in four, the guardian pauses.
    function togglePause(uint256 seed) external {
        if (!ghostPaused && uint256(keccak256(abi.encode(seed))) % 4 != 0) return;
        if (ghostPaused) {
            vm.prank(admin);
            wave.unpause();
        } else {
            vm.prank(guardian);
            wave.pause();
        }
        ghostPaused = !ghostPaused;
        ++calls_pause;
    }

    /// @notice Holders move their PMC around; sending it to the wave is refused.
    function transfer(uint256 from, uint256 to, uint256 amount) external {
        address sender = accounts[bound(from, 0, ACCOUNTS - 1)];
        address receiver = accounts[bound(to, 0, ACCOUNTS - 1)];
        amount = bound(amount, 0, pmc.balanceOf(sender));
        vm.prank(sender);
        if (!pmc.transfer(receiver, amount)) _unexpected("a transfer returned false");
        vm.prank(sender);
        try pmc.transfer(address(wave), 1) {
            _unexpected("PMC was sent to the wave");
        } catch {}
    }

    // ------------------------------------------------------------------ views for the invariants

    /// @notice `index`'s entitlement in the root in force now (the pending one once its delay passed).
    function entitled(uint256 index) external view returns (uint256) {
        return _pendingMatured() ? _pendingEntitled[index] : _entitled[index];
    }

    /// @notice `index`'s entitlement in the latest published root, pending or not: what was minted for.
    function latestEntitled(uint256 index) external view returns (uint256) {
        return ghostPendingAt != 0 ? _pendingEntitled[index] : _entitled[index];
    }

    /// @notice The root in force now (zero before the first root matures).
    function currentRoot() external view returns (bytes32) {
        if (_pendingMatured()) return _pendingTree[0];
        return _tree.length == 0 ? bytes32(0) : _tree[0];
    }

    /// @notice The pending root, zero when none is pending or its delay has passed.
    function pendingRoot() external view returns (bytes32 root, uint64 firstDay, uint256 claimableAt) {
        if (ghostPendingAt == 0 || _pendingMatured()) return (bytes32(0), 0, 0);
        return (_pendingTree[0], ghostPendingFirstDay, ghostPendingAt);
    }

    function publishedCount() external view returns (uint256) {
        return publishedDays.length;
    }

    // ------------------------------------------------------------------ internals

    function _pendingMatured() internal view returns (bool) {
        return ghostPendingAt != 0 && vm.getBlockTimestamp() >= ghostPendingAt;
    }

    /// @dev A pending tree whose delay has passed becomes the current one (the contract does it lazily).
    function _settle() internal {
        if (!_pendingMatured()) return;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            _entitled[i] = _pendingEntitled[i];
        }
        _tree = _pendingTree;
        ghostPendingAt = 0;
        ghostPendingMinted = 0;
    }

    function _endOf(uint64 day) internal view returns (uint256) {
        return wave.genesis() + (uint256(day) + 1) * 1 days;
    }

    /// @dev Random credits for every account, fitted to the limits (see {publish}), added to the
    /// current entitlements.
    function _nextEntitlements(uint256 seed) internal view returns (uint256[ACCOUNTS] memory next, uint256 amount) {
        uint256[ACCOUNTS] memory credits;
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            credits[i] = r % 4 == 0 ? 0 : (r >> 8) % MAX_CREDIT;
            amount += credits[i];
        }
        uint256 room = maxSupply - ghostMinted;
        uint256 limit = ghostCap < room ? ghostCap : room;
        if (amount > limit) {
            uint256 scaled;
            for (uint256 i = 0; i < ACCOUNTS; ++i) {
                credits[i] = credits[i] * limit / amount;
                scaled += credits[i];
            }
            amount = scaled;
        }
        if ((seed >> 8) % 5 == 0) {
            // One wei beyond the tighter of the cap and the remaining supply.
            credits[0] += limit + 1 - amount;
            amount = limit + 1;
        }
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            next[i] = (ghostPendingAt != 0 ? _pendingEntitled[i] : _entitled[i]) + credits[i];
        }
    }

    /// @dev The error the rules demand for this wave, or empty when it must be accepted.
    function _expectedPublishError(uint64 day, uint256 amount, uint256 total) internal view returns (bytes memory) {
        if (ghostPaused) return abi.encodeWithSelector(MoneyWave.MoneyWaveEnforcedPause.selector);
        if (vm.getBlockTimestamp() < _endOf(day)) {
            return abi.encodeWithSelector(MoneyWave.MoneyWaveDayNotEnded.selector, day, _endOf(day));
        }
        if (amount > ghostCap) {
            return abi.encodeWithSelector(MoneyWave.MoneyWaveDailyCapExceeded.selector, day, amount, ghostCap);
        }
        if (total > maxSupply) return abi.encodeWithSelector(PMC.PMCMaxSupplyExceeded.selector, total, maxSupply);
        return "";
    }

    function _buildTree(uint256[ACCOUNTS] memory amounts) internal view returns (bytes32[] memory) {
        bytes32[] memory leaves = new bytes32[](ACCOUNTS);
        for (uint256 i = 0; i < ACCOUNTS; ++i) {
            leaves[i] = StandardTree.leaf(accounts[i], amounts[i]);
        }
        return StandardTree.build(leaves);
    }

    function _unexpected(string memory what) internal {
        if (unexpected == 0) firstUnexpected = what;
        ++unexpected;
    }
}
