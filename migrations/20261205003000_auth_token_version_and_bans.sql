-- Roles that stick and bans that bite (U1): every access token names the account's token
-- version when it was issued, and each request compares it with the current one, so a ban, a
-- role change or a password reset (each bumps the version) ends the account's access tokens on
-- the next request instead of when they expire.
ALTER TABLE auth.users
    ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0 CHECK (token_version >= 0),
    -- When an admin banned the account (NULL: not banned); a banned account cannot sign in,
    -- refresh, or use a token it already holds.
    ADD COLUMN banned_at TIMESTAMPTZ,
    ADD COLUMN ban_reason TEXT CHECK (length(ban_reason) BETWEEN 1 AND 500);
