-- Accounts that prove something before they earn (U2, E2, E5): verified e-mail addresses,
-- single-use e-mail tokens (verification, password reset), the sign-up grant paid once at
-- verification under a daily global limit, and per-login throttling of failed sign-ins.

-- When the account proved it reads its e-mail (NULL: not yet). Cleared when the e-mail changes.
ALTER TABLE auth.users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- E-mail tokens: only the SHA-256 of the token is stored; a token is used once (used_at) and
-- expires. `email` is the address the token was mailed to: verifying proves that address, so a
-- token for an address the account no longer has proves nothing.
CREATE TABLE auth.email_tokens (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES auth.users (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email       TEXT NOT NULL,
    token_hash  BYTEA NOT NULL CONSTRAINT email_tokens_token_hash_key UNIQUE
                CHECK (length(token_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX email_tokens_user_idx ON auth.email_tokens (user_id, purpose);

-- The sign-up grant (E5): one row per account that was paid, with the UTC day (by the API's
-- clock) whose limit it counted against.
CREATE TABLE auth.signup_grants (
    user_id     UUID PRIMARY KEY REFERENCES auth.users (id),
    day         DATE NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount >= 0),
    paid_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- How many grants each UTC day has paid: the one row every grant of the day locks, so parallel
-- verifications never pay past the limit.
CREATE TABLE auth.signup_grant_days (
    day         DATE PRIMARY KEY,
    granted     INTEGER NOT NULL CHECK (granted >= 0)
);

-- Failed password sign-ins per login (the SHA-256 of the normalised e-mail, whether or not an
-- account has it, so a lock says nothing about which e-mails exist). `failures` counts attempts
-- since the last success, counted before the password is checked so parallel guesses are
-- bounded too; `locked_until` refuses attempts without checking the password.
CREATE TABLE auth.login_throttle (
    login_hash   BYTEA PRIMARY KEY CHECK (length(login_hash) = 32),
    failures     INTEGER NOT NULL CHECK (failures >= 0),
    locked_until TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Accounts paid at registration, before the grant waited for a verified e-mail, are paid.
INSERT INTO auth.signup_grants (user_id, day, amount, paid_at)
SELECT t.reference_id, (t.created_at AT TIME ZONE 'UTC')::date, p.amount, t.created_at
FROM ledger.transfers t
JOIN ledger.postings p ON p.transfer_id = t.id AND p.amount > 0
JOIN auth.users u ON u.id = t.reference_id
WHERE t.kind = 'signup_grant'
ON CONFLICT (user_id) DO NOTHING;
