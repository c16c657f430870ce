-- Major League: sponsored ads (DESIGN.md I1). Advertisers' campaigns, their fundings (a KRW
-- payment turned into PMP budget at the rate in force, E4) and the views the server measures.
-- The PMP itself lives in the ledger (the campaign's `campaign_budget` account); the campaign
-- row carries what is reserved by views in progress and what was paid, so one conditional
-- UPDATE of that row reserves a view without ever overspending the budget.

-- The platform's KRW revenue (a singleton): what advertisers pay for their budgets. A funding
-- payment's KRW goes there (provider clearing → revenue), its PMP is issued into the budget.
ALTER TABLE ledger.accounts
    DROP CONSTRAINT accounts_kind_known,
    ADD CONSTRAINT accounts_kind_known CHECK (kind IN (
        'user', 'issuance', 'burn', 'game_escrow', 'campaign_budget',
        'krw_provider_clearing', 'krw_escrow', 'krw_merchant_payable', 'krw_refunds',
        'krw_revenue')),
    DROP CONSTRAINT accounts_singletons_have_nil_reference,
    ADD CONSTRAINT accounts_singletons_have_nil_reference
        CHECK ((kind IN ('issuance', 'burn', 'krw_provider_clearing', 'krw_refunds', 'krw_revenue'))
               = (reference_id = '00000000-0000-0000-0000-000000000000'));

INSERT INTO ledger.accounts (kind, reference_id, balance) VALUES
    ('krw_revenue', '00000000-0000-0000-0000-000000000000', 0);

-- A payment may fund a campaign: its target id is the campaign, its KRW goes to revenue.
ALTER TABLE invest.payments
    DROP CONSTRAINT payments_target_kind_known,
    ADD CONSTRAINT payments_target_kind_known
        CHECK (target_kind IN ('krw_merchant_payable', 'krw_escrow', 'campaign_funding'));

CREATE TABLE invest.campaigns (
    id              UUID PRIMARY KEY,
    -- The advertiser: a merchant account.
    advertiser_id   UUID NOT NULL REFERENCES auth.users (id),
    title           TEXT NOT NULL CONSTRAINT campaigns_title_length CHECK (char_length(title) BETWEEN 1 AND 100),
    creative_url    TEXT NOT NULL CONSTRAINT campaigns_creative_url_shape
        CHECK (creative_url ~ '^https?://' AND char_length(creative_url) <= 2000),
    -- The creative's length; a view shorter than 30 s earns nothing, so no shorter creative.
    length_secs     INTEGER NOT NULL CONSTRAINT campaigns_length_range CHECK (length_secs BETWEEN 30 AND 3600),
    -- PMP for a full view.
    reward          BIGINT NOT NULL CONSTRAINT campaigns_reward_positive CHECK (reward > 0),
    -- The optional survey: a question, its options and the PMP its answer adds.
    survey_question TEXT CONSTRAINT campaigns_survey_question_length CHECK (char_length(survey_question) BETWEEN 1 AND 300),
    survey_options  TEXT[] CONSTRAINT campaigns_survey_options_count
        CHECK (cardinality(survey_options) BETWEEN 2 AND 6),
    survey_bonus    BIGINT NOT NULL DEFAULT 0 CONSTRAINT campaigns_survey_bonus_non_negative CHECK (survey_bonus >= 0),
    -- Views a citizen may complete per UTC day on this campaign.
    daily_limit     INTEGER NOT NULL CONSTRAINT campaigns_daily_limit_range CHECK (daily_limit BETWEEN 1 AND 1000),
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ NOT NULL,
    -- PMP: issued into the budget so far, reserved by active views, paid to viewers. The
    -- budget account's balance is funded - paid; what a new view may reserve is
    -- funded - paid - reserved.
    funded          BIGINT NOT NULL DEFAULT 0,
    reserved        BIGINT NOT NULL DEFAULT 0,
    paid            BIGINT NOT NULL DEFAULT 0,
    paused_at       TIMESTAMPTZ,
    paused_by       UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT campaigns_window CHECK (ends_at > starts_at),
    CONSTRAINT campaigns_survey_whole CHECK (
        (survey_question IS NULL AND survey_options IS NULL AND survey_bonus = 0)
        OR (survey_question IS NOT NULL AND survey_options IS NOT NULL)),
    -- The budget is never overspent, whatever the code above does.
    CONSTRAINT campaigns_budget_never_overspent
        CHECK (funded >= 0 AND reserved >= 0 AND paid >= 0 AND paid + reserved <= funded)
);
CREATE INDEX campaigns_advertiser ON invest.campaigns (advertiser_id, id);

-- Every funding payment once paid: the KRW, the PMP issued and the rate it was converted at.
CREATE TABLE invest.campaign_fundings (
    payment_id   UUID PRIMARY KEY REFERENCES invest.payments (id),
    campaign_id  UUID NOT NULL REFERENCES invest.campaigns (id),
    krw          BIGINT NOT NULL CONSTRAINT campaign_fundings_krw_positive CHECK (krw > 0),
    pmp          BIGINT NOT NULL CONSTRAINT campaign_fundings_pmp_non_negative CHECK (pmp >= 0),
    pmp_per_krw  NUMERIC(24, 9) NOT NULL,
    paid_day     DATE NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX campaign_fundings_campaign ON invest.campaign_fundings (campaign_id);

-- A view: started (the reservation taken), kept alive by heartbeats, then completed (paid from
-- the reservation, the rest released) or expired (all released).
CREATE TABLE invest.ad_views (
    id                UUID PRIMARY KEY,
    campaign_id       UUID NOT NULL REFERENCES invest.campaigns (id),
    user_id           UUID NOT NULL REFERENCES auth.users (id),
    -- The UTC day (API clock) the view started: the day its daily limits count.
    day               DATE NOT NULL,
    state             TEXT NOT NULL DEFAULT 'active' CONSTRAINT ad_views_state_known
        CHECK (state IN ('active', 'completed', 'expired')),
    -- PMP held for this view: the full reward plus the survey bonus.
    reserved          BIGINT NOT NULL CONSTRAINT ad_views_reserved_positive CHECK (reserved > 0),
    started_at        TIMESTAMPTZ NOT NULL,
    last_heartbeat_at TIMESTAMPTZ NOT NULL,
    -- Heartbeat-covered time so far, in milliseconds.
    covered_ms        BIGINT NOT NULL DEFAULT 0 CONSTRAINT ad_views_covered_non_negative CHECK (covered_ms >= 0),
    heartbeats        INTEGER NOT NULL DEFAULT 0,
    watched_secs      INTEGER,
    survey_answer     SMALLINT,
    -- PMP paid: the reward part and the survey bonus (completed views only).
    earned            BIGINT,
    bonus             BIGINT,
    ended_at          TIMESTAMPTZ,
    CONSTRAINT ad_views_paid_within_reservation
        CHECK (COALESCE(earned, 0) >= 0 AND COALESCE(bonus, 0) >= 0
               AND COALESCE(earned, 0) + COALESCE(bonus, 0) <= reserved),
    CONSTRAINT ad_views_ended_when_not_active CHECK ((state = 'active') = (ended_at IS NULL))
);
-- One active view per citizen (I1).
CREATE UNIQUE INDEX ad_views_one_active_per_user ON invest.ad_views (user_id) WHERE state = 'active';
CREATE INDEX ad_views_user_day ON invest.ad_views (user_id, day, campaign_id) WHERE state = 'completed';
CREATE INDEX ad_views_campaign ON invest.ad_views (campaign_id, state);
CREATE INDEX ad_views_active_heartbeat ON invest.ad_views (last_heartbeat_at) WHERE state = 'active';

-- Roles (README "Database roles"): the API writes the ads; the indexer and the relayer have
-- nothing to do with them.
GRANT SELECT, INSERT ON invest.campaigns, invest.campaign_fundings, invest.ad_views TO posmul_api;
GRANT UPDATE (funded, reserved, paid, paused_at, paused_by) ON invest.campaigns TO posmul_api;
GRANT UPDATE (state, last_heartbeat_at, covered_ms, heartbeats, watched_secs, survey_answer, earned, bonus, ended_at)
    ON invest.ad_views TO posmul_api;
REVOKE ALL ON invest.campaigns, invest.campaign_fundings, invest.ad_views FROM posmul_indexer, posmul_relayer;
