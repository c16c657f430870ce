-- Predictions (DESIGN.md P1-P5, M2, E2): games, options, stakes, hourly Money Wave pools,
-- settlements and their corrections.
--
-- Money never moves here: stakes move PMP through the ledger (user -> game escrow -> burn or back),
-- winnings become PMC credits through `credits.credits`. The columns below only describe games
-- and cache per-option totals, which the API updates in the same transaction as the ledger
-- transfer, under the game's row lock.
CREATE SCHEMA IF NOT EXISTS predictions;

-- The lifecycle status a game's times imply at instant `at` (P3). Settled and cancelled are final;
-- otherwise the times decide, so a read never shows a status its times contradict even when the
-- scheduler has not run yet.
CREATE FUNCTION predictions.effective_status(status TEXT, starts_at TIMESTAMPTZ, ends_at TIMESTAMPTZ, at TIMESTAMPTZ)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN status IN ('settled', 'cancelled') THEN status
        WHEN at >= ends_at THEN 'closed'
        WHEN at >= starts_at THEN 'active'
        ELSE 'created'
    END
$$;

-- Category multipliers of the hourly pool split (M2), set by admins.
CREATE TABLE predictions.category_multipliers (
    category   TEXT PRIMARY KEY
        CONSTRAINT category_multipliers_category_known
        CHECK (category IN ('invest', 'sports', 'politics', 'entertainment', 'user_proposed')),
    multiplier NUMERIC(12, 6) NOT NULL
        CONSTRAINT category_multipliers_range CHECK (multiplier >= 0 AND multiplier <= 1000),
    updated_by UUID,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO predictions.category_multipliers (category, multiplier) VALUES
    ('invest', 1), ('sports', 1), ('politics', 1), ('entertainment', 1), ('user_proposed', 1);

CREATE TABLE predictions.games (
    id               UUID PRIMARY KEY,
    creator_id       UUID NOT NULL REFERENCES auth.users (id),
    -- Created by an admin or moderator (official) or proposed by a citizen (category user_proposed).
    official         BOOLEAN NOT NULL,
    title            TEXT NOT NULL CONSTRAINT games_title_length CHECK (char_length(title) BETWEEN 5 AND 200),
    description      TEXT NOT NULL CONSTRAINT games_description_length CHECK (char_length(description) BETWEEN 20 AND 5000),
    game_type        TEXT NOT NULL CONSTRAINT games_type_known CHECK (game_type IN ('binary', 'win_draw_lose', 'ranking')),
    category         TEXT NOT NULL
        CONSTRAINT games_category_known
        CHECK (category IN ('invest', 'sports', 'politics', 'entertainment', 'user_proposed')),
    subcategory      TEXT CONSTRAINT games_subcategory_length CHECK (char_length(subcategory) <= 100),
    league           TEXT CONSTRAINT games_league_length CHECK (char_length(league) <= 100),
    importance       SMALLINT NOT NULL CONSTRAINT games_importance_range CHECK (importance BETWEEN 1 AND 5),
    min_stake        BIGINT NOT NULL,
    max_stake        BIGINT NOT NULL,
    max_participants INTEGER CONSTRAINT games_max_participants_positive CHECK (max_participants > 0),
    starts_at        TIMESTAMPTZ NOT NULL,
    ends_at          TIMESTAMPTZ NOT NULL,
    settles_at       TIMESTAMPTZ NOT NULL,
    -- The stored status; reads use predictions.effective_status(...) (the scheduler catches up).
    status           TEXT NOT NULL DEFAULT 'created'
        CONSTRAINT games_status_known CHECK (status IN ('created', 'active', 'closed', 'settled', 'cancelled')),
    winning_option   SMALLINT,
    -- Live (not withdrawn) predictions and their stakes, kept with the ledger transfer.
    participants     INTEGER NOT NULL DEFAULT 0 CONSTRAINT games_participants_non_negative CHECK (participants >= 0),
    total_staked     BIGINT NOT NULL DEFAULT 0 CONSTRAINT games_total_staked_non_negative CHECK (total_staked >= 0),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at       TIMESTAMPTZ,
    cancelled_at     TIMESTAMPTZ,
    CONSTRAINT games_stake_range CHECK (1 <= min_stake AND min_stake <= max_stake),
    CONSTRAINT games_times_ordered CHECK (starts_at < ends_at AND ends_at < settles_at),
    CONSTRAINT games_participant_cap CHECK (max_participants IS NULL OR participants <= max_participants),
    CONSTRAINT games_settled_has_winner CHECK ((status = 'settled') = (winning_option IS NOT NULL AND settled_at IS NOT NULL)),
    CONSTRAINT games_cancelled_has_time CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX games_by_category ON predictions.games (category, created_at DESC, id DESC);
CREATE INDEX games_by_time ON predictions.games (created_at DESC, id DESC);
CREATE INDEX games_open ON predictions.games (ends_at) WHERE status IN ('created', 'active');

CREATE TABLE predictions.options (
    game_id      UUID NOT NULL REFERENCES predictions.games (id),
    -- 0-based position; a prediction names its option by position.
    position     SMALLINT NOT NULL CONSTRAINT options_position_range CHECK (position BETWEEN 0 AND 49),
    label        TEXT NOT NULL CONSTRAINT options_label_length CHECK (char_length(label) BETWEEN 1 AND 100),
    total_staked BIGINT NOT NULL DEFAULT 0 CONSTRAINT options_total_non_negative CHECK (total_staked >= 0),
    stakers      INTEGER NOT NULL DEFAULT 0 CONSTRAINT options_stakers_non_negative CHECK (stakers >= 0),
    PRIMARY KEY (game_id, position)
);

CREATE TABLE predictions.predictions (
    id         UUID PRIMARY KEY,
    game_id    UUID NOT NULL REFERENCES predictions.games (id),
    user_id    UUID NOT NULL REFERENCES auth.users (id),
    position   SMALLINT NOT NULL,
    stake      BIGINT NOT NULL CONSTRAINT predictions_stake_positive CHECK (stake > 0),
    -- live -> withdrawn (refunded while ACTIVE) | won | lost (at settlement) | refunded (cancelled)
    status     TEXT NOT NULL DEFAULT 'live'
        CONSTRAINT predictions_status_known CHECK (status IN ('live', 'withdrawn', 'won', 'lost', 'refunded')),
    -- The PMC credited for a win (0 when the share rounded to nothing). A prediction that lost
    -- only after a settlement correction keeps what it was credited (credits are irrevocable).
    credit_wei NUMERIC(78, 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (game_id, position) REFERENCES predictions.options (game_id, position),
    CONSTRAINT predictions_credit_only_when_settled CHECK (credit_wei IS NULL OR status IN ('won', 'lost')),
    CONSTRAINT predictions_winners_have_credit CHECK (status <> 'won' OR credit_wei IS NOT NULL)
);
-- P4: one prediction per user per game (a withdrawn one no longer counts).
CREATE UNIQUE INDEX predictions_one_per_user_game ON predictions.predictions (game_id, user_id)
    WHERE status <> 'withdrawn';
CREATE INDEX predictions_by_user ON predictions.predictions (user_id, created_at DESC, id DESC);
CREATE INDEX predictions_by_game ON predictions.predictions (game_id, created_at DESC, id DESC);

-- HTTP Idempotency-Key of stake placements: the key, the request's hash and the response, written
-- in the same transaction as the stake.
CREATE TABLE predictions.stake_requests (
    user_id       UUID NOT NULL,
    key           TEXT NOT NULL CONSTRAINT stake_requests_key_shape CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash  BYTEA NOT NULL,
    prediction_id UUID NOT NULL,
    response      JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- M2: one row per UTC hour, computed once; its allocations below sum to `allocated`, and
-- allocated + unallocated = amount (an hour without qualifying games allocates nothing).
CREATE TABLE predictions.hourly_pools (
    hour             TIMESTAMPTZ PRIMARY KEY CONSTRAINT hourly_pools_on_the_hour CHECK (date_trunc('hour', hour, 'UTC') = hour),
    day              DATE NOT NULL,
    -- B(d) of the hour's day, and the hour's share of it.
    budget           NUMERIC(78, 0) NOT NULL CONSTRAINT hourly_pools_budget_non_negative CHECK (budget >= 0),
    amount           NUMERIC(78, 0) NOT NULL CONSTRAINT hourly_pools_amount_non_negative CHECK (amount >= 0),
    allocated        NUMERIC(78, 0) NOT NULL CONSTRAINT hourly_pools_allocated_non_negative CHECK (allocated >= 0),
    unallocated      NUMERIC(78, 0) NOT NULL CONSTRAINT hourly_pools_unallocated_non_negative CHECK (unallocated >= 0),
    qualifying_games INTEGER NOT NULL,
    computed_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT hourly_pools_parts_sum CHECK (allocated + unallocated = amount)
);

CREATE TABLE predictions.hourly_allocations (
    hour       TIMESTAMPTZ NOT NULL REFERENCES predictions.hourly_pools (hour),
    game_id    UUID NOT NULL REFERENCES predictions.games (id),
    category   TEXT NOT NULL,
    multiplier NUMERIC(12, 6) NOT NULL,
    amount     NUMERIC(78, 0) NOT NULL CONSTRAINT hourly_allocations_amount_non_negative CHECK (amount >= 0),
    PRIMARY KEY (hour, game_id)
);
CREATE INDEX hourly_allocations_by_game ON predictions.hourly_allocations (game_id);

-- Settlements (P5): one per game, immutable.
CREATE TABLE predictions.settlements (
    game_id         UUID PRIMARY KEY REFERENCES predictions.games (id),
    winning_option  SMALLINT NOT NULL,
    settled_by      UUID NOT NULL REFERENCES auth.users (id),
    settled_at      TIMESTAMPTZ NOT NULL,
    day             DATE NOT NULL,
    pool            NUMERIC(78, 0) NOT NULL,
    -- The credits issued (the pool when someone won, 0 when nobody did: the pool is not minted).
    minted          NUMERIC(78, 0) NOT NULL,
    winning_stakes  BIGINT NOT NULL,
    winners         INTEGER NOT NULL,
    burned_stakes   BIGINT NOT NULL,
    CONSTRAINT settlements_minted_within_pool CHECK (minted <= pool)
);

-- A wrong settlement is corrected by an admin action of its own; every correction is kept.
CREATE TABLE predictions.corrections (
    id              UUID PRIMARY KEY,
    game_id         UUID NOT NULL REFERENCES predictions.settlements (game_id),
    previous_option SMALLINT NOT NULL,
    corrected_option SMALLINT NOT NULL,
    reason          TEXT NOT NULL CONSTRAINT corrections_reason_length CHECK (char_length(reason) BETWEEN 10 AND 1000),
    corrected_by    UUID NOT NULL REFERENCES auth.users (id),
    corrected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Credits issued to predictions that win only under the corrected outcome.
    minted          NUMERIC(78, 0) NOT NULL
);

-- Game events for streams and history: status changes, stakes, withdrawals, settlement.
CREATE TABLE predictions.game_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    game_id    UUID NOT NULL REFERENCES predictions.games (id),
    kind       TEXT NOT NULL,
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX game_events_by_game ON predictions.game_events (game_id, id);

-- Pools, allocations, settlements, corrections and events are history: append-only.
CREATE TRIGGER hourly_pools_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON predictions.hourly_pools
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();
CREATE TRIGGER hourly_allocations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON predictions.hourly_allocations
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();
CREATE TRIGGER settlements_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON predictions.settlements
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();
CREATE TRIGGER corrections_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON predictions.corrections
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();
CREATE TRIGGER game_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON predictions.game_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();

-- A settled or cancelled game never changes again (only its status-independent counters are
-- frozen too): refuse any update of a final row, except the settlement correction's new winner.
CREATE FUNCTION predictions.refuse_final_game_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'cancelled'
       OR (OLD.status = 'settled' AND (NEW.status <> 'settled'
            OR NEW.title <> OLD.title OR NEW.description <> OLD.description
            OR NEW.participants <> OLD.participants OR NEW.total_staked <> OLD.total_staked
            OR NEW.starts_at <> OLD.starts_at OR NEW.ends_at <> OLD.ends_at
            OR NEW.settled_at <> OLD.settled_at
            OR (NEW.winning_option <> OLD.winning_option AND current_setting('predictions.correction', true) IS DISTINCT FROM 'on')))
    THEN
        RAISE EXCEPTION 'game % is final (%)', OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER games_final_is_immutable BEFORE UPDATE ON predictions.games
    FOR EACH ROW EXECUTE FUNCTION predictions.refuse_final_game_change();
