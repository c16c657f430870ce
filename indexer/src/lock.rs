//! One writer per chain: the indexer's advisory lock ([`posmul_core::service::leader`]).
//!
//! The leader writes on the very connection holding the lock, so losing the connection loses
//! the lock and the writes together; other instances poll as hot standbys and take over when
//! the leader's session ends (crash, kill, network loss).

use posmul_core::service::Election;

/// The advisory lock key of a chain: "posm" in the high 32 bits, the chain id in the low.
pub fn lock_key(chain_id: u64) -> i64 {
    (0x706f_736d_i64 << 32) | (chain_id & 0xffff_ffff) as i64
}

/// The election of the indexer of `chain_id`.
pub fn election(chain_id: u64) -> Election {
    Election::new("indexer", lock_key(chain_id))
}
