// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {PMC} from "../PMC.sol";

/// @notice PMC on its own, with an EOA as minter so that every path (including the minter's
/// signatures) can be exercised. E3: PMC is minted only through the wave minter, up to MAX_SUPPLY.
contract PMCTest is Test {
    uint256 internal constant MAX = 1_000_000 ether;
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    bytes32 internal constant DELEGATION_TYPEHASH =
        keccak256("Delegation(address delegatee,uint256 nonce,uint256 expiry)");

    PMC internal pmc;
    address internal minter;
    uint256 internal minterKey;
    address internal alice;
    uint256 internal aliceKey;
    address internal bob = makeAddr("bob");

    function setUp() public {
        (minter, minterKey) = makeAddrAndKey("minter");
        (alice, aliceKey) = makeAddrAndKey("alice");
        vm.warp(1_767_225_600);
        pmc = new PMC(MAX, minter);
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(minter);
        pmc.mint(to, amount);
    }

    // ------------------------------------------------------------------ construction

    function test_E3_metadataAndImmutables() public view {
        assertEq(pmc.name(), "PosMul Coin");
        assertEq(pmc.symbol(), "PMC");
        assertEq(pmc.decimals(), 18);
        assertEq(pmc.MAX_SUPPLY(), MAX);
        assertEq(pmc.minter(), minter);
        assertEq(pmc.totalSupply(), 0);
    }

    function test_E3_constructorRefusesZeroMaxSupply() public {
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCInvalidMaxSupply.selector, 0));
        new PMC(0, minter);
    }

    function test_E3_constructorRefusesMaxSupplyBeyondVotesCheckpoints() public {
        uint256 tooBig = uint256(type(uint208).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCInvalidMaxSupply.selector, tooBig));
        new PMC(tooBig, minter);
    }

    function test_E3_constructorAcceptsTheVotesLimit() public {
        PMC big = new PMC(type(uint208).max, minter);
        assertEq(big.MAX_SUPPLY(), type(uint208).max);
    }

    function test_E3_constructorRefusesZeroMinter() public {
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCInvalidMinter.selector, address(0)));
        new PMC(MAX, address(0));
    }

    // ------------------------------------------------------------------ mint

    function test_E3_minterMints() public {
        vm.expectEmit(address(pmc));
        emit IERC20.Transfer(address(0), alice, 5 ether);
        _mint(alice, 5 ether);
        assertEq(pmc.balanceOf(alice), 5 ether);
        assertEq(pmc.totalSupply(), 5 ether);
    }

    function testFuzz_E3_onlyTheMinterMints(address caller) public {
        vm.assume(caller != minter);
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCUnauthorizedMinter.selector, caller));
        vm.prank(caller);
        pmc.mint(caller, 1);
    }

    function test_E3_mintUpToMaxSupply() public {
        _mint(alice, MAX - 1);
        _mint(bob, 1);
        assertEq(pmc.totalSupply(), MAX);
    }

    function testFuzz_E3_mintBeyondMaxSupplyReverts(uint256 first, uint256 second) public {
        first = bound(first, 0, MAX);
        second = bound(second, MAX - first + 1, MAX * 2);
        _mint(alice, first);
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCMaxSupplyExceeded.selector, first + second, MAX));
        vm.prank(minter);
        pmc.mint(bob, second);
    }

    function test_E3_absurdMintReportsASaturatedSupply() public {
        _mint(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCMaxSupplyExceeded.selector, type(uint256).max, MAX));
        vm.prank(minter);
        pmc.mint(bob, type(uint256).max);
    }

    function test_E3_mintToZeroAddressReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(minter);
        pmc.mint(address(0), 1);
    }

    // ------------------------------------------------------------------ transfers

    function test_E3_transfersArePlain() public {
        _mint(alice, 10 ether);
        vm.prank(alice);
        assertTrue(pmc.transfer(bob, 4 ether));
        assertEq(pmc.balanceOf(alice), 6 ether);
        assertEq(pmc.balanceOf(bob), 4 ether);
    }

    function test_M5_transferToTheMinterIsRefused() public {
        _mint(alice, 10 ether);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, minter));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        pmc.transfer(minter, 1 ether);
    }

    function test_M5_transferFromToTheMinterIsRefused() public {
        _mint(alice, 10 ether);
        vm.prank(alice);
        pmc.approve(bob, 10 ether);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, minter));
        vm.prank(bob);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        pmc.transferFrom(alice, minter, 1 ether);
    }

    function test_M5_theMinterCanMintToItselfAndSend() public {
        _mint(minter, 10 ether);
        vm.prank(minter);
        assertTrue(pmc.transfer(alice, 3 ether));
        assertEq(pmc.balanceOf(minter), 7 ether);
        assertEq(pmc.balanceOf(alice), 3 ether);
    }

    function test_M6_theMinterBurnsItsOwnPmc() public {
        _mint(minter, 10 ether);
        vm.expectEmit(address(pmc));
        emit IERC20.Transfer(minter, address(0), 4 ether);
        vm.prank(minter);
        pmc.burn(4 ether);
        assertEq(pmc.balanceOf(minter), 6 ether);
        assertEq(pmc.totalSupply(), 6 ether);
        // The burnt room under MAX_SUPPLY can be minted again.
        _mint(minter, pmc.MAX_SUPPLY() - 6 ether);
        assertEq(pmc.totalSupply(), pmc.MAX_SUPPLY());
    }

    function test_M6_onlyTheMinterBurns() public {
        _mint(alice, 10 ether);
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCUnauthorizedMinter.selector, alice));
        vm.prank(alice);
        pmc.burn(1 ether);
        assertEq(pmc.balanceOf(alice), 10 ether, "nobody burns, not even their own PMC");
    }

    function test_M6_theMinterCannotBurnMoreThanItHolds() public {
        _mint(minter, 1 ether);
        _mint(alice, 5 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, minter, 1 ether, 2 ether)
        );
        vm.prank(minter);
        pmc.burn(2 ether);
    }

    // ------------------------------------------------------------------ votes (ERC-6372 timestamp clock)

    function test_E3_clockIsTheTimestamp() public {
        assertEq(pmc.clock(), uint48(block.timestamp));
        assertEq(pmc.CLOCK_MODE(), "mode=timestamp");
        vm.warp(block.timestamp + 123);
        assertEq(pmc.clock(), uint48(block.timestamp));
    }

    function test_E3_votesFollowDelegationAndTimestamps() public {
        _mint(alice, 10 ether);
        assertEq(pmc.getVotes(alice), 0);
        vm.prank(alice);
        pmc.delegate(alice);
        assertEq(pmc.delegates(alice), alice);
        assertEq(pmc.getVotes(alice), 10 ether);
        uint256 t0 = block.timestamp;
        vm.warp(t0 + 100);
        vm.prank(alice);
        assertTrue(pmc.transfer(bob, 4 ether));
        assertEq(pmc.getVotes(alice), 6 ether);
        vm.warp(t0 + 200);
        assertEq(pmc.getPastVotes(alice, t0), 10 ether);
        assertEq(pmc.getPastVotes(alice, t0 + 100), 6 ether);
        assertEq(pmc.getPastTotalSupply(t0), 10 ether);
    }

    function test_E3_mintToADelegatedHolderMovesVotes() public {
        vm.prank(alice);
        pmc.delegate(bob);
        _mint(alice, 7 ether);
        assertEq(pmc.getVotes(bob), 7 ether);
    }

    function test_E3_delegateBySigWorks() public {
        _mint(alice, 3 ether);
        uint256 expiry = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signDelegation(aliceKey, bob, 0, expiry);
        pmc.delegateBySig(bob, 0, expiry, v, r, s);
        assertEq(pmc.delegates(alice), bob);
        assertEq(pmc.getVotes(bob), 3 ether);
    }

    function test_M5_theMinterCannotDelegate() public {
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCMinterCannotDelegate.selector, minter));
        vm.prank(minter);
        pmc.delegate(alice);
    }

    function test_M5_theMinterCannotDelegateBySignature() public {
        uint256 expiry = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signDelegation(minterKey, alice, 0, expiry);
        vm.expectRevert(abi.encodeWithSelector(PMC.PMCMinterCannotDelegate.selector, minter));
        pmc.delegateBySig(alice, 0, expiry, v, r, s);
    }

    function test_E3_minterAndZeroAddressHaveNoDelegate() public view {
        assertEq(pmc.delegates(minter), address(0));
        assertEq(pmc.delegates(address(0)), address(0));
    }

    function test_E3_supplyAboveVotesLimitIsImpossible() public {
        PMC big = new PMC(type(uint208).max, minter);
        vm.prank(minter);
        big.mint(alice, type(uint208).max);
        vm.expectRevert(
            abi.encodeWithSelector(PMC.PMCMaxSupplyExceeded.selector, uint256(type(uint208).max) + 1, type(uint208).max)
        );
        vm.prank(minter);
        big.mint(alice, 1);
    }

    // ------------------------------------------------------------------ permit (EIP-2612)

    function testFuzz_E3_permitValid(uint256 value, uint256 ttl) public {
        ttl = bound(ttl, 0, 365 days);
        uint256 deadline = block.timestamp + ttl;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bob, value, 0, deadline);
        pmc.permit(alice, bob, value, deadline, v, r, s);
        assertEq(pmc.allowance(alice, bob), value);
        assertEq(pmc.nonces(alice), 1);
    }

    function testFuzz_E3_permitTamperedValueIsRefused(uint256 value, uint256 other) public {
        vm.assume(value != other);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bob, value, 0, deadline);
        address recovered = _recover(_permitDigest(alice, bob, other, 0, deadline), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, alice));
        pmc.permit(alice, bob, other, deadline, v, r, s);
    }

    function testFuzz_E3_permitTamperedSpenderIsRefused(address spender) public {
        vm.assume(spender != bob);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bob, 1 ether, 0, deadline);
        address recovered = _recover(_permitDigest(alice, spender, 1 ether, 0, deadline), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, alice));
        pmc.permit(alice, spender, 1 ether, deadline, v, r, s);
    }

    function test_E3_permitReplayIsRefused() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bob, 1 ether, 0, deadline);
        pmc.permit(alice, bob, 1 ether, deadline, v, r, s);
        // The nonce moved on, so the same signature now recovers another (random) signer.
        address recovered = _recover(_permitDigest(alice, bob, 1 ether, 1, deadline), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, alice));
        pmc.permit(alice, bob, 1 ether, deadline, v, r, s);
    }

    function testFuzz_E3_permitExpiredIsRefused(uint256 late) public {
        late = bound(late, 1, 365 days);
        uint256 deadline = block.timestamp;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bob, 1 ether, 0, deadline);
        vm.warp(deadline + late);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        pmc.permit(alice, bob, 1 ether, deadline, v, r, s);
    }

    function test_E3_noncesAreShared() public {
        assertEq(pmc.nonces(alice), 0);
        uint256 expiry = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signDelegation(aliceKey, bob, 0, expiry);
        pmc.delegateBySig(bob, 0, expiry, v, r, s);
        assertEq(pmc.nonces(alice), 1);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, alice, 1));
        pmc.delegateBySig(bob, 0, expiry, v, r, s);
    }

    // ------------------------------------------------------------------ helpers

    function _permitDigest(address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", pmc.DOMAIN_SEPARATOR(), structHash));
    }

    function _signPermit(uint256 key, address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        return vm.sign(key, _permitDigest(owner, spender, value, nonce, deadline));
    }

    function _signDelegation(uint256 key, address delegatee, uint256 nonce, uint256 expiry)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(DELEGATION_TYPEHASH, delegatee, nonce, expiry));
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", pmc.DOMAIN_SEPARATOR(), structHash)));
    }

    function _recover(bytes32 digest, uint8 v, bytes32 r, bytes32 s) internal pure returns (address) {
        return ecrecover(digest, v, r, s);
    }
}
