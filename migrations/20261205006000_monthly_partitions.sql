-- Monthly partitions of the tables that only grow: the PMP ledger's postings, the audit log and
-- the chain mirror's events. Each is partitioned by RANGE of its time (postings.created_at,
-- audit_log.at, and a new block_time, the block's timestamp, on every mirrored event) into
-- `<table>_pYYYYMM` partitions (UTC months) plus a DEFAULT partition for rows outside them.
-- partitions.ensure_months(ahead) creates the months from the current one through `ahead` months
-- ahead; the API calls it at start-up and daily (api/server/src/partitions.rs). Old months can
-- then be detached, archived or dropped without touching the current ones.
--
-- A unique key of a partitioned table must contain the partition key, so the primary keys become
-- (id, created_at), (id, at) and (chain_id, tx_hash, log_index, block_time). No foreign key
-- references these tables (one would need the whole new key), so none is lost; their own foreign
-- keys (postings → transfers, accounts) are kept.
--
-- Rights: services reach rows only through the parent tables, whose grants are copied from the
-- tables they replace; privileges on a parent apply to every partition accessed through it, so
-- partitions carry no grants of their own (reaching a partition directly is the owner's alone).
-- Triggers are recreated on the parents: row triggers are cloned to every partition, statement
-- triggers fire for statements on the parent (the only way a service can reach the rows).

CREATE SCHEMA partitions;

-- Creates the month partition of `p_parent` holding [month start, next month start) in UTC, unless
-- it exists. A month whose rows already went to the DEFAULT partition (the job did not run in
-- time) is skipped with a warning: attaching it would fail, and moving rows out of an append-only
-- table is an operator's decision.
CREATE FUNCTION partitions.create_month(p_parent regclass, p_month date)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_schema  text;
    v_table   text;
    v_name    text;
    v_key     text;
    v_default oid;
    v_from    timestamptz;
    v_to      timestamptz;
    v_stray   boolean;
BEGIN
    SELECT n.nspname, c.relname, a.attname, pt.partdefid
      INTO v_schema, v_table, v_key, v_default
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
     WHERE c.oid = p_parent;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not partitioned by a column', p_parent;
    END IF;
    v_name := v_table || '_p' || to_char(p_month, 'YYYYMM');
    IF to_regclass(format('%I.%I', v_schema, v_name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    v_from := make_timestamptz(extract(year FROM p_month)::int, extract(month FROM p_month)::int, 1, 0, 0, 0, 'UTC');
    v_to := v_from + interval '1 month';
    IF v_default <> 0 THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= $1 AND %I < $2)',
                       v_default::regclass, v_key, v_key)
           INTO v_stray USING v_from, v_to;
        IF v_stray THEN
            RAISE WARNING 'partition %.% not created: the default partition holds rows of that month', v_schema, v_name;
            RETURN false;
        END IF;
    END IF;
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   v_schema, v_name, p_parent, v_from, v_to);
    RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION partitions.create_month(regclass, date) FROM PUBLIC;

-- Creates the missing month partitions, from the current month through `ahead` months ahead, of
-- every partitioned table; returns how many it created. Runs with the owner's rights (the API's
-- role may not create tables); concurrent callers wait for each other.
CREATE FUNCTION partitions.ensure_months(ahead integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_parent  regclass;
    v_month   date;
    v_created integer := 0;
BEGIN
    IF ahead IS NULL OR ahead < 0 OR ahead > 120 THEN
        RAISE EXCEPTION 'ahead must be between 0 and 120 months, not %', ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('partitions.ensure_months'));
    FOR v_parent IN
        SELECT pt.partrelid::regclass
          FROM pg_partitioned_table pt
          JOIN pg_class c ON c.oid = pt.partrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT c.relispartition
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         ORDER BY 1
    LOOP
        FOR i IN 0..ahead LOOP
            v_month := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
            IF partitions.create_month(v_parent, v_month) THEN
                v_created := v_created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN v_created;
END
$$;
REVOKE EXECUTE ON FUNCTION partitions.ensure_months(integer) FROM PUBLIC;
GRANT USAGE ON SCHEMA partitions TO posmul_api;
GRANT EXECUTE ON FUNCTION partitions.ensure_months(integer) TO posmul_api;

-- Migration helpers, dropped at the end.

