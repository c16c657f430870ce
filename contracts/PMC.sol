// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Time} from "@openzeppelin/contracts/utils/types/Time.sol";

/**
 * @title PMC — PosMul Coin
 * @notice The PosMul ERC-20 (18 decimals). Citizens receive it only through the daily Money Wave
 * (DESIGN.md M1-M5) and spend it on donations and opinion-leader support (E3, S4).
 *
 * - EIP-2612 {permit} for gasless approvals by wallet-connected clients.
 * - {ERC20Votes} on the ERC-6372 *timestamp* clock, so governance votes can be taken later.
 * - A hard {MAX_SUPPLY} fixed at deployment; the only mint path is {mint}, callable only by the
 *   immutable {minter} (the MoneyWave contract), which may also {burn} its own undistributed PMC
 *   (a revoked wave, M6). No burn of others' tokens, no pause, no admin.
 * - Transfers *to* the minter are refused with {IERC20Errors-ERC20InvalidReceiver}, as transfers to
 *   the zero address are: tokens sent there could never be recovered, and MoneyWave derives its
 *   claimed total from its own balance, which must therefore move only by mints and claims.
 *
 * The minter is a contract that never delegates its votes; PMC enforces that (see {_delegate}) and
 * uses it to skip the delegate look-ups for the minter and the zero address in {delegates}, which
 * makes every wave mint and every claim two cold storage reads cheaper without changing any result.
 */
contract PMC is ERC20, ERC20Permit, ERC20Votes {
    /// @dev Hard cap on {totalSupply}, fixed at deployment.
    uint256 private immutable _maxSupplyCap;
    /// @dev The only account allowed to {mint}: the MoneyWave contract.
    address private immutable _minter;

    /**
     * @dev `caller` is not the minter.
     * @param caller The account that tried to mint.
     */
    error PMCUnauthorizedMinter(address caller);

    /**
     * @dev A mint would take the total supply above {MAX_SUPPLY}.
     * @param supplyAfter The total supply the mint would have produced.
     * @param max The hard cap, {MAX_SUPPLY}.
     */
    error PMCMaxSupplyExceeded(uint256 supplyAfter, uint256 max);

    /**
     * @dev The constructor was given a cap of zero or one above what {ERC20Votes} can checkpoint.
     * @param maxSupply The rejected cap.
     */
    error PMCInvalidMaxSupply(uint256 maxSupply);

    /**
     * @dev The constructor was given the zero address as minter.
     * @param minter The rejected minter.
     */
    error PMCInvalidMinter(address minter);

    /**
     * @dev The minter tried to delegate its votes; it holds undistributed wave tokens and never votes.
     * @param minter The minter.
     */
    error PMCMinterCannotDelegate(address minter);

    /**
     * @param maxSupply_ The hard cap on the total supply, in wei (1 PMC = 1e18 wei). Must be in
     * 1 .. type(uint208).max (the limit of ERC20Votes' checkpoints).
     * @param minter_ The MoneyWave contract; deploy scripts predict its address before it exists.
     */
    constructor(uint256 maxSupply_, address minter_) ERC20("PosMul Coin", "PMC") ERC20Permit("PosMul Coin") {
        if (maxSupply_ == 0 || maxSupply_ > type(uint208).max) revert PMCInvalidMaxSupply(maxSupply_);
        if (minter_ == address(0)) revert PMCInvalidMinter(minter_);
        _maxSupplyCap = maxSupply_;
        _minter = minter_;
    }

    /// @notice The hard cap on {totalSupply}, in wei.
    // solhint-disable-next-line func-name-mixedcase
    function MAX_SUPPLY() external view returns (uint256) {
        return _maxSupplyCap;
    }

    /// @notice The only account allowed to {mint}: the MoneyWave contract.
    function minter() external view returns (address) {
        return _minter;
    }

    /**
     * @notice Mints `amount` new PMC to `to`.
     * @dev Requires the caller to be {minter} and the resulting supply to stay within {MAX_SUPPLY}.
     * Emits {IERC20-Transfer} from the zero address (and {IVotes-DelegateVotesChanged} if `to` delegated).
     * @param to The receiver (MoneyWave mints each wave to itself).
     * @param amount The amount in wei.
     */
    function mint(address to, uint256 amount) external {
        if (msg.sender != _minter) revert PMCUnauthorizedMinter(msg.sender);
        _mint(to, amount);
    }

    /**
     * @notice Burns `amount` of the minter's own PMC.
     * @dev Requires the caller to be {minter}; it burns only its own balance, never anyone else's.
     * MoneyWave uses it when the guardian revokes a pending root (M6): the PMC minted for the revoked
     * days leaves the supply, so the supply stays the sum of the waves in force and those days can be
     * minted again when they are published again. Emits {IERC20-Transfer} to the zero address.
     * @param amount The amount in wei.
     */
    function burn(uint256 amount) external {
        if (msg.sender != _minter) revert PMCUnauthorizedMinter(msg.sender);
        _burn(msg.sender, amount);
    }

    /**
     * @notice The ERC-6372 clock: PMC checkpoints votes by block timestamp.
     * @return The current block timestamp.
     */
    function clock() public view override returns (uint48) {
        return Time.timestamp();
    }

    /**
     * @notice The ERC-6372 clock description.
     * @return "mode=timestamp".
     */
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /**
     * @notice The delegate of `account`.
     * @dev The minter can never delegate ({_delegate} refuses it) and the zero address cannot sign or
     * send, so both always answer the zero address; answering without a storage read is what keeps
     * wave mints and claims cheap. Every other account reads the stored delegate.
     * @param account The account to look up.
     * @return The delegate of `account`, or the zero address when it has not delegated.
     */
    function delegates(address account) public view override returns (address) {
        if (account == _minter || account == address(0)) return address(0);
        return super.delegates(account);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /**
     * @dev Refuses delegation by the minter, which keeps the shortcut in {delegates} exact.
     */
    function _delegate(address account, address delegatee) internal override {
        if (account == _minter) revert PMCMinterCannotDelegate(account);
        super._delegate(account, delegatee);
    }

    /**
     * @dev The single override point for balance changes: enforces {MAX_SUPPLY} on every mint and
     * refuses transfers to the minter, then runs the ERC-20 and voting bookkeeping.
     */
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        if (to == _minter && from != address(0)) revert ERC20InvalidReceiver(to);
        if (from == address(0)) {
            uint256 supply = totalSupply();
            if (value > _maxSupplyCap - supply) {
                // Report the would-be supply, saturated for absurd amounts instead of overflowing.
                uint256 supplyAfter;
                unchecked {
                    supplyAfter = supply + value < supply ? type(uint256).max : supply + value;
                }
                revert PMCMaxSupplyExceeded(supplyAfter, _maxSupplyCap);
            }
        }
        super._update(from, to, value);
    }
}
