//! The JSON export of a wave, in the `@openzeppelin/merkle-tree` dump format.

use std::path::{Path, PathBuf};

use posmul_core::merkle::StandardMerkleTree;
use sqlx::PgPool;

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

/// Writes again, from the stored tree, the export of every stored wave whose file is missing:
/// a crash between a wave's build (committed) and its export, or a file lost since, would
/// otherwise leave a published wave without its allocation file. A wave without leaves (nothing
/// allocated yet) has no export. Returns the days rewritten.
pub async fn restore_missing(pool: &PgPool, dir: &Path, chain_id: u64) -> Result<Vec<u64>> {
    let mut rewritten = Vec::new();
    for w in super::all(pool).await? {
        let path = export_path(dir, chain_id, w.day);
        if w.leaf_count == 0 || path.exists() {
            continue;
        }
        let tree = super::load_tree(pool, w.day)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("wave {} has no stored tree", w.day)))?;
        export(dir, chain_id, w.day, &tree)?;
        tracing::warn!(day = w.day, path = %path.display(), "wave export was missing: written again from the stored tree");
        rewritten.push(w.day);
    }
    Ok(rewritten)
}
