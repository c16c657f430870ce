//! The contracts the relayer talks to: the `sol!` bindings of [`posmul_core::bindings`]
//! (generated from the committed ABIs, with bytecode so tests can deploy them), re-exported
//! under the relayer's name for them.

pub use posmul_core::bindings::{MoneyWave, PMC};