-- Grants on `p_to` every table privilege `p_from` has (grant options included).
CREATE FUNCTION partitions.copy_grants(p_from regclass, p_to regclass)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_from AND attacl IS NOT NULL) THEN
        RAISE EXCEPTION '% has column privileges, which this migration does not copy', p_from;
    END IF;
    FOR g IN
        SELECT a.privilege_type, a.is_grantable,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee
          FROM pg_class c, aclexplode(c.relacl) a
          LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.oid = p_from AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', g.privilege_type, p_to, g.grantee,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

-- Creates the month partitions of every month `p_key` of `p_source` has rows in, then those of
-- the current month and three ahead, then the DEFAULT partition (before any row is copied: a
-- month cannot be added once the default partition holds its rows).
CREATE FUNCTION partitions.prepare(p_parent regclass, p_source regclass, p_key text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_month date;
BEGIN
    FOR v_month IN EXECUTE format(
        'SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'')::date FROM %s
         UNION SELECT (date_trunc(''month'', now() AT TIME ZONE ''UTC'') + make_interval(months => m))::date
           FROM generate_series(0, 3) m', p_key, p_source)
    LOOP
        PERFORM partitions.create_month(p_parent, v_month);
    END LOOP;
    EXECUTE format('CREATE TABLE %s PARTITION OF %s DEFAULT', p_parent::text || '_default', p_parent);
END
$$;

-- ── ledger.postings, by created_at.
ALTER TABLE ledger.postings RENAME TO postings_unpartitioned;
CREATE TABLE ledger.postings (
    LIKE ledger.postings_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS
) PARTITION BY RANGE (created_at);
SELECT partitions.prepare('ledger.postings', 'ledger.postings_unpartitioned', 'created_at');
INSERT INTO ledger.postings SELECT * FROM ledger.postings_unpartitioned;
SELECT partitions.copy_grants('ledger.postings_unpartitioned', 'ledger.postings');
-- The views now read the new table (CREATE OR REPLACE keeps their grants).
CREATE OR REPLACE VIEW ledger.unbalanced_transfers AS
SELECT t.id AS transfer_id, COALESCE(SUM(p.amount), 0)::BIGINT AS sum, COUNT(p.id) AS postings
FROM ledger.transfers t
LEFT JOIN ledger.postings p ON p.transfer_id = t.id
GROUP BY t.id
HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.id) < 2;
CREATE OR REPLACE VIEW ledger.balance_mismatches AS
SELECT a.id AS account_id, a.kind, a.reference_id, a.balance AS cached,
       COALESCE(s.sum, 0)::BIGINT AS posted
FROM ledger.accounts a
LEFT JOIN (SELECT account_id, SUM(amount) AS sum FROM ledger.postings GROUP BY account_id) s
       ON s.account_id = a.id
WHERE a.balance IS NOT NULL AND a.balance <> COALESCE(s.sum, 0);
-- Ids continue after the old table's sequence (the identity is added once its name is free).
CREATE TEMPORARY TABLE postings_next_id AS
SELECT greatest((SELECT max(id) FROM ledger.postings_unpartitioned),
                (SELECT last_value FROM ledger.postings_id_seq)) + 1 AS next;
DROP TABLE ledger.postings_unpartitioned;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE ledger.postings ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
                   (SELECT next FROM postings_next_id));
END
$$;
DROP TABLE postings_next_id;
ALTER TABLE ledger.postings ADD CONSTRAINT postings_pkey PRIMARY KEY (id, created_at);
ALTER TABLE ledger.postings ADD CONSTRAINT postings_transfer_id_fkey
    FOREIGN KEY (transfer_id) REFERENCES ledger.transfers (id);
ALTER TABLE ledger.postings ADD CONSTRAINT postings_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES ledger.accounts (id);
CREATE INDEX postings_account_history ON ledger.postings (account_id, id DESC);
CREATE INDEX postings_transfer ON ledger.postings (transfer_id);
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();

-- ── auth.audit_log, by at.
ALTER TABLE auth.audit_log RENAME TO audit_log_unpartitioned;
CREATE TABLE auth.audit_log (
    LIKE auth.audit_log_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS
) PARTITION BY RANGE (at);
SELECT partitions.prepare('auth.audit_log', 'auth.audit_log_unpartitioned', 'at');
INSERT INTO auth.audit_log SELECT * FROM auth.audit_log_unpartitioned;
SELECT partitions.copy_grants('auth.audit_log_unpartitioned', 'auth.audit_log');
CREATE TEMPORARY TABLE audit_log_next_id AS
SELECT greatest((SELECT max(id) FROM auth.audit_log_unpartitioned),
                (SELECT last_value FROM auth.audit_log_id_seq)) + 1 AS next;
