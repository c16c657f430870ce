//! Predictions (DESIGN.md P1-P5, M1, M2, E1-E3) against a real PostgreSQL and the whole HTTP
//! API: one module per rule group, every test named after the rule it checks, the set-up in
//! [`support`].

mod support;

/// M1, M2: B(d) and the hourly pools.
mod m2_pools;
/// P1: game types and categories, official games and proposals, lists.
mod p1_types;
/// P2: creation rules and edits while CREATED.
mod p2_creation;
/// P3: the lifecycle by time, the scheduler, cancellation.
mod p3_lifecycle;
/// P4, E1, E2: stakes, withdrawals, idempotency, concurrency.
mod p4_stakes;
/// P5, E3: settlement and corrections.
mod p5_settlement;
/// P2, P6, M2: the hourly pools cannot be taken by spam.
mod p6_pools;
/// P5, P6: settlements no one can bend.
mod p6_settlements;
/// P5: accuracy and leaderboards.
mod rankings;
/// Two API replicas behave as one.
mod replicas;
/// Server-sent event streams.
mod streams;
