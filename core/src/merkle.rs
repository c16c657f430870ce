//! An OpenZeppelin `StandardMerkleTree` for `(address account, uint256 cumulativeAmount)` leaves.
//!
//! The tree is bit-for-bit the one `@openzeppelin/merkle-tree` (format `standard-v1`) builds for
//! the leaf encoding `["address", "uint256"]`, so a web client or an auditor can rebuild it from
//! the JSON [`Dump`] and check its root against MoneyWave's `currentRoot()`:
//!
//! - leaf hash = `keccak256(bytes.concat(keccak256(abi.encode(account, amount))))`;
//! - an inner node = `keccak256` of its two children in ascending byte order ("sorted pairs"), as
//!   OpenZeppelin's `MerkleProof` verifies;
//! - the leaves are sorted by hash (ties keep their input order, like JavaScript's stable sort)
//!   and laid out as a complete binary tree in an array of `2n - 1` nodes: node `i` has children
//!   `2i + 1` and `2i + 2`, the root is node 0 and the k-th sorted leaf sits at `2n - 2 - k`;
//! - a proof lists the siblings from the leaf up to (not including) the root.
//!
//! Building is linear after the sort: about 3n keccak computations, spread over the available
//! cores for the leaf hashes.

use alloy::primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};

/// The leaf encoding of every PosMul tree, as written into a [`Dump`].
pub const LEAF_ENCODING: [&str; 2] = ["address", "uint256"];

/// The format tag `@openzeppelin/merkle-tree` writes and checks.
pub const DUMP_FORMAT: &str = "standard-v1";

/// A tree that cannot be built or read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerkleError {
    /// OpenZeppelin's library refuses an empty tree; so do we.
    #[error("a Merkle tree needs at least one leaf")]
    Empty,
    /// A dump that is not `standard-v1` with leaf encoding `["address","uint256"]`.
    #[error("unsupported Merkle dump: {0}")]
    UnsupportedDump(String),
    /// A dump whose values or nodes do not form a valid tree.
    #[error("invalid Merkle dump: {0}")]
    InvalidDump(String),
}

/// `keccak256(bytes.concat(keccak256(abi.encode(account, amount))))`.
pub fn leaf_hash(account: Address, amount: U256) -> B256 {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(account.as_slice());
    buf[32..64].copy_from_slice(&amount.to_be_bytes::<32>());
    keccak256(keccak256(buf))
}

/// The hash of two sibling nodes, in ascending order (OpenZeppelin `Hashes.commutativeKeccak256`).
pub fn node_hash(a: &B256, b: &B256) -> B256 {
    let mut buf = [0u8; 64];
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// Recomputes the root from a leaf and its proof.
pub fn process_proof(leaf: B256, proof: &[B256]) -> B256 {
    proof
        .iter()
        .fold(leaf, |acc, sibling| node_hash(&acc, sibling))
}

/// Whether `(account, amount)` with `proof` belongs to the tree with `root`.
pub fn verify(root: B256, account: Address, amount: U256, proof: &[B256]) -> bool {
    process_proof(leaf_hash(account, amount), proof) == root
}

/// The node indices of the proof of node `tree_index`: its sibling, its parent's sibling, … up
/// to (not including) the root. Index arithmetic only, so a proof can be read from a stored node
/// array without loading the whole tree.
pub fn proof_indices(mut tree_index: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(24);
    while tree_index > 0 {
        let sibling = if tree_index % 2 == 1 {
            tree_index + 1
        } else {
            tree_index - 1
        };
        out.push(sibling);
        tree_index = (tree_index - 1) / 2;
    }
    out
}

/// A built tree: the node array, the values in their input order, and where each value sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardMerkleTree {
    nodes: Vec<B256>,
    values: Vec<(Address, U256)>,
    tree_index: Vec<u32>,
}

