-- One database role per service, each with the least privilege it needs (docs/ARCHITECTURE.md
-- "Who writes which table"; README "Database roles").
--
--   posmul_indexer  writes the chain mirror (chain.*) and nothing else.
--   posmul_relayer  writes its waves, transaction attempts and wave rebuilds; of the credits
--                   only the transitions that are its to make (state, wave_day, claimed_at:
--                   in_wave, the release of a rebuilt wave, claimed; E3, M3, M8); of the claim
--                   queue only a request's progress. It cannot issue a credit or move PMP.
--   posmul_api      writes auth.*, predictions.*, the ledger (E1), issues credits (pending
--                   only), queues claims and sets the economy configuration (M1); it cannot
--                   write the chain mirror, the waves, a credit's state or a claim's progress.
--
-- The migrations run as the database's owner (the role that owns every schema and table, not
-- one of these). The three are NOLOGIN group roles: a deployment makes each service's login
-- user a member (GRANT posmul_api TO <login>), script/dev does so for its own users.
--
-- Roles belong to the whole cluster while grants belong to one database, and `#[sqlx::test]`
-- runs these migrations in many databases at once: a role another database created first (or
-- is creating right now) is fine. An owner without CREATEROLE works when an administrator has
-- created the three roles beforehand.
DO $$
DECLARE
    r TEXT;
