//! Authentication parts every domain uses: the request extractors ([`extract`]), JWT access
//! tokens ([`jwt`]), roles ([`roles`]) and the account's standing ([`standing`]: token version
//! and ban). Sign-in itself (passwords, SIWE, refresh tokens) is
//! the accounts domain's.

pub mod extract;
pub mod jwt;
pub mod roles;
pub mod standing;