impl StandardMerkleTree {
    /// Builds the tree of `values` (input order is kept for [`Self::values`] and the dump).
    pub fn build(values: Vec<(Address, U256)>) -> Result<Self, MerkleError> {
        let n = values.len();
        if n == 0 {
            return Err(MerkleError::Empty);
        }
        let hashes = hash_leaves(&values);
        // Sorting (hash, input index) equals JavaScript's stable sort by hash.
        let mut order: Vec<(B256, u32)> = hashes
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, i as u32))
            .collect();
        order.sort_unstable();
        let len = 2 * n - 1;
        let mut nodes = vec![B256::ZERO; len];
        let mut tree_index = vec![0u32; n];
        for (k, (hash, value_index)) in order.into_iter().enumerate() {
            let at = len - 1 - k;
            nodes[at] = hash;
            tree_index[value_index as usize] = at as u32;
        }
        for i in (0..len - n).rev() {
            nodes[i] = node_hash(&nodes[2 * i + 1], &nodes[2 * i + 2]);
        }
        Ok(StandardMerkleTree {
            nodes,
            values,
            tree_index,
        })
    }

    /// The root (node 0).
    pub fn root(&self) -> B256 {
        self.nodes[0]
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The whole node array (root first), as the dump's `tree`.
    pub fn nodes(&self) -> &[B256] {
        &self.nodes
    }

    /// The values in input order.
    pub fn values(&self) -> &[(Address, U256)] {
        &self.values
    }

    /// Where value `value_index` sits in [`Self::nodes`].
    pub fn tree_index(&self, value_index: usize) -> Option<usize> {
        self.tree_index.get(value_index).map(|&i| i as usize)
    }

    /// The proof of value `value_index` (siblings from the leaf up).
    pub fn proof(&self, value_index: usize) -> Option<Vec<B256>> {
        let at = self.tree_index(value_index)?;
        Some(
            proof_indices(at)
                .into_iter()
                .map(|i| self.nodes[i])
                .collect(),
        )
    }

    /// The `@openzeppelin/merkle-tree` dump (`StandardMerkleTree.dump()`), addresses checksummed
    /// and amounts as decimal strings.
    pub fn dump(&self) -> Dump {
        Dump {
            format: DUMP_FORMAT.to_owned(),
            leaf_encoding: LEAF_ENCODING.iter().map(|s| (*s).to_owned()).collect(),
            tree: self.nodes.clone(),
            values: self
                .values
                .iter()
                .zip(&self.tree_index)
                .map(|((a, v), &i)| DumpValue {
                    value: (a.to_checksum(None), v.to_string()),
                    tree_index: i as usize,
                })
                .collect(),
        }
    }

    /// Reads a dump back and checks every node, like `StandardMerkleTree.load(...)`.
    pub fn load(dump: &Dump) -> Result<Self, MerkleError> {
        if dump.format != DUMP_FORMAT {
            return Err(MerkleError::UnsupportedDump(format!(
                "format {:?}",
                dump.format
            )));
        }
        if dump.leaf_encoding != LEAF_ENCODING {
            return Err(MerkleError::UnsupportedDump(format!(
                "leaf encoding {:?}",
                dump.leaf_encoding
            )));
        }
        let n = dump.values.len();
        if n == 0 || dump.tree.len() != 2 * n - 1 {
            return Err(MerkleError::InvalidDump(format!(
                "{} values for {} nodes",
                n,
                dump.tree.len()
            )));
        }
        let mut values = Vec::with_capacity(n);
        let mut tree_index = Vec::with_capacity(n);
        for v in &dump.values {
            let account: Address = v
                .value
                .0
                .parse()
                .map_err(|_| MerkleError::InvalidDump(format!("address {:?}", v.value.0)))?;
            let amount: U256 = v
                .value
                .1
                .parse()
                .map_err(|_| MerkleError::InvalidDump(format!("amount {:?}", v.value.1)))?;
            let leaf = dump
                .tree
                .get(v.tree_index)
                .ok_or_else(|| MerkleError::InvalidDump(format!("tree index {}", v.tree_index)))?;
            if 2 * v.tree_index + 1 < dump.tree.len() || *leaf != leaf_hash(account, amount) {
                return Err(MerkleError::InvalidDump(format!(
                    "leaf at {} does not hold its value",
                    v.tree_index
                )));
            }
            values.push((account, amount));
            tree_index.push(v.tree_index as u32);
        }
        for i in 0..dump.tree.len() - n {
            if dump.tree[i] != node_hash(&dump.tree[2 * i + 1], &dump.tree[2 * i + 2]) {
                return Err(MerkleError::InvalidDump(format!(
                    "node {i} is not the hash of its children"
                )));
            }
        }
        Ok(StandardMerkleTree {
            nodes: dump.tree.clone(),
            values,
            tree_index,
        })
    }
}

/// Hashes the leaves on every available core (at most 8 threads; one for small trees).
fn hash_leaves(values: &[(Address, U256)]) -> Vec<B256> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if values.len() < 4096 || threads == 1 {
        return values.iter().map(|(a, v)| leaf_hash(*a, *v)).collect();
    }
    let mut out = vec![B256::ZERO; values.len()];
    let chunk = values.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (src, dst) in values.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for ((a, v), slot) in src.iter().zip(dst.iter_mut()) {
                    *slot = leaf_hash(*a, *v);
                }
            });
        }
    });
    out
}

