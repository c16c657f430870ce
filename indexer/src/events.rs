//! The events the indexer mirrors, and their decoding from raw logs.
//!
//! The event types are the `sol!` bindings of [`posmul_core::bindings`], generated from the
//! committed ABIs, so a changed event signature fails the build instead of the mirror: PMC's
//! OpenZeppelin ERC20 + ERC20Votes events, MoneyWave's and DonationHub's own, and the
//! AccessControl and Pausable events (same signature on any of the three contracts, decoded
//! through MoneyWave's bindings). A log from another address, or with a signature not listed
//! here (e.g. `Approval`), is not mirrored.

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::Log,
    sol_types::SolEvent,
};
use posmul_core::bindings::{
    DonationHub::{Donated, RecipientSet},
    MoneyWave::{
        Claimed, DailyCapChanged, Paused, RoleGranted, RoleRevoked, RootDelayChanged, RootPending,
        RootRevoked, Unpaused, WavePublished,
    },
    PMC::{DelegateChanged, DelegateVotesChanged, Transfer},
};

use crate::error::{IndexerError, Result};

/// The three contract addresses whose logs are mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contracts {
    pub pmc: Address,
    pub money_wave: Address,
    pub donation_hub: Address,
}

impl Contracts {
    pub fn all(&self) -> [Address; 3] {
        [self.pmc, self.money_wave, self.donation_hub]
    }
}

/// One mirrored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Transfer {
        from: Address,
        to: Address,
        value: U256,
    },
    DelegateChanged {
        delegator: Address,
        from_delegate: Address,
        to_delegate: Address,
    },
    DelegateVotesChanged {
        delegate: Address,
        previous_votes: U256,
        new_votes: U256,
    },
    WavePublished {
        day: u64,
        root: B256,
        amount: U256,
        allocation_hash: B256,
        total_cumulative: U256,
    },
    /// M6: the wave's root waits until `claimable_at` (unix seconds); the guardian may revoke it.
    RootPending {
        day: u64,
        root: B256,
        first_day: u64,
        claimable_at: U256,
    },
    /// M6: days `first_day ..= last_day` were unpublished and `burned` PMC burnt.
    RootRevoked {
        first_day: u64,
        last_day: u64,
        root: B256,
        burned: U256,
        account: Address,
    },
    RootDelayChanged {
        previous_delay: U256,
        new_delay: U256,
    },
    Claimed {
        account: Address,
        amount: U256,
        cumulative_amount: U256,
    },
    DailyCapChanged {
        previous_cap: U256,
        new_cap: U256,
        effective_from_day: u64,
    },
    PauseChanged {
        contract: Address,
        account: Address,
        paused: bool,
    },
    RoleChanged {
        contract: Address,
        role: B256,
        account: Address,
        sender: Address,
        granted: bool,
    },
    RecipientSet {
        id: U256,
        beneficiary: Address,
        kind: u8,
        active: bool,
    },
    Donated {
        recipient_id: U256,
        donor: Address,
        beneficiary: Address,
        amount: U256,
        memo_hash: B256,
    },
}

/// An event with the position it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    pub log_index: u64,
    pub event: Event,
}

fn decode<E: SolEvent>(log: &Log) -> Result<E> {
    E::decode_log_data(&log.inner.data).map_err(|e| IndexerError::Decode {
        event: E::SIGNATURE,
        tx: log
            .transaction_hash
            .map(|h| h.to_string())
            .unwrap_or_default(),
        log_index: log.log_index.unwrap_or_default(),
        reason: e.to_string(),
    })
}

/// Decodes a log of one of `contracts`: `Ok(None)` for events that are not mirrored, an error
/// for a pending log (no block) or a log with a mirrored signature that does not decode.
pub fn decode_log(contracts: &Contracts, log: &Log) -> Result<Option<EventLog>> {
    let Some(&topic0) = log.topics().first() else {
        return Ok(None);
    };
    let address = log.address();
    let event = if address == contracts.pmc {
        match topic0 {
            Transfer::SIGNATURE_HASH => {
                let e: Transfer = decode(log)?;
                Some(Event::Transfer {
                    from: e.from,
                    to: e.to,
                    value: e.value,
                })
            }
            DelegateChanged::SIGNATURE_HASH => {
                let e: DelegateChanged = decode(log)?;
                Some(Event::DelegateChanged {
                    delegator: e.delegator,
                    from_delegate: e.fromDelegate,
                    to_delegate: e.toDelegate,
                })
            }
            DelegateVotesChanged::SIGNATURE_HASH => {
                let e: DelegateVotesChanged = decode(log)?;
                Some(Event::DelegateVotesChanged {
                    delegate: e.delegate,
                    previous_votes: e.previousVotes,
                    new_votes: e.newVotes,
                })
            }
            _ => None,
        }
    } else if address == contracts.money_wave {
        match topic0 {
            WavePublished::SIGNATURE_HASH => {
                let e: WavePublished = decode(log)?;
                Some(Event::WavePublished {
                    day: e.day,
                    root: e.root,
                    amount: e.amount,
                    allocation_hash: e.allocationHash,
                    total_cumulative: e.totalCumulative,
                })
            }
            RootPending::SIGNATURE_HASH => {
                let e: RootPending = decode(log)?;
                Some(Event::RootPending {
                    day: e.day,
                    root: e.root,
                    first_day: e.firstDay,
                    claimable_at: e.claimableAt,
                })
            }
            RootRevoked::SIGNATURE_HASH => {
                let e: RootRevoked = decode(log)?;
                Some(Event::RootRevoked {
                    first_day: e.firstDay,
                    last_day: e.lastDay,
                    root: e.root,
                    burned: e.burned,
                    account: e.account,
                })
            }
            RootDelayChanged::SIGNATURE_HASH => {
                let e: RootDelayChanged = decode(log)?;
                Some(Event::RootDelayChanged {
                    previous_delay: e.previousDelay,
                    new_delay: e.newDelay,
                })
            }
            Claimed::SIGNATURE_HASH => {
                let e: Claimed = decode(log)?;
                Some(Event::Claimed {
                    account: e.account,
                    amount: e.amount,
                    cumulative_amount: e.cumulativeAmount,
                })
            }
            DailyCapChanged::SIGNATURE_HASH => {
                let e: DailyCapChanged = decode(log)?;
                Some(Event::DailyCapChanged {
                    previous_cap: e.previousCap,
                    new_cap: e.newCap,
                    effective_from_day: e.effectiveFromDay,
                })
            }
            _ => None,
        }
    } else if address == contracts.donation_hub {
        match topic0 {
            RecipientSet::SIGNATURE_HASH => {
                let e: RecipientSet = decode(log)?;
                Some(Event::RecipientSet {
                    id: e.id,
                    beneficiary: e.beneficiary,
                    kind: e.kind,
                    active: e.active,
                })
            }
            Donated::SIGNATURE_HASH => {
                let e: Donated = decode(log)?;
                Some(Event::Donated {
                    recipient_id: e.recipientId,
                    donor: e.donor,
                    beneficiary: e.beneficiary,
                    amount: e.amount,
                    memo_hash: e.memoHash,
                })
            }
            _ => None,
        }
    } else {
        return Ok(None);
    };
    let event = match event {
        Some(e) => Some(e),
        None => admin_event(address, topic0, log)?,
    };
    let Some(event) = event else { return Ok(None) };
    match (
        log.block_number,
        log.block_hash,
        log.transaction_hash,
        log.log_index,
    ) {
        (Some(block_number), Some(block_hash), Some(tx_hash), Some(log_index)) if !log.removed => {
            Ok(Some(EventLog {
                block_number,
                block_hash,
                tx_hash,
                log_index,
                event,
            }))
        }
        _ => Err(IndexerError::Inconsistent(
            "eth_getLogs returned a pending or removed log".to_owned(),
        )),
    }
}

