//! # posmul-tests
//!
//! End-to-end tests across chain, indexer, relayer and API.
