-- pmc_balances is updated for every address a batch of transfers touches: keep its updates HOT
-- (no index on the changing columns, room on each page), and index donations received.
DROP INDEX chain.pmc_balances_rich;
ALTER TABLE chain.pmc_balances SET (fillfactor = 80);
CREATE INDEX donations_beneficiary ON chain.donations (chain_id, beneficiary, block_number DESC, log_index DESC);
