//! The payment state machine (I4): it only moves forward.

use serde::{Deserialize, Serialize};

/// Where a payment is. `failed`, `cancelled` and `refunded` are final.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Exists at the provider; no money has moved.
    Created,
    /// The provider captured it; its amount is in the target account.
    Paid,
    /// The provider could not take the money.
    Failed,
    /// Given up before it was paid.
    Cancelled,
    /// Part of the paid amount was given back.
    PartiallyRefunded,
    /// All of it was given back.
    Refunded,
}

impl PaymentState {
    pub const ALL: [PaymentState; 6] = [
        PaymentState::Created,
        PaymentState::Paid,
        PaymentState::Failed,
        PaymentState::Cancelled,
        PaymentState::PartiallyRefunded,
        PaymentState::Refunded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::Paid => "paid",
            PaymentState::Failed => "failed",
            PaymentState::Cancelled => "cancelled",
            PaymentState::PartiallyRefunded => "partially_refunded",
            PaymentState::Refunded => "refunded",
        }
    }

    /// No move leaves this state.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            PaymentState::Failed | PaymentState::Cancelled | PaymentState::Refunded
        )
    }
}

/// What asking to go from one state to another means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An allowed move forward: do it.
    Move,
    /// Already there (a duplicate): change nothing.
    Stay,
    /// Backwards or sideways (e.g. `paid` after `refunded`): change nothing, note it.
    Refused,
}

/// The one rule of I4: which moves are allowed. A partially refunded payment may be partially
/// refunded again (a larger refunded total; the caller checks the amounts).
pub const fn transition(from: PaymentState, to: PaymentState) -> Step {
    use PaymentState::*;
    match (from, to) {
        (Created, Paid | Failed | Cancelled)
        | (Paid, PartiallyRefunded | Refunded)
        | (PartiallyRefunded, PartiallyRefunded | Refunded) => Step::Move,
        (Created, Created)
        | (Paid, Paid)
        | (Failed, Failed)
        | (Cancelled, Cancelled)
        | (Refunded, Refunded) => Step::Stay,
        _ => Step::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentState::*;
    use super::*;

    /// I4: every pair of states, allowed or refused, spelled out once.
    #[test]
    fn i4_every_pair_of_states_is_allowed_or_refused() {
        let allowed = [
            (Created, Paid),
            (Created, Failed),
            (Created, Cancelled),
            (Paid, PartiallyRefunded),
            (Paid, Refunded),
            (PartiallyRefunded, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        let stays = [
            (Created, Created),
            (Paid, Paid),
            (Failed, Failed),
            (Cancelled, Cancelled),
            (Refunded, Refunded),
        ];
        let mut counted = 0;
        for from in PaymentState::ALL {
            for to in PaymentState::ALL {
                let expected = if allowed.contains(&(from, to)) {
                    Step::Move
                } else if stays.contains(&(from, to)) {
                    Step::Stay
                } else {
                    Step::Refused
                };
                assert_eq!(transition(from, to), expected, "{from:?} -> {to:?}");
                counted += 1;
            }
        }
        assert_eq!(counted, 36);
        // Spot checks of the rule's words: nothing leaves a final state, nothing goes back.
        assert_eq!(transition(Refunded, Paid), Step::Refused);
        assert_eq!(transition(Paid, Created), Step::Refused);
        assert_eq!(transition(Failed, Paid), Step::Refused);
        assert_eq!(transition(Cancelled, Paid), Step::Refused);
        assert_eq!(transition(PartiallyRefunded, Paid), Step::Refused);
        for s in PaymentState::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(
                PaymentState::ALL
                    .into_iter()
                    .all(|t| transition(s, t) != Step::Move),
                "{s:?} is final"
            );
        }
    }
}