DROP TABLE auth.audit_log_unpartitioned;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE auth.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
                   (SELECT next FROM audit_log_next_id));
END
$$;
DROP TABLE audit_log_next_id;
ALTER TABLE auth.audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id, at);
CREATE INDEX audit_log_action_idx ON auth.audit_log (action, id);
CREATE INDEX audit_log_subject_idx ON auth.audit_log (subject_user_id, id);
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON auth.audit_log
    FOR EACH ROW EXECUTE FUNCTION auth.audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON auth.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_log_is_append_only();

-- ── The chain mirror's events, by block_time: the timestamp of the block the event is in (the
-- indexer writes it with the row). Existing rows take it from chain.blocks, which keeps every
-- block holding a mirrored event; a row without its block (none is expected) gets the epoch and
-- so the DEFAULT partition. Their indexes are kept as they were; chain.recipients reads the new
-- donation_recipients.
CREATE FUNCTION partitions.convert_event_table(p_table text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old     text := p_table || '_unpartitioned';
    v_indexes text[];
    v_def     text;
BEGIN
    EXECUTE format('ALTER TABLE chain.%I RENAME TO %I', p_table, v_old);
    SELECT array_agg(replace(pg_get_indexdef(i.indexrelid),
                             format(' ON chain.%s USING ', v_old), format(' ON chain.%s USING ', p_table))
                     ORDER BY i.indexrelid)
      INTO v_indexes
      FROM pg_index i
     WHERE i.indrelid = format('chain.%I', v_old)::regclass AND NOT i.indisprimary;
    EXECUTE format('CREATE TABLE chain.%I (LIKE chain.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS,
                       block_time TIMESTAMPTZ NOT NULL) PARTITION BY RANGE (block_time)', p_table, v_old);
    EXECUTE format('CREATE TEMPORARY TABLE event_rows AS
                    SELECT o.*, coalesce(b."timestamp", ''epoch''::timestamptz) AS block_time
                      FROM chain.%I o
                      LEFT JOIN chain.blocks b ON b.chain_id = o.chain_id AND b.number = o.block_number', v_old);
    PERFORM partitions.prepare(format('chain.%I', p_table)::regclass, 'pg_temp.event_rows'::regclass, 'block_time');
    EXECUTE format('INSERT INTO chain.%I SELECT * FROM pg_temp.event_rows', p_table);
    DROP TABLE pg_temp.event_rows;
    PERFORM partitions.copy_grants(format('chain.%I', v_old)::regclass, format('chain.%I', p_table)::regclass);
    IF p_table = 'donation_recipients' THEN
        CREATE OR REPLACE VIEW chain.recipients AS
        SELECT DISTINCT ON (chain_id, recipient_id)
               chain_id, recipient_id, beneficiary, kind, active, block_number, finalized
        FROM chain.donation_recipients
        ORDER BY chain_id, recipient_id, block_number DESC, log_index DESC;
    END IF;
    EXECUTE format('DROP TABLE chain.%I', v_old);
    EXECUTE format('ALTER TABLE chain.%I ADD CONSTRAINT %I PRIMARY KEY (chain_id, tx_hash, log_index, block_time)',
                   p_table, p_table || '_pkey');
    FOREACH v_def IN ARRAY coalesce(v_indexes, '{}') LOOP
        EXECUTE v_def;
    END LOOP;
END
$$;

SELECT partitions.convert_event_table(t)
  FROM unnest(ARRAY['pmc_transfers', 'pmc_delegate_changes', 'pmc_delegate_votes', 'waves_published',
                    'wave_claims', 'wave_cap_changes', 'pause_changes', 'role_changes',
                    'donation_recipients', 'donations', 'root_pending', 'root_revocations',
                    'root_delay_changes']) t;

DROP FUNCTION partitions.convert_event_table(text);
DROP FUNCTION partitions.prepare(regclass, regclass, text);
DROP FUNCTION partitions.copy_grants(regclass, regclass);
