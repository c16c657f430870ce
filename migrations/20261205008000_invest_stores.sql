-- Local League stores (DESIGN.md I2): the store registry, the stores' PMC rate events and the
-- citizens' reviews. Searched by distance with contrib's cube + earthdistance: `ll_to_earth`
-- under a GiST index answers `earth_box(…) @> ll_to_earth(…)` without reading every store.
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

CREATE TABLE invest.stores (
    id                UUID PRIMARY KEY,
    -- The merchant who registered the store and owns it.
    merchant_id       UUID NOT NULL REFERENCES auth.users (id),
    name              TEXT NOT NULL CONSTRAINT stores_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    category          TEXT NOT NULL CONSTRAINT stores_category_shape
        CHECK (category ~ '^[a-z][a-z0-9_]{0,31}$'),
    address           TEXT NOT NULL CONSTRAINT stores_address_length CHECK (char_length(address) BETWEEN 1 AND 300),
    lat               DOUBLE PRECISION NOT NULL CONSTRAINT stores_lat_range CHECK (lat BETWEEN -90 AND 90),
    lon               DOUBLE PRECISION NOT NULL CONSTRAINT stores_lon_range CHECK (lon BETWEEN -180 AND 180),
    -- The Local League is for independent stores: the merchant declares it is no franchise.
    non_franchise     BOOLEAN NOT NULL CONSTRAINT stores_non_franchise_declared CHECK (non_franchise),
    -- Set once by an admin; a store appears in search only when verified.
    verified_at       TIMESTAMPTZ,
    verified_by       UUID REFERENCES auth.users (id),
    -- The PMC rate outside events, in basis points of the amount paid (100 = 1 %).
    base_rate_bp      INTEGER NOT NULL DEFAULT 100 CONSTRAINT stores_base_rate_range CHECK (base_rate_bp BETWEEN 0 AND 10000),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT stores_verified_together CHECK ((verified_at IS NULL) = (verified_by IS NULL))
);
CREATE INDEX stores_location ON invest.stores USING gist (ll_to_earth(lat, lon));
CREATE INDEX stores_merchant ON invest.stores (merchant_id);

-- A window in which a store's PMC rate is raised: in force from `starts_at` (inclusive) until
-- `ends_at` (exclusive). Where windows overlap, the highest rate applies.
CREATE TABLE invest.store_rate_events (
    id          UUID PRIMARY KEY,
    store_id    UUID NOT NULL REFERENCES invest.stores (id),
    rate_bp     INTEGER NOT NULL DEFAULT 200 CONSTRAINT store_rate_events_rate_range CHECK (rate_bp BETWEEN 0 AND 10000),
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    created_by  UUID NOT NULL REFERENCES auth.users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT store_rate_events_window CHECK (ends_at > starts_at)
);
CREATE INDEX store_rate_events_store ON invest.store_rate_events (store_id, starts_at);

-- A payment at a store says which store (the merchant alone does not: a merchant may own
-- several). Older payments and non-store payments have none.
ALTER TABLE invest.payments ADD COLUMN store_id UUID REFERENCES invest.stores (id);
CREATE INDEX payments_store_user ON invest.payments (store_id, user_id) WHERE store_id IS NOT NULL;

-- One review per citizen per store; the API checks the reviewer paid there first.
CREATE TABLE invest.store_reviews (
    store_id    UUID NOT NULL REFERENCES invest.stores (id),
    user_id     UUID NOT NULL REFERENCES auth.users (id),
    stars       SMALLINT NOT NULL CONSTRAINT store_reviews_stars_range CHECK (stars BETWEEN 1 AND 5),
    body        TEXT NOT NULL CONSTRAINT store_reviews_body_length CHECK (char_length(body) <= 2000),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, user_id)
);

-- Roles (README "Database roles"): the API writes the stores; verification is the only change
-- to a store once registered. The indexer and the relayer have nothing to do with stores.
GRANT SELECT, INSERT ON invest.stores, invest.store_rate_events, invest.store_reviews TO posmul_api;
GRANT UPDATE (verified_at, verified_by) ON invest.stores TO posmul_api;
REVOKE ALL ON invest.stores, invest.store_rate_events, invest.store_reviews FROM posmul_indexer, posmul_relayer;
