//! The economy's health in figures, read from the database for the operators' dashboard and
//! alerts (ops/): the latest wave's emission against B(d) and the cap (M1, M3), credits by
//! state (E3), PMC minted and not yet claimed, MoneyWave's solvency margin (M5: the contract
//! must hold every unclaimed PMC), and the zero-sum proofs of both books (E1).
//!
//! [`snapshot`] asks; [`record`] sets the gauges [`describe`] declares. Every query is an
//! aggregate the tables' indexes serve, except the zero-sum proofs, which read every posting
//! (run them as often as the ledger's size allows: the API's `BUSINESS_METRICS_INTERVAL_SECS`).

use alloy::primitives::Address;
use posmul_core::money::Wei;
use sqlx::PgConnection;

use crate::{codec, credits, ledger};

/// The gauges [`record`] sets, with their help text.
pub const GAUGES: &[(&str, &str)] = &[
    (
        "posmul_economy_wave_day",
        "MoneyWave day of the latest wave the relayer built",
    ),
    (
        "posmul_economy_wave_emission_wei",
        "PMC (wei) the latest wave mints",
    ),
    (
        "posmul_economy_wave_budget_wei",
        "B(d) of the latest wave's day (M1), in wei",
    ),
    (
        "posmul_economy_wave_cap_wei",
        "On-chain daily cap in force when the latest wave was built, in wei",
    ),
    (
        "posmul_economy_wave_published",
        "1 when the latest wave's root is on chain (mined or finalized)",
    ),
    (
        "posmul_economy_credits_wei",
        "PMC credits (wei) by state: pending, in_wave, claimed",
    ),
    (
        "posmul_economy_credits",
        "Number of PMC credits by state: pending, in_wave, claimed",
    ),
    (
        "posmul_economy_minted_wei",
        "PMC (wei) minted by published waves (the chain mirror)",
    ),
    (
        "posmul_economy_claimed_wei",
        "PMC (wei) claimed from MoneyWave (the chain mirror)",
    ),
    (
        "posmul_economy_unclaimed_wei",
        "PMC (wei) minted by waves and not yet claimed",
    ),
    (
        "posmul_economy_money_wave_balance_wei",
        "PMC (wei) MoneyWave holds (the chain mirror)",
    ),
    (
        "posmul_economy_solvency_margin_wei",
        "MoneyWave's PMC minus the unclaimed PMC (wei); below 0 the contract cannot pay every claim",
    ),
    (
        "posmul_economy_zero_sum_ok",
        "1 while the book's postings sum to zero with no unbalanced entry or balance mismatch (E1), by book: pmp, credits",
    ),
    (
        "posmul_economy_zero_sum_violations",
        "Unbalanced entries + cached-balance mismatches + negative balances (+1 for a non-zero sum), by book",
    ),
];

/// The latest wave the relayer built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestWave {
    pub day: u64,
    pub emission: Wei,
    pub budget: Wei,
    pub cap: Wei,
    /// Its root is on chain (`mined` or `finalized`).
    pub published: bool,
    pub money_wave: Address,
}

/// Count and sum of the credits in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditFigures {
    pub count: i64,
    pub wei: Wei,
}

/// The economy's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EconomyHealth {
    pub latest_wave: Option<LatestWave>,
    /// Not yet in a wave (a split credit's rest included).
    pub pending: CreditFigures,
    /// In a wave, not claimed (a split credit's parts in waves included; counted with pending).
    pub in_wave: CreditFigures,
    pub claimed: CreditFigures,
    /// Minted by `WavePublished` and claimed by `Claimed`, on the chain mirror.
    pub minted: Wei,
    pub claimed_on_chain: Wei,
    /// MoneyWave's PMC balance on the mirror (zero before the first wave).
    pub money_wave_balance: Wei,
    pub pmp_audit: ledger::Audit,
    pub credits_audit: credits::Audit,
}

impl EconomyHealth {
    /// Minted − claimed: what MoneyWave owes.
    pub fn unclaimed(&self) -> Wei {
        self.minted.saturating_sub(self.claimed_on_chain)
    }

    /// MoneyWave's balance − what it owes, as (surplus, shortfall): one of them is zero.
    pub fn solvency(&self) -> (Wei, Wei) {
        let owed = self.unclaimed();
        (
            self.money_wave_balance.saturating_sub(owed),
            owed.saturating_sub(self.money_wave_balance),
        )
    }
}

/// Why a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    Credits(#[from] credits::CreditError),
}

