//! Authentication parts every domain uses: the request extractors ([`extract`]), JWT access
//! tokens ([`jwt`]) and roles ([`roles`]). Sign-in itself (passwords, SIWE, refresh tokens) is
//! the accounts domain's.

pub mod extract;
pub mod jwt;
pub mod roles;
