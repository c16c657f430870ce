//! The invest domain's tests, each named after the rule it checks (I1, I2, I3, I4, E1, E4).

// Test helpers panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used)]

mod i1_ads;
mod i2_store_credits;
mod i2_stores;
mod i3_funding;
mod i4_payments;
mod i4_providers;
mod support;
