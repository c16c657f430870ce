-- Cloud Funding (DESIGN.md I3): projects citizens propose and moderators approve, the
-- contributions paid into a project's KRW escrow, and the creators' updates. The money itself
-- is in the ledger (the escrow account `krw_escrow`/project id, E4); these tables say whose it
-- is and what becomes of it.

CREATE TABLE invest.projects (
    id                    UUID PRIMARY KEY,
    creator_id            UUID NOT NULL REFERENCES auth.users (id),
    title                 TEXT NOT NULL CONSTRAINT projects_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    description           TEXT NOT NULL CONSTRAINT projects_description_length CHECK (char_length(description) BETWEEN 1 AND 10000),
    -- Whole won, all in steps of 1,000 won.
    goal_krw              BIGINT NOT NULL CONSTRAINT projects_goal_steps CHECK (goal_krw > 0 AND goal_krw % 1000 = 0),
    min_contribution_krw  BIGINT NOT NULL CONSTRAINT projects_min_steps CHECK (min_contribution_krw >= 1000 AND min_contribution_krw % 1000 = 0),
    max_contribution_krw  BIGINT NOT NULL CONSTRAINT projects_max_steps CHECK (max_contribution_krw % 1000 = 0),
    deadline              TIMESTAMPTZ NOT NULL,
    -- proposed → approved (a moderator) → funded | failed (settlement at the deadline, once).
    state                 TEXT NOT NULL DEFAULT 'proposed'
        CONSTRAINT projects_state_known CHECK (state IN ('proposed', 'approved', 'funded', 'failed')),
    approved_at           TIMESTAMPTZ,
    approved_by           UUID REFERENCES auth.users (id),
    -- The settlement's record: when, and the won counted (paid into escrow before the deadline).
    settled_at            TIMESTAMPTZ,
    raised_krw            BIGINT CONSTRAINT projects_raised_non_negative CHECK (raised_krw >= 0),
    created_at            TIMESTAMPTZ NOT NULL,
    CONSTRAINT projects_min_below_max CHECK (min_contribution_krw <= max_contribution_krw),
    CONSTRAINT projects_approved_together CHECK ((approved_at IS NULL) = (approved_by IS NULL)),
    CONSTRAINT projects_approved_state CHECK ((state = 'proposed') = (approved_at IS NULL)),
    CONSTRAINT projects_settled_state
        CHECK ((state IN ('funded', 'failed')) = (settled_at IS NOT NULL AND raised_krw IS NOT NULL))
);
CREATE INDEX projects_creator ON invest.projects (creator_id, created_at DESC);
-- The settlement's search: approved projects by deadline.
CREATE INDEX projects_due ON invest.projects (deadline) WHERE state = 'approved';

-- One contribution per payment. `pending` until its payment is paid; `held` in escrow, to be
-- counted at the deadline; `counted` once the project is funded (escrow released, credits
-- issued); `refunding` when its money goes back (a failed project, or paid too late) until the
-- provider has refunded it (`refunded`); `cancelled` by its contributor before the deadline
-- (refunded).
CREATE TABLE invest.contributions (
    id                  UUID PRIMARY KEY,
    project_id          UUID NOT NULL REFERENCES invest.projects (id),
    user_id             UUID NOT NULL REFERENCES auth.users (id),
    payment_id          UUID NOT NULL UNIQUE REFERENCES invest.payments (id),
    amount_krw          BIGINT NOT NULL CONSTRAINT contributions_amount_steps CHECK (amount_krw > 0 AND amount_krw % 1000 = 0),
    -- Won of the payment refunded so far (kept by the payment's refunds, whoever made them).
    refunded_krw        BIGINT NOT NULL DEFAULT 0,
    state               TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT contributions_state_known
        CHECK (state IN ('pending', 'held', 'counted', 'refunding', 'refunded', 'cancelled')),
    -- The app clock's time the payment was paid.
    paid_at             TIMESTAMPTZ,
    -- Refund retries: how many failed, the last error, and when to try again.
    refund_attempts     INTEGER NOT NULL DEFAULT 0,
    refund_error        TEXT CONSTRAINT contributions_refund_error_length CHECK (char_length(refund_error) <= 500),
    refund_next_at      TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT contributions_refunded_range CHECK (refunded_krw BETWEEN 0 AND amount_krw),
    CONSTRAINT contributions_paid_state CHECK ((state = 'pending') = (paid_at IS NULL))
);
CREATE INDEX contributions_project ON invest.contributions (project_id, state);
CREATE INDEX contributions_user ON invest.contributions (user_id, created_at DESC);
CREATE INDEX contributions_refunding ON invest.contributions (refund_next_at) WHERE state = 'refunding';

-- A creator's news; one final results report per project, after its settlement.
CREATE TABLE invest.project_updates (
    id          UUID PRIMARY KEY,
    project_id  UUID NOT NULL REFERENCES invest.projects (id),
    author_id   UUID NOT NULL REFERENCES auth.users (id),
    kind        TEXT NOT NULL CONSTRAINT project_updates_kind_known CHECK (kind IN ('update', 'final_report')),
    title       TEXT NOT NULL CONSTRAINT project_updates_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    body        TEXT NOT NULL CONSTRAINT project_updates_body_length CHECK (char_length(body) BETWEEN 1 AND 10000),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX project_updates_project ON invest.project_updates (project_id, created_at);
CREATE UNIQUE INDEX project_updates_one_final_report ON invest.project_updates (project_id) WHERE kind = 'final_report';

-- Roles (README "Database roles"): the API proposes, approves and settles projects and keeps
-- the contributions' states; nothing is deleted. The indexer and the relayer have no part.
GRANT SELECT, INSERT ON invest.projects, invest.contributions, invest.project_updates TO posmul_api;
GRANT UPDATE (state, approved_at, approved_by, settled_at, raised_krw) ON invest.projects TO posmul_api;
GRANT UPDATE (refunded_krw, state, paid_at, refund_attempts, refund_error, refund_next_at, updated_at)
    ON invest.contributions TO posmul_api;
REVOKE ALL ON invest.projects, invest.contributions, invest.project_updates FROM posmul_indexer, posmul_relayer;