fn admin_event(contract: Address, topic0: B256, log: &Log) -> Result<Option<Event>> {
    Ok(match topic0 {
        RoleGranted::SIGNATURE_HASH => {
            let e: RoleGranted = decode(log)?;
            Some(Event::RoleChanged {
                contract,
                role: e.role,
                account: e.account,
                sender: e.sender,
                granted: true,
            })
        }
        RoleRevoked::SIGNATURE_HASH => {
            let e: RoleRevoked = decode(log)?;
            Some(Event::RoleChanged {
                contract,
                role: e.role,
                account: e.account,
                sender: e.sender,
                granted: false,
            })
        }
        Paused::SIGNATURE_HASH => {
            let e: Paused = decode(log)?;
            Some(Event::PauseChanged {
                contract,
                account: e.account,
                paused: true,
            })
        }
        Unpaused::SIGNATURE_HASH => {
            let e: Unpaused = decode(log)?;
            Some(Event::PauseChanged {
                contract,
                account: e.account,
                paused: false,
            })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{LogData, address, b256};

    fn contracts() -> Contracts {
        Contracts {
            pmc: address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            money_wave: address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            donation_hub: address!("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"),
        }
    }

    fn rpc_log(address: Address, data: LogData) -> Log {
        Log {
            inner: alloy::primitives::Log { address, data },
            block_hash: Some(B256::repeat_byte(1)),
            block_number: Some(7),
            block_timestamp: None,
            transaction_hash: Some(B256::repeat_byte(2)),
            transaction_index: Some(0),
            log_index: Some(3),
            removed: false,
        }
    }

    #[test]
    fn a_pmc_transfer_decodes_with_its_position() {
        let t = Transfer {
            from: Address::ZERO,
            to: Address::repeat_byte(9),
            value: U256::from(5),
        };
        let got = decode_log(&contracts(), &rpc_log(contracts().pmc, t.encode_log_data()))
            .expect("decodes")
            .expect("mirrored");
        assert_eq!(
            got.event,
            Event::Transfer {
                from: Address::ZERO,
                to: Address::repeat_byte(9),
                value: U256::from(5)
            }
        );
        assert_eq!((got.block_number, got.log_index), (7, 3));
    }

    #[test]
    fn a_transfer_from_another_contract_is_not_mirrored() {
        let t = Transfer {
            from: Address::ZERO,
            to: Address::repeat_byte(9),
            value: U256::from(5),
        };
        assert_eq!(
            decode_log(
                &contracts(),
                &rpc_log(Address::repeat_byte(4), t.encode_log_data())
            )
            .expect("ok"),
            None
        );
    }

    #[test]
    fn role_changes_are_mirrored_for_every_contract() {
        let role = b256!("0x0000000000000000000000000000000000000000000000000000000000000000");
        let e = RoleGranted {
            role,
            account: Address::repeat_byte(1),
            sender: Address::repeat_byte(2),
        };
        let got = decode_log(
            &contracts(),
            &rpc_log(contracts().donation_hub, e.encode_log_data()),
        )
        .expect("ok")
        .expect("some");
        assert!(matches!(
            got.event,
            Event::RoleChanged { granted: true, .. }
        ));
    }

    #[test]
    fn a_truncated_log_is_an_error_not_a_panic() {
        let mut data = Transfer {
            from: Address::ZERO,
            to: Address::repeat_byte(9),
            value: U256::from(5),
        }
        .encode_log_data();
        data = LogData::new_unchecked(data.topics().to_vec(), Default::default());
        assert!(decode_log(&contracts(), &rpc_log(contracts().pmc, data)).is_err());
    }
}
