//! Adaptive `eth_getLogs` block ranges.
//!
//! Providers limit log queries by block span (2,000-10,000 blocks) or by result count ("more
//! than 10000 results"). The indexer starts at `BLOCK_RANGE_START` blocks, halves the range when
//! a provider refuses it (see [`is_range_error`]) or when a response holds more than twice
//! `LOGS_PER_REQUEST` logs, and doubles it again after two successive light responses.

/// Provider error texts that mean "ask for less", and the test on them: shared with
/// `posmul_core::rpc`, whose rate-limit retries leave these refusals to the caller.
pub use posmul_core::rpc::{RANGE_ERROR_TEXTS, is_range_error};

/// The current range size and the rules that change it.
#[derive(Debug, Clone)]
pub struct AdaptiveRange {
    size: u64,
    max: u64,
    target_logs: usize,
    light_streak: u32,
}

impl AdaptiveRange {
    pub fn new(start: u64, max: u64, target_logs: usize) -> AdaptiveRange {
        AdaptiveRange {
            size: start.clamp(1, max.max(1)),
            max: max.max(1),
            target_logs: target_logs.max(1),
            light_streak: 0,
        }
    }

    /// Blocks to ask for next.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The provider refused a range: halve.
    pub fn refused(&mut self) {
        self.size = (self.size / 2).max(1);
        self.light_streak = 0;
    }

    /// A range of `asked` blocks returned `logs` logs.
    pub fn answered(&mut self, asked: u64, logs: usize) {
        if logs > 2 * self.target_logs {
            // Heavy: shrink to the span that would have held about `target_logs`.
            let fit = (asked as u128 * self.target_logs as u128 / logs as u128) as u64;
            self.size = fit.clamp(1, (asked.min(self.size) / 2).max(1));
            self.light_streak = 0;
        } else if logs <= self.target_logs / 2 && asked >= self.size {
            self.light_streak += 1;
            if self.light_streak >= 2 {
                self.size = (self.size * 2).min(self.max);
                self.light_streak = 0;
            }
        } else {
            self.light_streak = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_provider_errors_are_recognised() {
        for text in [
            "query returned more than 10000 results",
            "Block range is too large",
            "exceed maximum block range: 2000",
            "Limit Exceeded",
            "response size exceeded",
        ] {
            assert!(is_range_error(text), "{text}");
        }
        assert!(!is_range_error("connection refused"));
    }

    #[test]
    fn a_refusal_halves_and_light_answers_grow_back() {
        let mut r = AdaptiveRange::new(2000, 10_000, 10_000);
        r.refused();
        r.refused();
        assert_eq!(r.size(), 500);
        r.answered(500, 10);
        assert_eq!(r.size(), 500);
        r.answered(500, 10);
        assert_eq!(r.size(), 1000);
        for _ in 0..20 {
            r.answered(r.size(), 0);
        }
        assert_eq!(r.size(), 10_000);
    }

    #[test]
    fn a_heavy_answer_halves_and_the_range_never_reaches_zero() {
        let mut r = AdaptiveRange::new(8, 100, 10);
        r.answered(8, 100);
        assert_eq!(r.size(), 1, "ten logs a block: one block holds the target");
        let mut r = AdaptiveRange::new(2000, 10_000, 10_000);
        r.answered(2000, 1_000_000);
        assert_eq!(r.size(), 20);
        for _ in 0..10 {
            r.refused();
        }
        assert_eq!(r.size(), 1);
    }
}