/// Reads the economy's figures for `chain_id`.
pub async fn snapshot(
    conn: &mut PgConnection,
    chain_id: u64,
) -> Result<EconomyHealth, HealthError> {
    let chain = chain_id as i64;
    let wave = sqlx::query!(
        r#"SELECT day, status, amount AS "amount: Wei", budget AS "budget: Wei", cap AS "cap: Wei", money_wave
           FROM relayer.waves WHERE chain_id = $1 ORDER BY day DESC LIMIT 1"#,
        chain,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let latest_wave = wave
        .map(|w| {
            Ok::<_, HealthError>(LatestWave {
                day: w.day as u64,
                emission: w.amount,
                budget: w.budget,
                cap: w.cap,
                published: w.status == "mined" || w.status == "finalized",
                money_wave: codec::address(&w.money_wave)?,
            })
        })
        .transpose()?;

    // As `credits::totals`, for everyone: a split credit's parts in waves count as in_wave.
    let c = sqlx::query!(
        r#"SELECT COUNT(*) FILTER (WHERE c.state = 'pending') AS "pending_n!",
                  COALESCE(SUM(c.amount - COALESCE(p.waved, 0)) FILTER (WHERE c.state = 'pending'), 0) AS "pending!: Wei",
                  COUNT(*) FILTER (WHERE c.state = 'in_wave') AS "in_wave_n!",
                  COALESCE(SUM(c.amount) FILTER (WHERE c.state = 'in_wave'), 0)
                    + COALESCE(SUM(p.waved) FILTER (WHERE c.state = 'pending'), 0) AS "in_wave!: Wei",
                  COUNT(*) FILTER (WHERE c.state = 'claimed') AS "claimed_n!",
                  COALESCE(SUM(c.amount) FILTER (WHERE c.state = 'claimed'), 0) AS "claimed!: Wei"
           FROM credits.credits c
           LEFT JOIN LATERAL (SELECT sum(wc.amount) AS waved FROM relayer.wave_credits wc
                              WHERE wc.credit_id = c.id) p ON c.state = 'pending'"#,
    )
    .fetch_one(&mut *conn)
    .await?;

    let money_wave = latest_wave.map(|w| w.money_wave.to_vec());
    let chain_row = sqlx::query!(
        r#"SELECT (SELECT COALESCE(SUM(amount), 0) FROM chain.waves_published WHERE chain_id = $1) AS "minted!: Wei",
                  (SELECT COALESCE(SUM(amount), 0) FROM chain.wave_claims WHERE chain_id = $1) AS "claimed!: Wei",
                  COALESCE((SELECT balance FROM chain.pmc_balances WHERE chain_id = $1 AND address = $2), 0) AS "balance!: Wei""#,
        chain,
        money_wave.as_deref(),
    )
    .fetch_one(&mut *conn)
    .await?;

    let pmp_audit = ledger::audit(&mut *conn).await?;
    let credits_audit = credits::audit(&mut *conn).await?;
    Ok(EconomyHealth {
        latest_wave,
        pending: CreditFigures {
            count: c.pending_n,
            wei: c.pending,
        },
        in_wave: CreditFigures {
            count: c.in_wave_n,
            wei: c.in_wave,
        },
        claimed: CreditFigures {
            count: c.claimed_n,
            wei: c.claimed,
        },
        minted: chain_row.minted,
        claimed_on_chain: chain_row.claimed,
        money_wave_balance: chain_row.balance,
        pmp_audit,
        credits_audit,
    })
}

/// Declares the gauges (help texts) so a scrape documents them.
pub fn describe() {
    for (name, help) in GAUGES {
        metrics::describe_gauge!(*name, *help);
    }
}

/// A gauge holds an f64 (some 16 significant digits): ample for a dashboard and an alert; the
/// exact figures stay in the database.
fn f(w: Wei) -> f64 {
    w.to_string().parse().unwrap_or(f64::MAX)
}

/// Sets the gauges from `h`.
pub fn record(h: &EconomyHealth) {
    if let Some(w) = &h.latest_wave {
        metrics::gauge!("posmul_economy_wave_day").set(w.day as f64);
        metrics::gauge!("posmul_economy_wave_emission_wei").set(f(w.emission));
        metrics::gauge!("posmul_economy_wave_budget_wei").set(f(w.budget));
        metrics::gauge!("posmul_economy_wave_cap_wei").set(f(w.cap));
        metrics::gauge!("posmul_economy_wave_published").set(if w.published { 1.0 } else { 0.0 });
    }
    for (state, c) in [
        ("pending", h.pending),
        ("in_wave", h.in_wave),
        ("claimed", h.claimed),
    ] {
        metrics::gauge!("posmul_economy_credits_wei", "state" => state).set(f(c.wei));
        metrics::gauge!("posmul_economy_credits", "state" => state).set(c.count as f64);
    }
    metrics::gauge!("posmul_economy_minted_wei").set(f(h.minted));
    metrics::gauge!("posmul_economy_claimed_wei").set(f(h.claimed_on_chain));
    metrics::gauge!("posmul_economy_unclaimed_wei").set(f(h.unclaimed()));
    metrics::gauge!("posmul_economy_money_wave_balance_wei").set(f(h.money_wave_balance));
    let (surplus, shortfall) = h.solvency();
    metrics::gauge!("posmul_economy_solvency_margin_wei").set(f(surplus) - f(shortfall));

    let p = &h.pmp_audit;
    let pmp_violations = p.unbalanced_transfers
        + p.balance_mismatches
        + p.negative_balances
        + i64::from(p.postings_sum != 0);
    let c = &h.credits_audit;
    let credit_violations = c.unbalanced_credits
        + c.balance_mismatches
        + c.negative_balances
        + i64::from(c.postings_sum != "0");
    for (book, violations) in [("pmp", pmp_violations), ("credits", credit_violations)] {
        metrics::gauge!("posmul_economy_zero_sum_violations", "book" => book)
            .set(violations as f64);
        metrics::gauge!("posmul_economy_zero_sum_ok", "book" => book).set(if violations == 0 {
            1.0
        } else {
            0.0
        });
    }
}
