//! Integration tests of posmul-indexer, one binary: each test gets its own anvil and its own
//! fresh, migrated database, and checks the mirror against the chain itself.

mod crash;
mod follow;
mod mirror;
mod outage;
mod ranges;
mod reorg;
mod standby;
mod support;
mod tls;
