-- A Sign-In with Ethereum nonce is issued for one purpose (U2): signing in, or linking a wallet
-- to the signed-in account. The message states it, and the nonce is consumed only for it, so a
-- signature given to sign in can never link the wallet to another account, nor the reverse.
ALTER TABLE auth.siwe_nonces
    ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sign_in'
        CHECK (purpose IN ('sign_in', 'link_wallet'));
ALTER TABLE auth.siwe_nonces ALTER COLUMN purpose DROP DEFAULT;
