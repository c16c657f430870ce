-- Predictions safe to run in the open (DESIGN.md M2, P2, P5, P6).

-- P6: a proposal (a citizen's user-proposed game) takes part in the hourly pools only once a
-- moderator approved it. An edit of the proposal clears the approval.
ALTER TABLE predictions.games
    ADD COLUMN approved_at TIMESTAMPTZ,
    ADD COLUMN approved_by UUID REFERENCES auth.users (id),
    ADD CONSTRAINT games_approval_complete CHECK ((approved_at IS NULL) = (approved_by IS NULL));
-- P2: the open proposals of a citizen are counted at each new proposal.
CREATE INDEX games_proposals_by_creator ON predictions.games (creator_id)
    WHERE category = 'user_proposed' AND NOT official;
-- M2: user-proposed games that ended are checked for their stakers once an hour.
CREATE INDEX games_user_proposed_by_end ON predictions.games (ends_at) WHERE category = 'user_proposed';

-- M2: the USER_PROPOSED multiplier defaults to 0.5 (unless an admin already set it).
UPDATE predictions.category_multipliers SET multiplier = 0.5
WHERE category = 'user_proposed' AND updated_by IS NULL;

-- M2: the allocations of a game that pays no one (cancelled, or a user-proposed game without
-- enough distinct stakers at its end) return to the day's budget: one release per game, at
-- `released_at`, spread over the hours of that UTC day that start after it.
CREATE TABLE predictions.pool_releases (
    game_id     UUID PRIMARY KEY REFERENCES predictions.games (id),
    reason      TEXT NOT NULL CONSTRAINT pool_releases_reason_known CHECK (reason IN ('cancelled', 'not_qualified')),
    amount      NUMERIC(78, 0) NOT NULL CONSTRAINT pool_releases_amount_positive CHECK (amount > 0),
    released_at TIMESTAMPTZ NOT NULL,
    -- The UTC day of released_at, whose later hours take the amount back.
    day         DATE NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX pool_releases_by_time ON predictions.pool_releases (released_at);
CREATE TRIGGER pool_releases_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON predictions.pool_releases
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();

-- What returned to an hour's pool from releases (part of `amount`).
ALTER TABLE predictions.hourly_pools
    ADD COLUMN returned NUMERIC(78, 0) NOT NULL DEFAULT 0
        CONSTRAINT hourly_pools_returned_within_amount CHECK (returned >= 0 AND returned <= amount);

-- P6: a settlement's dispute window; its credits join waves only after it, and a correction is
-- possible only before it. NULL for settlements made before the window existed (closed).
ALTER TABLE predictions.settlements ADD COLUMN dispute_ends_at TIMESTAMPTZ;
-- P6: what a correction took back from the credits it replaced.
ALTER TABLE predictions.corrections
    ADD COLUMN revoked NUMERIC(78, 0) NOT NULL DEFAULT 0 CONSTRAINT corrections_revoked_non_negative CHECK (revoked >= 0);
-- The credit a won prediction holds now (revoked and cleared when a correction replaces it).
ALTER TABLE predictions.predictions ADD COLUMN credit_id UUID;