/// `StandardMerkleTree.dump()`'s JSON shape (`standard-v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dump {
    pub format: String,
    pub leaf_encoding: Vec<String>,
    pub tree: Vec<B256>,
    pub values: Vec<DumpValue>,
}

/// One value of a [`Dump`]: `[account (EIP-55 checksummed), amount (decimal)]` and its node index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DumpValue {
    pub value: (String, String),
    pub tree_index: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{
        io::Write,
        path::PathBuf,
        process::{Command, Stdio},
    };

    fn addr(i: u64) -> Address {
        Address::from_word(keccak256(i.to_be_bytes()))
    }

    fn sample(n: u64) -> Vec<(Address, U256)> {
        (0..n)
            .map(|i| (addr(i), U256::from(i * 1_000_003 + 7)))
            .collect()
    }

    /// Runs `@openzeppelin/merkle-tree` on `values` and returns its dump and every proof.
    fn openzeppelin(values: &[(Address, U256)]) -> (serde_json::Value, Vec<Vec<B256>>) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let input: Vec<(String, String)> = values
            .iter()
            .map(|(a, v)| (a.to_checksum(None), v.to_string()))
            .collect();
        let script = r#"
            const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
            const values = JSON.parse(require('fs').readFileSync(0, 'utf8'));
            const t = StandardMerkleTree.of(values, ['address', 'uint256']);
            const proofs = values.map((_, i) => t.getProof(i));
            process.stdout.write(JSON.stringify({ dump: t.dump(), proofs }));
        "#;
        let mut child = Command::new("node")
            .current_dir(&root)
            .arg("-e")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs (script/test installs it with node_modules)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&serde_json::to_vec(&input).expect("json"))
            .expect("write to node");
        let out = child.wait_with_output().expect("node output");
        assert!(
            out.status.success(),
            "node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("node prints JSON");
        let proofs = serde_json::from_value(v["proofs"].clone()).expect("proofs");
        (v["dump"].clone(), proofs)
    }

    #[test]
    fn roots_dumps_and_proofs_match_openzeppelin_merkle_tree() {
        for n in [1u64, 2, 3, 4, 5, 7, 8, 9, 16, 31, 100, 1000] {
            let values = sample(n);
            let tree = StandardMerkleTree::build(values.clone()).expect("tree");
            let (dump, proofs) = openzeppelin(&values);
            assert_eq!(
                serde_json::to_value(tree.dump()).expect("json"),
                dump,
                "dump of {n} leaves"
            );
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(tree.proof(i).as_ref(), Some(p), "proof {i} of {n}");
            }
        }
    }

    #[test]
    fn equal_leaves_keep_their_input_order_like_javascript() {
        let a = addr(1);
        let values = vec![
            (a, U256::from(5)),
            (addr(2), U256::from(1)),
            (a, U256::from(5)),
        ];
        let tree = StandardMerkleTree::build(values.clone()).expect("tree");
        let (dump, _) = openzeppelin(&values);
        assert_eq!(serde_json::to_value(tree.dump()).expect("json"), dump);
    }

    #[test]
    fn a_dump_loads_back_and_a_tampered_one_does_not() {
        let tree = StandardMerkleTree::build(sample(10)).expect("tree");
        let mut dump = tree.dump();
        assert_eq!(StandardMerkleTree::load(&dump), Ok(tree));
        dump.values[3].value.1 = "1".to_owned();
        assert!(matches!(
            StandardMerkleTree::load(&dump),
            Err(MerkleError::InvalidDump(_))
        ));
    }

    #[test]
    fn an_empty_tree_is_refused() {
        assert_eq!(StandardMerkleTree::build(vec![]), Err(MerkleError::Empty));
    }

    #[test]
    fn the_parallel_leaf_hashing_equals_the_serial_one() {
        let values = sample(10_000);
        let serial: Vec<B256> = values.iter().map(|(a, v)| leaf_hash(*a, *v)).collect();
        assert_eq!(hash_leaves(&values), serial);
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_a_wrong_amount_does_not(n in 1u64..300, pick in any::<prop::sample::Index>()) {
            let values = sample(n);
            let tree = StandardMerkleTree::build(values.clone()).expect("tree");
            let i = pick.index(values.len());
            let proof = tree.proof(i).expect("proof");
            let (a, v) = values[i];
            prop_assert!(verify(tree.root(), a, v, &proof));
            prop_assert!(!verify(tree.root(), a, v + U256::from(1), &proof));
        }
    }
}
