package audit

import (
	"context"
	"database/sql"
	"fmt"
)

// Advisory lock keys (PostgreSQL). DDL takes one lock for the whole
// database, so a worker and a web app starting together do not race on
// CREATE OR REPLACE FUNCTION ("tuple concurrently updated"). Appends take
// (appendLockClass, the table's oid): one writer per ledger, while ledgers
// in other schemas (tests) do not wait for each other.
const (
	ddlLockKey      = 0x6175646974 // "audit"
	appendLockClass = 0x61756474   // "audt"
)

// Times are stored as text with exactly nine fractional digits: no
// precision lost on either engine, and the text sorts as the time does
// (event_at is filtered by range).
const storedTime = "2006-01-02T15:04:05.000000000Z07:00"

const tablesDDL = `
CREATE TABLE IF NOT EXISTS audit_entries (
	seq          BIGINT PRIMARY KEY,
	event_id     TEXT NOT NULL UNIQUE,
	process      TEXT NOT NULL,
	business_key TEXT NOT NULL,
	workflow_id  TEXT NOT NULL,
	run_id       TEXT NOT NULL,
	kind         TEXT NOT NULL,
	actor        TEXT NOT NULL,
	summary      TEXT NOT NULL,
	event_at     TEXT NOT NULL,
	data         TEXT NOT NULL,
	links        TEXT NOT NULL,
	recorded_at  TEXT NOT NULL,
	prev_hash    TEXT NOT NULL,
	hash         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_business_key ON audit_entries (business_key);
CREATE INDEX IF NOT EXISTS audit_entries_workflow_id ON audit_entries (workflow_id);
CREATE INDEX IF NOT EXISTS audit_entries_event_at ON audit_entries (event_at);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
	seq       BIGINT PRIMARY KEY,
	hash      TEXT NOT NULL,
	at        TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	signature TEXT NOT NULL
);
`

// postgresTriggers refuse UPDATE, DELETE and TRUNCATE. PostgreSQL before 14
// has no CREATE TRIGGER IF NOT EXISTS (and CREATE OR REPLACE TRIGGER only
// from 14), so each trigger is created when pg_trigger lacks it.
const postgresTriggers = `
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	RAISE EXCEPTION 'audit ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$fn$;
DO $do$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['audit_entries', 'audit_checkpoints'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = t::regclass AND tgname = t || '_append_only') THEN
			EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE PROCEDURE audit_refuse_change()', t || '_append_only', t);
		END IF;
		IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = t::regclass AND tgname = t || '_no_truncate') THEN
			EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE PROCEDURE audit_refuse_change()', t || '_no_truncate', t);
		END IF;
	END LOOP;
END
$do$;
`

// postgresReady counts the triggers: when all four exist the schema is
// complete and Open changes nothing, so an application role that may only
// INSERT and SELECT (see docs/audit.md) can open the ledger.
const postgresReady = `
SELECT count(*) FROM pg_trigger
WHERE tgrelid IN (to_regclass('audit_entries'), to_regclass('audit_checkpoints'))
  AND tgname IN ('audit_entries_append_only', 'audit_entries_no_truncate', 'audit_checkpoints_append_only', 'audit_checkpoints_no_truncate')`

// SQLite has no TRUNCATE (DELETE without WHERE fires the delete trigger).
const sqliteTriggers = `
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: UPDATE on audit_entries refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: DELETE on audit_entries refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: UPDATE on audit_checkpoints refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: DELETE on audit_checkpoints refused'); END;
`

// createSchema creates the tables, indexes and triggers where missing.
func createSchema(ctx context.Context, db *sql.DB, postgres bool) error {
	if !postgres {
		// IF NOT EXISTS throughout, under the write lock: concurrent opens
		// wait (busy_timeout) and find it done.
		return sqliteImmediate(ctx, db, func(q querier) error {
			_, err := q.ExecContext(ctx, tablesDDL+sqliteTriggers)
			return err
		})
	}
	var n int
	if err := db.QueryRowContext(ctx, postgresReady).Scan(&n); err != nil {
		return fmt.Errorf("inspect schema: %w", err)
	}
	if n == 4 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(ddlLockKey)); err != nil {
		return err
	}
	// No arguments: pgx sends the text as one simple-protocol query, so
	// the statements (and the dollar-quoted bodies) run as written.
	if _, err := tx.ExecContext(ctx, tablesDDL+postgresTriggers); err != nil {
		return err
	}
	return tx.Commit()
}
