-- KRW in the ledger (DESIGN.md E1, E4): the same accounts, transfers and postings, in a second
-- currency. An account's currency follows from its kind (the `krw_` kinds are KRW, the others
-- PMP), so no posting can change currency; economy::ledger writes a transfer in one currency
-- only, and the proof below also refuses a transfer that mixes them, so the postings of each
-- currency sum to zero on their own.
ALTER TABLE ledger.accounts
    DROP CONSTRAINT accounts_kind_known,
    ADD CONSTRAINT accounts_kind_known CHECK (kind IN (
        'user', 'issuance', 'burn', 'game_escrow', 'campaign_budget',
        -- provider clearing: the other side of money arriving from payment providers (may go
        -- negative, like issuance); escrow: a funding project's contributions (I3); merchant
        -- payable: what the platform owes a merchant; refunds: refunds owed and not yet done.
        'krw_provider_clearing', 'krw_escrow', 'krw_merchant_payable', 'krw_refunds')),
    DROP CONSTRAINT accounts_singletons_have_nil_reference,
    ADD CONSTRAINT accounts_singletons_have_nil_reference
        CHECK ((kind IN ('issuance', 'burn', 'krw_provider_clearing', 'krw_refunds'))
               = (reference_id = '00000000-0000-0000-0000-000000000000')),
    DROP CONSTRAINT accounts_only_issuance_is_uncached,
    ADD CONSTRAINT accounts_only_sources_are_uncached
        CHECK ((kind IN ('issuance', 'krw_provider_clearing')) = (balance IS NULL)),
    ADD COLUMN currency TEXT GENERATED ALWAYS AS
        (CASE WHEN kind LIKE 'krw\_%' THEN 'KRW' ELSE 'PMP' END) STORED;

INSERT INTO ledger.accounts (kind, reference_id, balance) VALUES
    ('krw_provider_clearing', '00000000-0000-0000-0000-000000000000', NULL),
    ('krw_refunds', '00000000-0000-0000-0000-000000000000', 0);

-- A transfer is unbalanced if its postings do not sum to zero, if it has fewer than two, or if
-- it mixes currencies (then a zero total could hide a nonzero sum per currency).
CREATE OR REPLACE VIEW ledger.unbalanced_transfers AS
SELECT t.id AS transfer_id, COALESCE(SUM(p.amount), 0)::BIGINT AS sum, COUNT(p.id) AS postings
FROM ledger.transfers t
LEFT JOIN ledger.postings p ON p.transfer_id = t.id
LEFT JOIN ledger.accounts a ON a.id = p.account_id
GROUP BY t.id
HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.id) < 2 OR COUNT(DISTINCT a.currency) > 1;

-- E1 per currency: every row's sum must be zero.
CREATE VIEW ledger.currency_totals AS
SELECT a.currency, COALESCE(SUM(p.amount), 0)::NUMERIC AS postings_sum, COUNT(p.id) AS postings
FROM ledger.accounts a
LEFT JOIN ledger.postings p ON p.account_id = a.id
GROUP BY a.currency;

GRANT SELECT ON ledger.currency_totals TO posmul_api;
