// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;
import {Test} from "forge-std/Test.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract T is ERC20 { constructor() ERC20("a","b") {} }
contract SmokeTest is Test { function test_x() public { T t = new T(); assertEq(t.decimals(), 18); } }