BEGIN
    FOREACH r IN ARRAY ARRAY['posmul_api', 'posmul_indexer', 'posmul_relayer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- Nothing is created outside the migrations (PostgreSQL 15 and later already refuse it).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Functions that write run with the caller's rights: only the indexer calls these.
REVOKE EXECUTE ON FUNCTION chain.mark_finalized(BIGINT, BIGINT, BIGINT) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION chain.rollback_above(BIGINT, BIGINT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chain.mark_finalized(BIGINT, BIGINT, BIGINT) TO posmul_indexer;
GRANT EXECUTE ON FUNCTION chain.rollback_above(BIGINT, BIGINT) TO posmul_indexer;

-- Schemas: each role sees the schemas it reads or writes.
GRANT USAGE ON SCHEMA chain TO posmul_indexer, posmul_relayer, posmul_api;
GRANT USAGE ON SCHEMA relayer, credits, auth TO posmul_relayer, posmul_api;
GRANT USAGE ON SCHEMA ledger, predictions TO posmul_api;

-- ── chain: the mirror, written by the indexer only; the others read it.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA chain TO posmul_indexer;
REVOKE INSERT, UPDATE, DELETE ON chain.recipients FROM posmul_indexer;
GRANT SELECT ON ALL TABLES IN SCHEMA chain TO posmul_relayer, posmul_api;

-- ── relayer: the waves and their transactions, written by the relayer; read by the API
--    (economy's wave read side). The claim queue and the economy configuration go through
--    economy: the API queues (claim-for-me) and sets versions (M1), the relayer moves a request
--    through queued → submitted → done.
GRANT SELECT, INSERT, UPDATE, DELETE ON relayer.waves TO posmul_relayer;
GRANT SELECT, INSERT, DELETE ON relayer.wave_credits, relayer.wave_leaves, relayer.wave_trees TO posmul_relayer;
GRANT SELECT, INSERT ON relayer.wave_rebuilds TO posmul_relayer;
GRANT SELECT, INSERT, UPDATE ON relayer.tx_attempts TO posmul_relayer;
GRANT SELECT, UPDATE (status, batch_id, cumulative, tx_hash, error, done_at) ON relayer.claim_requests TO posmul_relayer;
GRANT SELECT ON relayer.economy_config TO posmul_relayer;
GRANT SELECT ON ALL TABLES IN SCHEMA relayer TO posmul_api;
GRANT INSERT ON relayer.claim_requests, relayer.economy_config TO posmul_api;

-- ── credits: the API issues (a pending credit, its postings, the accounts' balances; E1); the
--    relayer only moves a credit's state (in_wave, back to pending after a rebuild, claimed).
GRANT SELECT ON ALL TABLES IN SCHEMA credits TO posmul_relayer, posmul_api;
GRANT UPDATE (state, wave_day, claimed_at) ON credits.credits TO posmul_relayer;
GRANT INSERT ON credits.credits, credits.postings TO posmul_api;
GRANT INSERT, UPDATE (balance) ON credits.accounts TO posmul_api;

-- A settlement's correction revokes the credits it no longer owes (P6, E3): pending ones that no
-- wave carries any part of (M8), reversed by two postings. The API may not write (or lock) a
-- credit itself, so it asks this function, which runs with the owner's rights and makes that one
-- transition and nothing else. `present` false: no such credit; `revoked` NULL: not revocable
-- (`state`, `waved` say why).
CREATE FUNCTION credits.revoke_pending(
    p_id UUID, OUT present BOOLEAN, OUT state TEXT, OUT waved NUMERIC, OUT revoked NUMERIC)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_user UUID;
    v_amount NUMERIC;
BEGIN
    -- Lock first: a relayer building a wave holds its candidates locked until it commits, and
    -- the next statement then sees the parts it wrote.
    SELECT c.state, c.user_id, c.amount INTO state, v_user, v_amount
      FROM credits.credits c WHERE c.id = p_id FOR UPDATE;
    -- The OUT parameter may not be called `found`: it would shadow FOUND.
    present := FOUND;
    IF NOT present THEN
        RETURN;
    END IF;
    SELECT COALESCE(sum(w.amount), 0) INTO waved FROM relayer.wave_credits w WHERE w.credit_id = p_id;
    IF state <> 'pending' OR waved <> 0 THEN
        RETURN;
    END IF;
    UPDATE credits.credits SET state = 'revoked', revoked_at = now() WHERE id = p_id;
    UPDATE credits.accounts SET balance = balance - v_amount WHERE kind = 'user' AND reference_id = v_user;
    INSERT INTO credits.postings (credit_id, account_id, amount)
    SELECT p_id, a.id, CASE WHEN a.kind = 'user' THEN -v_amount ELSE v_amount END
      FROM credits.accounts a
     WHERE (a.kind = 'user' AND a.reference_id = v_user) OR a.kind = 'issuance';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credit % could not be reversed', p_id;
    END IF;
    revoked := v_amount;
END
$$;
REVOKE EXECUTE ON FUNCTION credits.revoke_pending(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credits.revoke_pending(UUID) TO posmul_api;

-- ── ledger: PMP and KRW, moved by the API through economy::ledger (E1); append-only postings
--    and transfers (their triggers refuse rewrites, these grants refuse them too).
GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO posmul_api;
GRANT INSERT, UPDATE (balance) ON ledger.accounts TO posmul_api;
GRANT INSERT ON ledger.transfers, ledger.postings TO posmul_api;
GRANT INSERT, UPDATE (status, response_body) ON ledger.idempotency_keys TO posmul_api;

-- ── auth: the accounts domain (the API). The relayer reads the linked wallets (a credit
--    joins a wave only with one).
GRANT SELECT ON ALL TABLES IN SCHEMA auth TO posmul_api;
GRANT INSERT, UPDATE ON auth.users, auth.password_credentials, auth.refresh_tokens, auth.profiles,
    auth.email_tokens TO posmul_api;
GRANT INSERT, DELETE ON auth.siwe_nonces, auth.user_roles TO posmul_api;
GRANT INSERT ON auth.wallets, auth.audit_log, auth.signup_grants TO posmul_api;
GRANT INSERT, UPDATE (granted) ON auth.signup_grant_days TO posmul_api;
GRANT INSERT, UPDATE, DELETE ON auth.login_throttle TO posmul_api;
GRANT SELECT ON auth.wallets TO posmul_relayer;

-- ── predictions: the predictions domain (the API). Pools, allocations, settlements,
--    corrections and events are append-only.
GRANT SELECT ON ALL TABLES IN SCHEMA predictions TO posmul_api;
GRANT INSERT, UPDATE ON predictions.games, predictions.predictions TO posmul_api;
GRANT INSERT, UPDATE, DELETE ON predictions.options TO posmul_api;
GRANT UPDATE ON predictions.category_multipliers TO posmul_api;
GRANT INSERT ON predictions.hourly_pools, predictions.hourly_allocations, predictions.settlements,
    predictions.corrections, predictions.game_events, predictions.pool_releases TO posmul_api;
