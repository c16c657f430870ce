//! Building wave d (DESIGN.md M3, M4, M8) and storing it before anything is sent.
//!
//! **Which credits.** After day d ends, the candidates are the `pending` credits of day d or
//! earlier (earlier ones were carried over) whose user has a linked wallet, in the order
//! `(day, created_at, id)`, each with what is left of it. The wave may carry at most the
//! *limit*: the on-chain cap for day d, or PMC's remaining supply (`MAX_SUPPLY − totalSupply`)
//! if that is less. Candidates are taken whole in that order while they fit; the first that does
//! not fit whole is split ([`take_within_cap`]): the part that fits fills the wave, and its rest
//! carries over to day d + 1, still first in line, with every candidate after it (no later
//! credit overtakes an earlier one, and a wave is full whenever anything waits). A gauge
//! (`posmul_relayer_credit_carried_wei`), a counter (`posmul_relayer_credits_split_total`) and
//! a log line report the carry-over. Credits of users without a wallet are not candidates: they
//! wait and join the first wave built after the wallet is linked.
//!
//! **Parts.** A credit goes to its user's linked wallet (`auth.wallets`, one per user); each
//! wave's part of it, and the address it went to, is a row of `relayer.wave_credits` (primary
//! key: credit and wave). A credit stays `pending` until its parts cover it, then turns
//! `in_wave` with the `wave_day` of its last part, in the same transaction, through the money
//! book (`posmul_economy::credits::lifecycle`). The database refuses parts beyond a credit, and
//! a credit leaving `pending` without parts that cover it.
//!
//! **Rebuilding.** A wave stored but never published that the chain no longer allows (the cap
//! was lowered, or the supply left is less) is rebuilt by [`rebuild`] once no transaction of it
//! can still be mined (the decision is the publisher's, `crate::publisher`): in one transaction
//! it is recorded in `relayer.wave_rebuilds`, its parts are given back (its credits return to
//! `pending`), its rows deleted, and the day built again within the limit in force.
//!
//! **The allocation.** The cumulative entitlement of an address after wave d is its entitlement
//! after wave d − 1 plus what wave d added; every address ever credited stays in the tree. The
//! wave's `amount` is the sum of its parts (`credit_count` counts them), and `totalCumulative` (the sum of all leaves) equals
//! everything minted through day d, which MoneyWave checks on chain.
//!
//! **allocationHash** (canonical encoding): the leaves sorted by address ascending (byte order),
//! each as 20 address bytes followed by the cumulative amount as a 32-byte big-endian integer,
//! concatenated, then `keccak256` of the whole (`keccak256("")` for an empty allocation):
//! `keccak256(abi.encodePacked(a1, c1, a2, c2, …))` with `a1 < a2 < …`. The JSON export lists the
//! values in that same order, so anyone can recompute both the hash and the root from it.
//!
//! **Empty days.** A day without credits still gets a wave (amount 0, the previous root, or the
//! zero root while nothing was ever allocated).
//!
//! The module is split by concern: `build.rs` decides what wave d holds ([`build()`],
//! [`rebuild`]), `store.rs` writes, reads and discards it in PostgreSQL, `export.rs` writes its
//! JSON dump (and writes it again from the stored tree whenever the file is missing,
//! [`restore_missing`]).

mod build;
mod export;
mod store;

use alloy::primitives::{Address, B256, U256};
use chrono::NaiveDate;
use posmul_core::money::Wei;

use crate::{Error, Result};

pub use build::{
    BuildParams, Candidate, Taken, allocation_hash, build, build_in, next_leaves, rebuild,
    take_within_cap,
};
pub use export::{export, export_path, restore_missing};
pub use store::{
    all, latest, load, load_tree, put_numeric, store_leaves, store_leaves_and_tree, store_tree,
};

/// Where a wave is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Built,
    Submitted,
    Mined,
    Finalized,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Built => "built",
            Status::Submitted => "submitted",
            Status::Mined => "mined",
            Status::Finalized => "finalized",
        }
    }

    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "built" => Status::Built,
            "submitted" => Status::Submitted,
            "mined" => Status::Mined,
            "finalized" => Status::Finalized,
            other => return Err(Error::Corrupt(format!("wave status {other:?}"))),
        })
    }
}

/// A stored wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub day: u64,
    pub date: NaiveDate,
    pub status: Status,
    pub amount: Wei,
    pub total_cumulative: Wei,
    pub cap: Wei,
    pub budget: Wei,
    pub root: B256,
    pub allocation_hash: B256,
    pub leaf_count: u32,
    pub credit_count: u32,
    pub tx_hash: Option<B256>,
    pub block_number: Option<u64>,
    pub block_hash: Option<B256>,
    pub gas_used: Option<u64>,
}

/// One leaf of a wave: an address, its cumulative entitlement, and what this wave added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub address: Address,
    pub cumulative: U256,
    pub increment: U256,
}
