#!/usr/bin/env node
// Writes the Merkle fixtures that contracts/test/MerkleCompat.t.sol checks on chain, built with the
// library web clients use, @openzeppelin/merkle-tree (StandardMerkleTree, leaves (address, uint256)).
//
//   node script/merkle-fixture.mjs           # rewrite contracts/test/fixtures/*.json
//   node script/merkle-fixture.mjs --check   # exit 1 when the committed fixtures differ
//
// Fixtures (deterministic, no randomness):
//   merkle-standard.json  a 37-leaf tree built with the library's defaults (leaves sorted by hash),
//                         its `dump()` and every leaf's proof;
//   merkle-100k.json      the 100,000-leaf synthetic tree of the gas test, built with
//                         `sortLeaves: false` so that the Solidity builder (test/utils/StandardTree.sol)
//                         lays it out identically: root, one leaf and its proof.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { keccak256 } from "ethereum-cryptography/keccak.js";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "contracts", "test", "fixtures");
const ENCODING = ["address", "uint256"];
const SALT = 0x504f534dn * 0x10000n + 0x554cn; // "POSMUL", as in StandardTree.syntheticAccount
const WEI = 10n ** 18n;

const word = (n) => n.toString(16).padStart(64, "0");
const toHex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");

/** address(uint160(uint256(keccak256(abi.encode(SALT, i))))) — StandardTree.syntheticAccount(i). */
function syntheticAccount(i) {
  const digest = keccak256(Buffer.from(word(SALT) + word(BigInt(i)), "hex"));
  return toChecksum(toHex(digest.slice(12)));
}

/** (i % 1000 + 1) * 1e15 — StandardTree.syntheticAmount(i). */
function syntheticAmount(i) {
  return BigInt((i % 1000) + 1) * 10n ** 15n;
}

/** EIP-55 checksum, so addresses read the same as in forge's output. */
function toChecksum(address) {
  const lower = address.toLowerCase().slice(2);
  const hash = Buffer.from(keccak256(Buffer.from(lower, "ascii"))).toString("hex");
  let out = "0x";
  for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

function standardFixture() {
  // 37 citizens (an odd count, so the tree is not a perfect one) with realistic PMC entitlements.
  const values = [];
  for (let i = 0; i < 37; i++) {
    const account = toChecksum(toHex(keccak256(Buffer.from(`posmul citizen ${i}`, "utf8")).slice(12)));
    const amount = (BigInt(i + 1) * 1234567n * WEI) / 1000n + BigInt(i); // 1,234.567 PMC × (i + 1) + i wei
    values.push([account, amount.toString()]);
  }
  const tree = StandardMerkleTree.of(values, ENCODING);
  const claims = [];
  for (const [index, [account, amount]] of tree.entries()) {
    claims.push({ account, amount, proof: tree.getProof(index) });
  }
  claims.sort((a, b) => (a.account.toLowerCase() < b.account.toLowerCase() ? -1 : 1));
  const total = values.reduce((sum, [, amount]) => sum + BigInt(amount), 0n);
  return {
    description: "StandardMerkleTree.of(values, ['address','uint256']) with the library's defaults",
    root: tree.root,
    total: total.toString(),
    accounts: claims.map((c) => c.account),
    amounts: claims.map((c) => c.amount),
    proofs: claims.map((c) => c.proof),
    dump: tree.dump(),
  };
}

function bigFixture() {
  const LEAVES = 100_000;
  const INDEX = 4242;
  const values = [];
  for (let i = 0; i < LEAVES; i++) values.push([syntheticAccount(i), syntheticAmount(i).toString()]);
  const tree = StandardMerkleTree.of(values, ENCODING, { sortLeaves: false });
  // With sortLeaves: false, the i-th value is the i-th leaf.
  const proof = tree.getProof(INDEX);
  return {
    description: "100,000 synthetic leaves (StandardTree.syntheticAccount/Amount), sortLeaves: false",
    leaves: LEAVES,
    index: INDEX,
    root: tree.root,
    account: values[INDEX][0],
    amount: values[INDEX][1],
    proof,
  };
}

const files = {
  "merkle-standard.json": standardFixture(),
  "merkle-100k.json": bigFixture(),
};

const check = process.argv.includes("--check");
let stale = false;
mkdirSync(outDir, { recursive: true });
for (const [name, data] of Object.entries(files)) {
  const path = join(outDir, name);
  const text = JSON.stringify(data, null, 2) + "\n";
  if (check) {
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {}
    if (current !== text) {
      console.error(`merkle-fixture: ${path} is stale; run node script/merkle-fixture.mjs`);
      stale = true;
    }
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale ? 1 : 0);
