//! A bounded number of concurrent password hashes (U2).
//!
//! An argon2id hash holds 19 MiB and a CPU for a while. Unbounded, a burst of sign-ins would
//! run up to tokio's 512 blocking threads at once: about 10 GiB, and every other request
//! starved. [`HashGate::run`] takes one of `PASSWORD_HASH_CONCURRENCY` slots (default: the
//! number of CPUs) for the hash's whole run; a request that cannot get one within
//! `PASSWORD_HASH_WAIT_MS` is answered 503 `overloaded` with `Retry-After`. The slot travels
//! into the blocking task, so a request that is cancelled (client gone, timeout) still holds it
//! until its hash really ends.
//!
//! Gauges: `password_hashes_in_flight`; [`HashGate::peak`] is the highest number ever running
//! at once (the tests assert the bound with it).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The hashing slots.
pub struct HashGate {
    slots: Arc<Semaphore>,
    capacity: usize,
    wait: Duration,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl HashGate {
    /// `capacity` hashes at once (at least 1); a caller waits at most `wait` for a slot.
    pub fn new(capacity: usize, wait: Duration) -> Self {
        let capacity = capacity.max(1);
        HashGate {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            wait,
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many hashes may run at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Runs `work` (a hash) on the blocking pool in a slot, or answers 503 after the wait.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| {
                metrics::counter!("password_hash_overloaded_total").increment(1);
                ApiError::Overloaded {
                    retry_after_secs: 1,
                }
            })?
            .map_err(ApiError::internal)?;
        let (in_flight, peak) = (Arc::clone(&self.in_flight), Arc::clone(&self.peak));
        tokio::task::spawn_blocking(move || {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            metrics::gauge!("password_hashes_in_flight").set(now as f64);
            let out = work();
            let now = in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
            metrics::gauge!("password_hashes_in_flight").set(now as f64);
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn u2_no_more_than_capacity_run_and_the_rest_are_told_to_retry() {
        let gate = Arc::new(HashGate::new(2, Duration::from_millis(50)));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let gate = Arc::clone(&gate);
                tokio::spawn(async move {
                    gate.run(|| std::thread::sleep(Duration::from_millis(200)))
                        .await
                })
            })
            .collect();
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => {}
                Err(ApiError::Overloaded { retry_after_secs }) => {
                    assert!(retry_after_secs >= 1);
                    refused += 1;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(gate.peak(), 2);
        assert_eq!(
            refused, 6,
            "two ran; the others waited 50 ms and were refused"
        );
    }
}
