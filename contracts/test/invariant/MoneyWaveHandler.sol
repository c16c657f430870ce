// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {PMC} from "../../PMC.sol";
import {MoneyWave} from "../../MoneyWave.sol";
import {StandardTree} from "../utils/StandardTree.sol";

/**
 * @title MoneyWaveHandler — random waves, cap changes, claims, pauses and transfers
 * @notice Drives MoneyWave the way the relayer, the admin, the guardian and citizens do, and keeps
 * its own books (ghost variables) to compare with the contracts. Each action also checks its own
 * outcome: an action that must fail and succeeds, or that must succeed and fails, is counted in
 * {unexpected}, which the invariant suite requires to stay zero.
 */
contract MoneyWaveHandler is CommonBase, StdCheats, StdUtils {
    uint256 public constant ACCOUNTS = 6;
    uint256 public constant MAX_CREDIT = 400_000 ether;

    PMC public immutable pmc;
    MoneyWave public immutable wave;
    address public immutable relayer;
    address public immutable admin;
    address public immutable guardian;
    uint256 public immutable maxSupply;

    address[] public accounts;

    // ---- ghosts
    /// @dev Each account's cumulative entitlement in the current root.
    uint256[ACCOUNTS] internal _entitled;
    /// @dev The current tree (leaves in account order).
    bytes32[] internal _tree;
    /// @dev The cap in force, as set by this handler (not read from the contract).
    uint256 public ghostCap;
    /// @dev Sum of the amounts of all successful waves.
    uint256 public ghostMinted;
    /// @dev Sum of what accounts received from claims (measured by their balances).
    uint256 public ghostClaimed;
    /// @dev Days published, in publication order, with the minted amount and the cap at that time.
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
        (uint256[ACCOUNTS] memory next, uint256 amount) = _nextEntitlements(seed);
        bytes32[] memory tree = _buildTree(next);
        uint256 total = ghostMinted + amount;
        bytes memory expectedError = _expectedPublishError(day, amount, total);
        vm.prank(relayer);
        try wave.publishWave(day, tree[0], amount, keccak256(abi.encode(seed)), total) {
            if (expectedError.length != 0) _unexpected("a wave that breaks a rule was published");
            ++calls_publish;
            ghostMinted = total;
            for (uint256 i = 0; i < ACCOUNTS; ++i) {
                _entitled[i] = next[i];
            }
            _tree = tree;
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

    function entitled(uint256 index) external view returns (uint256) {
        return _entitled[index];
    }

    function publishedCount() external view returns (uint256) {
        return publishedDays.length;
    }

    // ------------------------------------------------------------------ internals

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
            next[i] = _entitled[i] + credits[i];
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
