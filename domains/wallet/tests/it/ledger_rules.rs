//! The PMP ledger and the PMC credit ledger through their internal Rust API (E1, E2, E3):
//! exactness, idempotency and the no-negative-balance rule under concurrency, against a real
//! PostgreSQL (a fresh database per test).

// Helpers outside #[test] functions panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::NaiveDate;
use posmul_core::money::{Krw, Pmp, Wei};
use posmul_economy::credits::{self, CreditError, CreditRequest, CreditSource, CreditState};
use posmul_economy::ledger::{
    self, Account, Currency, Entry, KrwEntry, KrwLeg, LedgerError, Leg, Reference, ReferenceKind,
    TransferKind, TransferRequest,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

fn user_transfer(from: Uuid, to: Uuid, amount: i64) -> TransferRequest {
    TransferRequest {
        from: Account::user(from),
        to: Account::user(to),
        amount: Pmp::new(amount),
        kind: TransferKind::UserTransfer,
        reference: Reference {
            kind: ReferenceKind::User,
            id: to,
        },
        idempotency_key: None,
        memo: None,
    }
}

async fn grant(pool: &PgPool, user: Uuid, amount: i64) {
    let mut tx = pool.begin().await.unwrap();
    ledger::grant_signup(&mut tx, user, Pmp::new(amount))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn balance(pool: &PgPool, account: Account) -> i64 {
    ledger::balance(&mut pool.acquire().await.unwrap(), account)
        .await
        .unwrap()
        .get()
}

async fn assert_ledger_exact(pool: &PgPool) {
    let audit = ledger::audit(&mut pool.acquire().await.unwrap())
        .await
        .unwrap();
    assert!(audit.is_exact(), "ledger.check_zero_sum() found {audit:?}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e2_the_signup_grant_is_an_issuance_posting_granted_once(pool: PgPool) {
    let user = Uuid::now_v7();
    grant(&pool, user, 1000).await;
    let mut tx = pool.begin().await.unwrap();
    let again = ledger::grant_signup(&mut tx, user, Pmp::new(1000))
        .await
        .unwrap()
        .expect("a transfer");
    tx.commit().await.unwrap();

    assert!(
        again.replayed,
        "a second grant for the same user is the first one"
    );
    assert_eq!(balance(&pool, Account::user(user)).await, 1000);
    assert_eq!(balance(&pool, Account::ISSUANCE).await, -1000);
    assert_ledger_exact(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_a_transfer_larger_than_the_balance_is_refused_and_writes_nothing(pool: PgPool) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    grant(&pool, a, 10).await;

    let mut tx = pool.begin().await.unwrap();
    let err = ledger::transfer(&mut tx, user_transfer(a, b, 11))
        .await
        .unwrap_err();
    match err {
        LedgerError::InsufficientFunds {
            balance, requested, ..
        } => {
            assert_eq!((balance, requested), (Pmp::new(10), Pmp::new(11)));
        }
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }
    // The transaction is still usable: nothing was written.
    let t = ledger::transfer(&mut tx, user_transfer(a, b, 10))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        t.leg(Account::user(a)).unwrap().balance_after,
        Some(Pmp::new(0))
    );
    assert_eq!(
        t.leg(Account::user(b)).unwrap().balance_after,
        Some(Pmp::new(10))
    );
    assert_eq!(balance(&pool, Account::user(a)).await, 0);
    assert_eq!(balance(&pool, Account::user(b)).await, 10);
    assert_ledger_exact(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_zero_negative_and_self_transfers_are_refused(pool: PgPool) {
    let a = Uuid::now_v7();
    grant(&pool, a, 10).await;
    let mut tx = pool.begin().await.unwrap();
    for amount in [0, -5] {
        let err = ledger::transfer(&mut tx, user_transfer(a, Uuid::now_v7(), amount))
            .await
            .unwrap_err();
        assert!(matches!(err, LedgerError::NonPositiveAmount(_)), "{err:?}");
    }
    let err = ledger::transfer(&mut tx, user_transfer(a, a, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::SameAccount), "{err:?}");
    let unbalanced = Entry {
        legs: vec![
            Leg {
                account: Account::user(a),
                amount: Pmp::new(-3),
            },
            Leg {
                account: Account::BURN,
                amount: Pmp::new(2),
            },
        ],
        kind: TransferKind::StakeSettlement,
        reference: Reference {
            kind: ReferenceKind::Game,
            id: Uuid::now_v7(),
        },
        idempotency_key: None,
        memo: None,
    };
    assert!(matches!(
        ledger::post(&mut tx, unbalanced).await,
        Err(LedgerError::Unbalanced(-1))
    ));
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_the_database_refuses_a_negative_cached_balance_even_without_the_api(pool: PgPool) {
    let a = Uuid::now_v7();
    grant(&pool, a, 5).await;
    let err = sqlx::query!(
        "UPDATE ledger.accounts SET balance = -1 WHERE kind = 'user' AND reference_id = $1",
        a,
    )
    .execute(&pool)
    .await
    .unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.constraint(), Some("accounts_balance_non_negative"));
    // History is append-only.
    let err = sqlx::query!("DELETE FROM ledger.postings")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e2_a_stake_is_locked_in_escrow_refunded_in_full_or_consumed(pool: PgPool) {
    let (alice, bob, game) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    grant(&pool, alice, 100).await;
    grant(&pool, bob, 100).await;
    let mut tx = pool.begin().await.unwrap();
    let escrow = ledger::escrow_account(&mut tx, game).await.unwrap();
    for (user, stake) in [(alice, 30), (bob, 50)] {
        ledger::transfer(
            &mut tx,
            TransferRequest {
                from: Account::user(user),
                to: escrow,
                amount: Pmp::new(stake),
                kind: TransferKind::Stake,
                reference: Reference {
                    kind: ReferenceKind::Game,
                    id: game,
                },
                idempotency_key: Some(format!("stake:{game}:{user}")),
                memo: None,
            },
        )
        .await
        .unwrap();
    }
    // Bob withdraws: a full refund. Alice's stake is consumed at settlement.
    let refund = Entry {
        legs: vec![
            Leg {
                account: escrow,
                amount: Pmp::new(-50),
            },
            Leg {
                account: Account::user(bob),
                amount: Pmp::new(50),
            },
        ],
        kind: TransferKind::StakeRefund,
        reference: Reference {
            kind: ReferenceKind::Game,
            id: game,
        },
        idempotency_key: Some(format!("refund:{game}:{bob}")),
        memo: None,
    };
    ledger::post(&mut tx, refund.clone()).await.unwrap();
    let replay = ledger::post(&mut tx, refund).await.unwrap();
    assert!(replay.replayed);
    ledger::transfer(
        &mut tx,
        TransferRequest {
            from: escrow,
            to: Account::BURN,
            amount: Pmp::new(30),
            kind: TransferKind::StakeSettlement,
            reference: Reference {
                kind: ReferenceKind::Game,
                id: game,
            },
            idempotency_key: Some(format!("settle:{game}")),
            memo: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(balance(&pool, Account::user(alice)).await, 70);
    assert_eq!(balance(&pool, Account::user(bob)).await, 100);
    assert_eq!(balance(&pool, escrow).await, 0);
    assert_eq!(balance(&pool, Account::BURN).await, 30);

    let history = ledger::history(
        &mut pool.acquire().await.unwrap(),
        Account::user(bob),
        None,
        10,
    )
    .await
    .unwrap();
    let kinds: Vec<_> = history
        .iter()
        .map(|h| (h.kind, h.amount.get(), h.counter_account.map(|a| a.kind)))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                TransferKind::StakeRefund,
                50,
                Some(ledger::AccountKind::GameEscrow)
            ),
            (
                TransferKind::Stake,
                -50,
                Some(ledger::AccountKind::GameEscrow)
            ),
            (
                TransferKind::SignupGrant,
                100,
                Some(ledger::AccountKind::Issuance)
            ),
        ]
    );
    assert_eq!(
        history[0].reference,
        Reference {
            kind: ReferenceKind::Game,
            id: game
        }
    );
    assert_eq!(history[0].balance_after, Pmp::new(100));
    assert_ledger_exact(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_internal_idempotency_key_reused_for_different_content_is_a_conflict(pool: PgPool) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    grant(&pool, a, 100).await;
    let keyed = |amount| TransferRequest {
        idempotency_key: Some("event-1".into()),
        ..user_transfer(a, b, amount)
    };
    let mut tx = pool.begin().await.unwrap();
    let first = ledger::transfer(&mut tx, keyed(5)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let again = ledger::transfer(&mut tx, keyed(5)).await.unwrap();
    assert_eq!((again.id, again.replayed), (first.id, true));
    let err = ledger::transfer(&mut tx, keyed(6)).await.unwrap_err();
    assert!(
        matches!(err, LedgerError::IdempotencyConflict { .. }),
        "{err:?}"
    );
    tx.commit().await.unwrap();
    assert_eq!(balance(&pool, Account::user(a)).await, 95);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_500_concurrent_internal_spends_of_1_pmp_against_100_leave_exactly_0(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .max_connections(24)
        .connect_with(connect)
        .await
        .unwrap();
    let (payer, payee) = (Uuid::now_v7(), Uuid::now_v7());
    grant(&pool, payer, 100).await;

    let pool = Arc::new(pool);
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                let mut tx = pool.begin().await?;
                match ledger::transfer(&mut tx, user_transfer(payer, payee, 1)).await {
                    Ok(t) => {
                        tx.commit().await?;
                        Ok::<_, sqlx::Error>(
                            t.leg(Account::user(payer)).and_then(|l| l.balance_after),
                        )
                    }
                    Err(LedgerError::InsufficientFunds { .. }) => Ok(None),
                    Err(other) => panic!("unexpected {other:?}"),
                }
            })
        })
        .collect();
    let mut seen_after = Vec::new();
    for t in tasks {
        if let Some(after) = t.await.unwrap().unwrap() {
            seen_after.push(after.get());
        }
    }
    seen_after.sort_unstable();
    assert_eq!(
        seen_after,
        (0..100).collect::<Vec<i64>>(),
        "exactly 100 spends, each seeing a distinct balance"
    );
    assert_eq!(balance(&pool, Account::user(payer)).await, 0);
    assert_eq!(balance(&pool, Account::user(payee)).await, 100);
    assert_ledger_exact(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_thousands_of_random_concurrent_transfers_keep_the_ledger_zero_sum(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = Arc::new(
        opts.max_connections(16)
            .connect_with(connect)
            .await
            .unwrap(),
    );
    let users: Arc<Vec<Uuid>> = Arc::new((0..12).map(|_| Uuid::now_v7()).collect());
    for u in users.iter() {
        grant(&pool, *u, 500).await;
    }
    // 16 workers × 250 transfers, seeded: random pairs among users and three game escrows
    // (opposite lock orders included), amounts that sometimes exceed the balance, burns mixed in.
    let workers: Vec<_> = (0..16u64)
        .map(|w| {
            let (pool, users) = (Arc::clone(&pool), Arc::clone(&users));
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(0x5EED + w);
                let (mut ok, mut refused) = (0u32, 0u32);
                let pick = |rng: &mut StdRng| match rng.random_range(0..8) {
                    0 => Account::game_escrow(Uuid::from_u128(rng.random_range(1..4))),
                    _ => Account::user(users[rng.random_range(0..users.len())]),
                };
                for _ in 0..250 {
                    let from = pick(&mut rng);
                    let to = if rng.random_range(0..40) == 0 {
                        Account::BURN
                    } else {
                        pick(&mut rng)
                    };
                    if to == from {
                        continue;
                    }
                    let req = TransferRequest {
                        from,
                        to,
                        amount: Pmp::new(rng.random_range(1..80)),
                        kind: TransferKind::Stake,
                        reference: Reference {
                            kind: ReferenceKind::Game,
                            id: Uuid::nil(),
                        },
                        idempotency_key: None,
                        memo: None,
                    };
                    let mut tx = pool.begin().await.unwrap();
                    match ledger::transfer(&mut tx, req).await {
                        Ok(_) => {
                            tx.commit().await.unwrap();
                            ok += 1;
                        }
                        Err(LedgerError::InsufficientFunds { .. }) => refused += 1,
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for w in workers {
        let (o, r) = w.await.unwrap();
        ok += o;
        refused += r;
    }
    assert!(
        ok > 1000 && refused > 0,
        "a real workload: {ok} written, {refused} refused"
    );
    assert_ledger_exact(&pool).await;
    let total =
        sqlx::query_scalar!(r#"SELECT SUM(balance)::BIGINT AS "total!" FROM ledger.accounts"#)
            .fetch_one(&*pool)
            .await
            .unwrap();
    assert_eq!(
        total,
        12 * 500,
        "points are neither created nor lost by transfers"
    );
}

fn credit(user: Uuid, amount: Wei, key: &str) -> CreditRequest {
    CreditRequest {
        user_id: user,
        source: CreditSource::LocalPayment,
        amount,
        day: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        reference: Reference {
            kind: ReferenceKind::Post,
            id: Uuid::from_u128(7),
        },
        idempotency_key: key.to_owned(),
        wave_eligible_at: None,
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e3_a_credit_is_issued_once_per_key_and_posted_double_entry(pool: PgPool) {
    let user = Uuid::now_v7();
    let amount = Wei::parse_pmc("12.345678901234567891").unwrap();
    let mut tx = pool.begin().await.unwrap();
    let first = credits::issue(&mut tx, credit(user, amount, "payment:1"))
        .await
        .unwrap();
    let again = credits::issue(&mut tx, credit(user, amount, "payment:1"))
        .await
        .unwrap();
    let err = credits::issue(&mut tx, credit(user, Wei::from_pmc(1), "payment:1"))
        .await
        .unwrap_err();
    let zero = credits::issue(&mut tx, credit(user, Wei::ZERO, "payment:2"))
        .await
        .unwrap_err();
    tx.commit().await.unwrap();

    assert_eq!(
        (again.id, again.replayed, first.state),
        (first.id, true, CreditState::Pending)
    );
    assert!(
        matches!(err, CreditError::IdempotencyConflict { .. }),
        "{err:?}"
    );
    assert!(matches!(zero, CreditError::ZeroAmount), "{zero:?}");
    let mut conn = pool.acquire().await.unwrap();
    let totals = credits::totals(&mut conn, user).await.unwrap();
    assert_eq!((totals.pending, totals.total), (amount, amount));
    let audit = credits::audit(&mut conn).await.unwrap();
    assert!(audit.is_exact(), "{audit:?}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e3_p6_m8_only_a_pending_credit_no_wave_carries_is_revoked_and_a_revoked_one_joins_no_wave(
    pool: PgPool,
) {
    let user = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO auth.users (id, email) VALUES ($1, 'revoked@example.org')",
        user
    )
    .execute(&pool)
    .await
    .unwrap();
    let address = [0x22_u8; 20];
    sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        &address[..],
        user
    )
    .execute(&pool)
    .await
    .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let later = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let mut tx = pool.begin().await.unwrap();
    let kept = credits::issue(&mut tx, credit(user, Wei::from_pmc(3), "payment:kept"))
        .await
        .unwrap();
    let taken = credits::issue(&mut tx, credit(user, Wei::from_pmc(2), "payment:taken"))
        .await
        .unwrap();
    let in_wave = credits::issue(&mut tx, credit(user, Wei::from_pmc(5), "payment:waved"))
        .await
        .unwrap();
    let split = credits::issue(&mut tx, credit(user, Wei::from_pmc(4), "payment:split"))
        .await
        .unwrap();
    // Wave 0 carries all of one credit and 1 PMC of another (M8: that one stays pending).
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root,
                                    allocation_hash, leaf_count, credit_count)
         VALUES (0, $1, 31337, $2, 'built', $3, $3, $3, $3, $4, $4, 1, 2)",
        day,
        &[0xEE_u8; 20][..],
        Wei::from_pmc(6) as _,
        &[0_u8; 32][..],
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount)
         VALUES ($1, 0, $3, $4), ($2, 0, $3, $5)",
        in_wave.id,
        split.id,
        &address[..],
        Wei::from_pmc(5) as _,
        Wei::from_pmc(1) as _,
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        credits::lifecycle::mark_in_wave(&mut tx, day, &[in_wave.id, split.id])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        credits::revoke(&mut tx, taken.id).await.unwrap(),
        Wei::from_pmc(2)
    );
    let again = credits::revoke(&mut tx, taken.id).await.unwrap_err();
    assert!(
        matches!(
            again,
            CreditError::Irrevocable {
                state: CreditState::Revoked,
                ..
            }
        ),
        "{again:?}"
    );
    let waved = credits::revoke(&mut tx, in_wave.id).await.unwrap_err();
    assert!(
        matches!(
            waved,
            CreditError::Irrevocable {
                state: CreditState::InWave,
                ..
            }
        ),
        "a credit in a wave is irrevocable: {waved:?}"
    );
    let part = credits::revoke(&mut tx, split.id).await.unwrap_err();
    assert!(
        matches!(
            part,
            CreditError::Irrevocable {
                state: CreditState::Pending,
                waved,
                ..
            } if waved == Wei::from_pmc(1)
        ),
        "a pending credit a wave carries in part is irrevocable (M8): {part:?}"
    );
    let candidates = credits::lifecycle::pending_for_wave(&mut tx, day, later)
        .await
        .unwrap();
    assert_eq!(
        candidates
            .iter()
            .map(|c| (c.id, Wei::from_u256(c.amount)))
            .collect::<Vec<_>>(),
        vec![(kept.id, Wei::from_pmc(3)), (split.id, Wei::from_pmc(3))],
        "a revoked credit joins no wave; the split one waits with its rest"
    );
    tx.commit().await.unwrap();

    let mut conn = pool.acquire().await.unwrap();
    let totals = credits::totals(&mut conn, user).await.unwrap();
    assert_eq!(
        (totals.pending, totals.in_wave, totals.total),
        (Wei::from_pmc(6), Wei::from_pmc(6), Wei::from_pmc(12)),
        "the revoked credit counts nowhere"
    );
    let audit = credits::audit(&mut conn).await.unwrap();
    assert!(audit.is_exact(), "E1 holds through a revocation: {audit:?}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m3_p6_a_credit_joins_waves_only_from_its_wave_eligible_time(pool: PgPool) {
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'eligible@example.org')")
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO auth.wallets (address, user_id) VALUES (decode(repeat('33', 20), 'hex'), $1)",
    )
    .bind(user)
    .execute(&pool)
    .await
    .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let eligible = day.and_hms_opt(23, 30, 0).unwrap().and_utc();
    let mut tx = pool.begin().await.unwrap();
    let req = CreditRequest {
        wave_eligible_at: Some(eligible),
        ..credit(user, Wei::from_pmc(1), "prediction:window")
    };
    let issued = credits::issue(&mut tx, req.clone()).await.unwrap();
    assert_eq!(issued.wave_eligible_at, Some(eligible));
    let replay = credits::issue(&mut tx, req.clone()).await.unwrap();
    assert!(replay.replayed);
    let other = credits::issue(
        &mut tx,
        CreditRequest {
            wave_eligible_at: None,
            ..req
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(other, CreditError::IdempotencyConflict { .. }),
        "another eligibility is another credit: {other:?}"
    );
    let before =
        credits::lifecycle::pending_for_wave(&mut tx, day, eligible - chrono::Duration::seconds(1))
            .await
            .unwrap();
    assert!(before.is_empty(), "{before:?}");
    let from = credits::lifecycle::pending_for_wave(&mut tx, day, eligible)
        .await
        .unwrap();
    assert_eq!(from.len(), 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_thousands_of_concurrent_credits_keep_the_credit_ledger_zero_sum(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = Arc::new(
        opts.max_connections(16)
            .connect_with(connect)
            .await
            .unwrap(),
    );
    let users: Arc<Vec<Uuid>> = Arc::new((0..5).map(|_| Uuid::now_v7()).collect());
    // 8 workers × 300 credits over 5 users; keys collide on purpose (each key is issued by two
    // workers), so exactly one credit per key may exist.
    let workers: Vec<_> = (0..8u64)
        .map(|w| {
            let (pool, users) = (Arc::clone(&pool), Arc::clone(&users));
            tokio::spawn(async move {
                let mut expected = Vec::new();
                for i in 0..300u64 {
                    let key_no = (w / 2) * 300 + i;
                    let mut rng = StdRng::seed_from_u64(key_no);
                    let user = users[rng.random_range(0..users.len())];
                    let amount = Wei::from(alloy::primitives::U256::from(
                        rng.random_range(1u128..u128::MAX),
                    ));
                    let mut tx = pool.begin().await.unwrap();
                    let c = credits::issue(&mut tx, credit(user, amount, &format!("k{key_no}")))
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    if !c.replayed {
                        expected.push((user, amount));
                    }
                }
                expected
            })
        })
        .collect();
    let mut written = Vec::new();
    for w in workers {
        written.extend(w.await.unwrap());
    }
    assert_eq!(
        written.len(),
        4 * 300,
        "one credit per key, whatever the race"
    );
    let mut conn = pool.acquire().await.unwrap();
    let audit = credits::audit(&mut conn).await.unwrap();
    assert!(audit.is_exact(), "{audit:?}");
    for u in users.iter() {
        let want = written
            .iter()
            .filter(|(user, _)| user == u)
            .fold(Wei::ZERO, |acc, (_, a)| acc.checked_add(*a).unwrap());
        assert_eq!(credits::totals(&mut conn, *u).await.unwrap().total, want);
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_zero_signup_grant_opens_the_account_without_a_transfer(pool: PgPool) {
    let user = Uuid::now_v7();
    let mut tx = pool.begin().await.unwrap();
    assert!(
        ledger::grant_signup(&mut tx, user, Pmp::new(0))
            .await
            .unwrap()
            .is_none()
    );
    // The account is open: a strict transfer to it is accepted.
    let payer = Uuid::now_v7();
    ledger::grant_signup(&mut tx, payer, Pmp::new(5))
        .await
        .unwrap();
    ledger::transfer_between_open_accounts(&mut tx, user_transfer(payer, user, 5))
        .await
        .unwrap();
    let err =
        ledger::transfer_between_open_accounts(&mut tx, user_transfer(user, Uuid::now_v7(), 1))
            .await
            .unwrap_err();
    assert!(matches!(err, LedgerError::NoSuchAccount(_)), "{err:?}");
    tx.commit().await.unwrap();
    assert_eq!(balance(&pool, Account::user(user)).await, 5);
    assert_ledger_exact(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_e4_krw_moves_in_its_own_currency_and_never_mixes_with_pmp(pool: PgPool) {
    let merchant = Uuid::new_v4();
    let payable = Account::krw_merchant_payable(merchant);
    let clearing = Account::KRW_PROVIDER_CLEARING;
    let payment = Reference {
        kind: ReferenceKind::Payment,
        id: Uuid::new_v4(),
    };
    let capture = || {
        KrwEntry::between(
            clearing,
            payable,
            Krw::new(12_345),
            TransferKind::PaymentCapture,
            payment,
            Some("krw:capture".into()),
        )
        .unwrap()
    };
    let mut tx = pool.begin().await.unwrap();
    // A capture: provider clearing (the one KRW account that may go negative) → the payable;
    // the same key again moves nothing.
    assert!(!ledger::post_krw(&mut tx, capture()).await.unwrap().replayed);
    assert!(ledger::post_krw(&mut tx, capture()).await.unwrap().replayed);
    assert_eq!(
        ledger::balance_krw(&mut tx, payable).await.unwrap(),
        Krw::new(12_345)
    );
    assert_eq!(
        ledger::balance_krw(&mut tx, clearing).await.unwrap(),
        Krw::new(-12_345)
    );
    // No KRW balance goes negative (E1): a refund larger than the payable is refused.
    let too_much = KrwEntry::between(
        payable,
        clearing,
        Krw::new(12_346),
        TransferKind::PaymentRefund,
        payment,
        None,
    )
    .unwrap();
    assert!(matches!(
        ledger::post_krw(&mut tx, too_much).await,
        Err(LedgerError::InsufficientKrw { .. })
    ));
    assert!(matches!(
        KrwEntry::between(
            payable,
            clearing,
            Krw::ZERO,
            TransferKind::PaymentRefund,
            payment,
            None
        ),
        Err(LedgerError::NonPositiveKrw(_))
    ));
    // Currencies never mix: a PMP account in a KRW movement, a KRW account in a PMP one.
    let mixed = KrwEntry {
        legs: vec![
            KrwLeg {
                account: payable,
                amount: Krw::new(-1),
            },
            KrwLeg {
                account: Account::user(merchant),
                amount: Krw::new(1),
            },
        ],
        kind: TransferKind::PaymentRefund,
        reference: payment,
        idempotency_key: None,
        memo: None,
    };
    assert!(matches!(
        ledger::post_krw(&mut tx, mixed).await,
        Err(LedgerError::WrongCurrency { .. })
    ));
    let pmp_from_krw = TransferRequest {
        from: payable,
        ..user_transfer(merchant, merchant, 1)
    };
    assert!(matches!(
        ledger::transfer(&mut tx, pmp_from_krw).await,
        Err(LedgerError::WrongCurrency { .. })
    ));
    assert!(matches!(
        ledger::balance(&mut tx, payable).await,
        Err(LedgerError::WrongCurrency { .. })
    ));
    // PMP beside it: each currency sums to zero on its own.
    ledger::grant_signup(&mut tx, merchant, Pmp::new(1_000))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    assert!(ledger::audit(&mut conn).await.unwrap().is_exact());
    assert_eq!(
        ledger::currency_totals(&mut conn).await.unwrap(),
        vec![(Currency::Krw, 0), (Currency::Pmp, 0)]
    );
    // The proof also catches, without the ledger module, a transfer whose postings sum to zero
    // only across currencies.
    let mut tx = pool.begin().await.unwrap();
    let forged = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO ledger.transfers (id, kind, reference_kind, reference_id) VALUES ($1, 'forged', 'user', $1)",
    )
    .bind(forged)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger.postings (transfer_id, account_id, amount)
         SELECT $1, id, CASE WHEN kind = 'burn' THEN 5 ELSE -5 END FROM ledger.accounts
         WHERE kind IN ('burn', 'krw_refunds')",
    )
    .bind(forged)
    .execute(&mut *tx)
    .await
    .unwrap();
    let caught: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger.unbalanced_transfers WHERE transfer_id = $1",
    )
    .bind(forged)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(caught, 1);
    tx.rollback().await.unwrap();
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_e3_a_debt_is_repaid_once_by_concurrent_credits_and_owed_again_when_they_are_taken_back(
    pool: PgPool,
) {
    use posmul_economy::credits::debts;
    let user = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO auth.users (id, email) VALUES ($1, 'debtor@example.org')",
        user
    )
    .execute(&pool)
    .await
    .unwrap();
    let pmc = |s: &str| Wei::parse_pmc(s).unwrap();
    let refund = Reference {
        kind: ReferenceKind::Payment,
        id: Uuid::from_u128(9),
    };
    let mut tx = pool.begin().await.unwrap();
    assert!(
        debts::incur(&mut tx, user, pmc("5"), "refund:1:debt", refund)
            .await
            .unwrap()
    );
    assert!(
        !debts::incur(&mut tx, user, pmc("5"), "refund:1:debt", refund)
            .await
            .unwrap(),
        "a replayed debt adds nothing"
    );
    tx.commit().await.unwrap();

    // Eight credits of 1 PMC at once: exactly 5 repay the debt, exactly 3 PMC are credited.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let issued = debts::issue(&mut tx, credit(user, pmc("1"), &format!("win:{i}")))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                issued
            })
        })
        .collect();
    let mut repaid = Wei::ZERO;
    let mut credited = Wei::ZERO;
    let mut results = Vec::new();
    for t in tasks {
        let issued = t.await.unwrap();
        results.push(issued.clone());
        repaid = repaid.checked_add(issued.repaid).unwrap();
        if let Some(c) = issued.credit {
            credited = credited.checked_add(c.amount).unwrap();
        }
    }
    assert_eq!(repaid, pmc("5"));
    assert_eq!(credited, pmc("3"));
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        debts::outstanding(&mut conn, user).await.unwrap(),
        Wei::ZERO
    );

    // A replay repays nothing more and returns what the first did.
    let mut tx = pool.begin().await.unwrap();
    let replay = debts::issue(&mut tx, credit(user, pmc("1"), "win:0"))
        .await
        .unwrap();
    assert_eq!(debts::outstanding(&mut tx, user).await.unwrap(), Wei::ZERO);
    assert_eq!(replay.repaid, results[0].repaid);
    assert_eq!(
        replay.credit.map(|c| c.id),
        results[0].credit.as_ref().map(|c| c.id)
    );

    // Those credits taken back (a corrected settlement): what they repaid is owed again, once.
    let wins = credit(user, pmc("1"), "-").reference;
    assert_eq!(
        debts::restore_repayments(&mut tx, user, wins, "correction:1:restore")
            .await
            .unwrap(),
        pmc("5")
    );
    assert_eq!(
        debts::restore_repayments(&mut tx, user, wins, "correction:2:restore")
            .await
            .unwrap(),
        Wei::ZERO
    );
    assert_eq!(debts::outstanding(&mut tx, user).await.unwrap(), pmc("5"));
    tx.commit().await.unwrap();
    assert!(debts::audit(&mut conn).await.unwrap().is_empty());
    assert!(credits::audit(&mut conn).await.unwrap().is_exact());
}
