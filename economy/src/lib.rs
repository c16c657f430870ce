//! # posmul-economy
//!
//! The money book of PosMul: every rule about who owns how much lives here, once, with one
//! function per question. The API's domains and the relayer call it; neither writes these
//! tables any other way (docs/ARCHITECTURE.md, "Who writes which table").
//!
//! - [`ledger`]: the PMP ledger (E1, E2): accounts, double-entry transfers, holds in escrow,
//!   internal idempotency, history and the zero-sum audit.
//! - [`credits`]: PMC credits (E3, M3, M8) and their whole lifecycle: issued `pending` (joining
//!   waves from its `wave_eligible_at`, P6) → `in_wave` (the relayer's waves carry all of it,
//!   split over days when it is larger than a day's room) → `claimed` (the chain's mirror), see
//!   [`credits::lifecycle`]; or, still pending and in no wave, `revoked` ([`credits::revoke`]).
//! - [`config`]: the versioned economy configuration and the daily budget B(d) (M1).
//! - [`rates`]: the versioned investment rates (PMP per KRW, PMC per KRW, ad views a day) and
//!   the exact conversions from won (I1, I2, I3).
//! - [`wave`]: the read side of Money Wave (M4, M5): the current published wave of a chain, an
//!   account's cumulative entitlement, what it claimed and can claim, its proof.
//! - [`claims`]: the queue of gas-sponsored claims (`claim-for-me`, M5).
//! - [`codec`]: the on-chain ↔ database encodings (address, 32-byte word).
//! - [`health`]: the economy's figures for operators (emission vs B(d) and the cap, credits by
//!   state, unclaimed PMC, MoneyWave's solvency margin, the zero-sum proofs) as gauges.
//!
//! Nothing here talks to a chain or serves a request.

pub mod claims;
pub mod codec;
pub mod config;
pub mod credits;
pub mod health;
pub mod ledger;
pub mod rates;
pub mod wave;
