//! The JSON export of a wave, in the `@openzeppelin/merkle-tree` dump format.

use std::path::{Path, PathBuf};

use posmul_core::merkle::StandardMerkleTree;

use crate::{Error, Result};

/// The export path of a wave.
pub fn export_path(dir: &Path, chain_id: u64, day: u64) -> PathBuf {
    dir.join(chain_id.to_string())
        .join(format!("wave-{day}.json"))
}

/// Writes the `@openzeppelin/merkle-tree` dump (`StandardMerkleTree.load(json)` reads it).
pub fn export(dir: &Path, chain_id: u64, day: u64, tree: &StandardMerkleTree) -> Result<PathBuf> {
    let path = export_path(dir, chain_id, day);
    let io = |source| Error::Export {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    serde_json::to_writer(std::io::BufWriter::new(file), &tree.dump())
        .map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
