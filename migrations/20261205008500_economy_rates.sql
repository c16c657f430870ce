-- The investment rates (DESIGN.md I1, I2, I3, E3): the economy configuration's conversions from
-- real money, versioned like relayer.economy_config (M1): every version is kept with who set it
-- and applies from the UTC day after it was set, so a rate never changes under a day already
-- running. Without any version the defaults below apply (economy::rates::Rates::DEFAULT).
CREATE TABLE relayer.investment_rates (
    version              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A campaign's PMP budget per KRW paid (I1); default 1.
    pmp_per_krw          NUMERIC(24, 9) NOT NULL CONSTRAINT investment_rates_pmp_per_krw_range
        CHECK (pmp_per_krw > 0 AND pmp_per_krw <= 1000000),
    -- PMC per KRW of a store payment, before the store's rate (I2); default 0.01 (1 PMC / 100 KRW).
    store_pmc_per_krw    NUMERIC(24, 9) NOT NULL CONSTRAINT investment_rates_store_pmc_per_krw_range
        CHECK (store_pmc_per_krw > 0 AND store_pmc_per_krw <= 1000000),
    -- PMC per KRW contributed to a FUNDED project (I3); default 0.01 (100 PMC / 10,000 KRW).
    funding_pmc_per_krw  NUMERIC(24, 9) NOT NULL CONSTRAINT investment_rates_funding_pmc_per_krw_range
        CHECK (funding_pmc_per_krw > 0 AND funding_pmc_per_krw <= 1000000),
    -- Ad views a citizen may complete per UTC day over all campaigns (I1); default 20.
    ad_views_per_day     INTEGER NOT NULL CONSTRAINT investment_rates_ad_views_per_day_range
        CHECK (ad_views_per_day BETWEEN 1 AND 10000),
    effective_from       DATE NOT NULL,
    set_by               UUID NOT NULL,
    set_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    note                 TEXT CONSTRAINT investment_rates_note_length CHECK (char_length(note) <= 280)
);
CREATE INDEX investment_rates_by_day ON relayer.investment_rates (effective_from DESC, version DESC);

-- Admins set versions through the API; the relayer has no use for them.
GRANT SELECT, INSERT ON relayer.investment_rates TO posmul_api;
