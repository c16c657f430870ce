//! Integration tests of the wallet domain: the PMP ledger over HTTP (E1, E2), the wallet views
//! (E3, U1), claims (M5) and the economy configuration (M1), each against a fresh migrated
//! database and the whole API served on a free port.

mod claims_api;
mod economy_api;
mod ledger_http;
mod ledger_rules;
mod wallet_views;
