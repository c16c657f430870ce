//! Explicit crash points for tests.
//!
//! The sender and the publisher call [`Failpoints::hit`] at each step where a crash matters.
//! Unarmed (always, in production) it does nothing. A test arms a step; the next time the code
//! reaches it, the call returns [`crate::Error::Failpoint`] and the relayer stops right there,
//! with whatever it had persisted, exactly as a killed process would. A new relayer then restarts
//! from the database and the chain.

use std::sync::{Arc, Mutex};

/// A point where the relayer may crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wave stored, nothing signed yet.
    BeforeSign,
    /// Signed and recorded, not yet broadcast.
    AfterSignBeforeBroadcast,
    /// Broadcast, receipt not yet seen.
    AfterBroadcastBeforeReceipt,
    /// Receipt seen, database not yet updated.
    AfterReceiptBeforeDbUpdate,
}

/// Armed crash points, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Failpoints(Arc<Mutex<Vec<Step>>>);

impl Failpoints {
    /// Arms `step`: the next time it is reached, it fails once.
    pub fn arm(&self, step: Step) {
        if let Ok(mut armed) = self.0.lock() {
            armed.push(step);
        }
    }

    /// Fails (once) if `step` is armed.
    pub fn hit(&self, step: Step) -> crate::Result<()> {
        let mut armed = match self.0.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        match armed.iter().position(|s| *s == step) {
            Some(i) => {
                armed.remove(i);
                tracing::warn!(?step, "failpoint triggered");
                Err(crate::Error::Failpoint(step))
            }
            None => Ok(()),
        }
    }
}
