-- Stake placements now use the API's one Idempotency-Key mechanism (ledger.idempotency_keys,
-- api/src/idempotency.rs); the predictions-specific table is no longer written.
DROP TABLE predictions.stake_requests;
