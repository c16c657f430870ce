-- auth.wallets.address becomes the address's 20 bytes, as every other address column (chain.*,
-- relayer.*) stores it: the application parses an address once at the edge, in any case, and
-- shows it EIP-55 checksummed (posmul_core::WalletAddress), so no query lower-cases or decodes
-- text any more. The primary key (wallets_pkey, one user per address) is kept; the old column
-- held only '0x' and 40 lower-case hex digits, so every row converts.
ALTER TABLE auth.wallets DROP CONSTRAINT wallets_address_check;
ALTER TABLE auth.wallets
    ALTER COLUMN address TYPE BYTEA USING decode(substr(address, 3), 'hex');
ALTER TABLE auth.wallets
    ADD CONSTRAINT wallets_address_check CHECK (octet_length(address) = 20);
