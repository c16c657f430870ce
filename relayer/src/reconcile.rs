//! Reconciliation: the chain against the database, for every published day.
//!
//! Checks, each a line in [`Report::problems`] when it fails:
//! 1. every `WavePublished(day)` on chain matches the stored wave (root, amount, allocation hash,
//!    total), and every stored mined/finalized wave has its event; a day revoked by the guardian
//!    (`RootRevoked`, M6) counts as unpublished until a later `WavePublished` publishes it again;
//! 2. a wave's amount equals the sum of its leaves' increments and the sum of its credits;
//! 3. the parts of every credit (`relayer.wave_credits`, M8) cover it exactly once it left
//!    `pending`, the wave of its last part matching its `wave_day`, and fall short of it while it
//!    is pending;
//! 4. MoneyWave holds exactly `totalMinted − totalClaimed` PMC (M5: solvent), and `totalMinted`
//!    equals the last published wave's total.

use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use posmul_core::money::Wei;

use crate::{
    Relayer, Result,
    contracts::{MoneyWave, PMC},
    wave::{self, Status},
};

/// The outcome of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub days_checked: u64,
    pub total_minted: Wei,
    pub total_claimed: Wei,
    pub contract_balance: Wei,
    pub problems: Vec<String>,
}

impl Report {
    /// True when every check holds.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs every check.
#[tracing::instrument(skip_all, err)]
pub async fn reconcile(relayer: &Relayer) -> Result<Report> {
    let pool = &relayer.pool;
    let provider = relayer.provider();
    let mut report = Report::default();
    // In chain order: a later WavePublished of a day replaces an earlier one, and a RootRevoked
    // takes its run's days off (M6) until they are published again.
    let filter = Filter::new()
        .address(relayer.money_wave)
        .event_signature(vec![
            MoneyWave::WavePublished::SIGNATURE_HASH,
            MoneyWave::RootRevoked::SIGNATURE_HASH,
        ])
        .from_block(relayer.deployment_block);
    let mut events = std::collections::BTreeMap::new();
    for log in provider.get_logs(&filter).await? {
        if log.topic0() == Some(&MoneyWave::RootRevoked::SIGNATURE_HASH) {
            match MoneyWave::RootRevoked::decode_log(&log.inner) {
                Ok(e) => events.retain(|day, _| *day < e.data.firstDay),
                Err(e) => report
                    .problems
                    .push(format!("undecodable RootRevoked log: {e}")),
            }
            continue;
        }
        match MoneyWave::WavePublished::decode_log(&log.inner) {
            Ok(e) => {
                events.insert(e.data.day, e.data);
            }
            Err(e) => report
                .problems
                .push(format!("undecodable WavePublished log: {e}")),
        }
    }
    let waves = wave::all(pool).await?;
    let mut last_total = Wei::ZERO;
    for w in &waves {
        let published = matches!(w.status, Status::Mined | Status::Finalized);
        match (events.remove(&w.day), published) {
            (Some(e), true) => {
                report.days_checked += 1;
                last_total = w.total_cumulative;
                if e.root != w.root
                    || e.amount != w.amount.as_u256()
                    || e.allocationHash != w.allocation_hash
                    || e.totalCumulative != w.total_cumulative.as_u256()
                {
                    report.problems.push(format!(
                        "day {}: WavePublished differs from the stored wave",
                        w.day
                    ));
                }
            }
            (Some(_), false) => report.problems.push(format!(
                "day {}: on chain but stored as {}",
                w.day,
                w.status.as_str()
            )),
            (None, true) => report.problems.push(format!(
                "day {}: stored as published but no WavePublished on chain",
                w.day
            )),
            (None, false) => {}
        }
        let sums = sqlx::query!(
            r#"SELECT (SELECT COALESCE(sum(increment), 0) FROM relayer.wave_leaves WHERE day = $1) AS "leaves!: Wei",
                      (SELECT COALESCE(sum(amount), 0) FROM relayer.wave_credits WHERE day = $1) AS "credits!: Wei""#,
            w.day as i64,
        )
        .fetch_one(pool)
        .await?;
        let (leaves, credits) = (sums.leaves, sums.credits);
        if leaves != w.amount || credits != w.amount {
            report.problems.push(format!(
                "day {}: amount {} but leaf increments {} and credits {}",
                w.day, w.amount, leaves, credits
            ));
        }
    }
    for day in events.keys() {
        report
            .problems
            .push(format!("day {day}: on chain but not in the database"));
    }
    let bad_credits = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM credits.credits c
           LEFT JOIN (SELECT credit_id, sum(amount) AS waved, max(day) AS last_day
                      FROM relayer.wave_credits GROUP BY credit_id) p ON p.credit_id = c.id
           LEFT JOIN relayer.waves w ON w.day = p.last_day
           WHERE CASE WHEN c.state = 'pending' THEN COALESCE(p.waved, 0) >= c.amount
                      WHEN c.state = 'revoked' THEN p.waved IS NOT NULL
                      ELSE p.waved IS DISTINCT FROM c.amount OR c.wave_day IS DISTINCT FROM w.date END"#,
    )
    .fetch_one(pool)
    .await?;
    if bad_credits > 0 {
        report.problems.push(format!(
            "{bad_credits} credits are not covered by their parts in waves as their state says"
        ));
    }
    let mw = MoneyWave::new(relayer.money_wave, provider);
    report.total_minted = Wei::from_u256(mw.totalMinted().call().await?);
    report.total_claimed = Wei::from_u256(mw.totalClaimed().call().await?);
    let token = mw.token().call().await?;
    report.contract_balance = Wei::from_u256(
        PMC::new(token, provider)
            .balanceOf(relayer.money_wave)
            .call()
            .await?,
    );
    let owed = report.total_minted.checked_sub(report.total_claimed);
    if owed != Some(report.contract_balance) {
        report.problems.push(format!(
            "MoneyWave holds {} PMC wei but minted − claimed is {:?}",
            report.contract_balance, owed
        ));
    }
    if report.total_minted != last_total {
        report.problems.push(format!(
            "totalMinted {} but the last published wave's total is {}",
            report.total_minted, last_total
        ));
    }
    Ok(report)
}

/// Runs [`reconcile`] and publishes its result as metrics.
pub async fn update_metrics(relayer: &Relayer) -> Result<()> {
    let r = reconcile(relayer).await?;
    metrics::gauge!("posmul_relayer_reconcile_problems").set(r.problems.len() as f64);
    let surplus = r
        .contract_balance
        .saturating_sub(r.total_minted.saturating_sub(r.total_claimed));
    metrics::gauge!("posmul_relayer_contract_surplus_wei").set(f64::from(surplus.as_u256()));
    for p in &r.problems {
        tracing::error!(problem = %p, "reconciliation");
    }
    Ok(())
}
