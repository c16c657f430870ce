-- Accounts, credentials, sessions, SIWE nonces, wallets, roles, profiles, audit log (U1, U2).
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.users (
    id          UUID PRIMARY KEY,
    -- Normalised (trimmed, lower-case). NULL for accounts created by Sign-In with Ethereum.
    email       TEXT CONSTRAINT users_email_key UNIQUE
                CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE auth.password_credentials (
    user_id       UUID PRIMARY KEY REFERENCES auth.users (id),
    -- PHC string, argon2id.
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Refresh tokens: only the SHA-256 of the token is stored. A token is used once (rotated_at);
-- presenting a rotated or revoked token again revokes its whole family.
CREATE TABLE auth.refresh_tokens (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES auth.users (id),
    family_id   UUID NOT NULL,
    token_hash  BYTEA NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE
                CHECK (length(token_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    rotated_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON auth.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON auth.refresh_tokens (user_id);

-- EIP-4361 nonces: single use (deleted when consumed), expiring.
CREATE TABLE auth.siwe_nonces (
    nonce       TEXT PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9]{8,64}$'),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX siwe_nonces_expires_idx ON auth.siwe_nonces (expires_at);

-- Linked wallets: an address belongs to at most one user, a user has at most one wallet.
-- Addresses are lower-case 0x-hex (compare with lower('0x' || encode(bytes, 'hex'))).
CREATE TABLE auth.wallets (
    address     TEXT CONSTRAINT wallets_pkey PRIMARY KEY CHECK (address ~ '^0x[0-9a-f]{40}$'),
    user_id     UUID NOT NULL CONSTRAINT wallets_user_id_key UNIQUE REFERENCES auth.users (id),
    linked_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE auth.user_roles (
    user_id     UUID NOT NULL REFERENCES auth.users (id),
    role        TEXT NOT NULL
                CHECK (role IN ('citizen', 'merchant', 'moderator', 'resolver', 'admin')),
    granted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    granted_by  UUID REFERENCES auth.users (id),
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role_idx ON auth.user_roles (role);

CREATE TABLE auth.profiles (
    user_id       UUID PRIMARY KEY REFERENCES auth.users (id),
    display_name  TEXT CHECK (length(display_name) BETWEEN 1 AND 50),
    bio           TEXT CHECK (length(bio) <= 500),
    locale        TEXT CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Security-relevant actions. Append-only: UPDATE, DELETE and TRUNCATE are refused.
CREATE TABLE auth.audit_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    action          TEXT NOT NULL,
    actor_user_id   UUID,
    subject_user_id UUID,
    ip              TEXT,
    request_id      TEXT,
    details         JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_action_idx ON auth.audit_log (action, id);
CREATE INDEX audit_log_subject_idx ON auth.audit_log (subject_user_id, id);

CREATE FUNCTION auth.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auth.audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON auth.audit_log
    FOR EACH ROW EXECUTE FUNCTION auth.audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON auth.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_log_is_append_only();
