// Package audittest tampers with an audit ledger the way an attacker with
// database access would, bypassing the append-only triggers, so tests can
// check that `audit verify` notices. Each helper works on PostgreSQL
// (databaseURL set; needs the table owner or a superuser) or SQLite.
package audittest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/execution-orchestrator/orchestrator/audit"
)

// storedTime is the ledger's text form of times (audit/schema.go).
const storedTime = "2006-01-02T15:04:05.000000000Z07:00"

var tables = []string{"audit_entries", "audit_checkpoints"}

// Bypass runs fn in one transaction with the append-only triggers out of
// the way: on PostgreSQL disabled (ALTER TABLE ... DISABLE TRIGGER USER,
// invisible to other sessions until commit, when they are enabled again),
// on SQLite dropped and re-created from their stored definitions.
func Bypass(t testing.TB, databaseURL, sqlitePath string, fn func(tx *sql.Tx) error) {
	t.Helper()
	ctx := context.Background()
	driver, dsn := "pgx", databaseURL
	if databaseURL == "" {
		driver, dsn = "sqlite", "file:"+sqlitePath+"?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("audittest: open: %v", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("audittest: begin: %v", err)
	}
	defer tx.Rollback()
	var restore []string
	if databaseURL != "" {
		for _, tbl := range tables {
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+tbl+" DISABLE TRIGGER USER"); err != nil {
				t.Fatalf("audittest: disable triggers: %v", err)
			}
			restore = append(restore, "ALTER TABLE "+tbl+" ENABLE TRIGGER USER")
		}
	} else {
		rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('audit_entries', 'audit_checkpoints')`)
		if err != nil {
			t.Fatalf("audittest: list triggers: %v", err)
		}
		var names []string
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				t.Fatalf("audittest: list triggers: %v", err)
			}
			names = append(names, name)
			restore = append(restore, def)
		}
		rows.Close()
		for _, name := range names {
			if _, err := tx.ExecContext(ctx, `DROP TRIGGER "`+name+`"`); err != nil {
				t.Fatalf("audittest: drop trigger %s: %v", name, err)
			}
		}
	}
	if err := fn(tx); err != nil {
		t.Fatalf("audittest: tamper: %v", err)
	}
	for _, stmt := range restore {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("audittest: restore triggers: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("audittest: commit: %v", err)
	}
}

// Exec runs one statement on the ledger with the triggers bypassed and
// fails the test unless it changed at least one row.
func Exec(t testing.TB, databaseURL, sqlitePath, query string, args ...any) {
	t.Helper()
	Bypass(t, databaseURL, sqlitePath, func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%s: no row changed", query)
		}
		return nil
	})
}

// UpdateSummary rewrites entry seq's summary in place, keeping its hash.
func UpdateSummary(t testing.TB, databaseURL, sqlitePath string, seq int64, text string) {
	t.Helper()
	Exec(t, databaseURL, sqlitePath, `UPDATE audit_entries SET summary = $1 WHERE seq = $2`, text, seq)
}

// DeleteEntry removes entry seq.
func DeleteEntry(t testing.TB, databaseURL, sqlitePath string, seq int64) {
	t.Helper()
	Exec(t, databaseURL, sqlitePath, `DELETE FROM audit_entries WHERE seq = $1`, seq)
}

// TruncateAfter removes every entry after seq (checkpoints stay).
func TruncateAfter(t testing.TB, databaseURL, sqlitePath string, seq int64) {
	t.Helper()
	Exec(t, databaseURL, sqlitePath, `DELETE FROM audit_entries WHERE seq > $1`, seq)
}

// DeleteCheckpointsAfter removes every checkpoint after seq: with
// TruncateAfter, a truncation the database alone no longer shows.
func DeleteCheckpointsAfter(t testing.TB, databaseURL, sqlitePath string, seq int64) {
	t.Helper()
	Exec(t, databaseURL, sqlitePath, `DELETE FROM audit_checkpoints WHERE seq > $1`, seq)
}

// Forge builds an entry at seq after prevHash with a hash that matches its
// own content: what a forger who knows the scheme would write.
func Forge(t testing.TB, seq int64, prevHash string, ev audit.Event, recordedAt time.Time) audit.Entry {
	t.Helper()
	ev.At = ev.At.UTC()
	e := audit.Entry{Seq: seq, Event: ev, RecordedAt: recordedAt.UTC(), PrevHash: prevHash}
	h, err := audit.HashEntry(e)
	if err != nil {
		t.Fatalf("audittest: forge: %v", err)
	}
	e.Hash = h
	return e
}

// InsertForged writes e as a row of the ledger, as given (see Forge).
func InsertForged(t testing.TB, databaseURL, sqlitePath string, e audit.Entry) {
	t.Helper()
	links := ""
	if len(e.Event.Links) > 0 {
		raw, err := json.Marshal(e.Event.Links)
		if err != nil {
			t.Fatal(err)
		}
		links = string(raw)
	}
	ev := e.Event
	Exec(t, databaseURL, sqlitePath, `INSERT INTO audit_entries (seq, event_id, process, business_key, workflow_id, run_id, kind, actor, summary, event_at, data, links, recorded_at, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		e.Seq, ev.ID, ev.Process, ev.BusinessKey, ev.WorkflowID, ev.RunID, string(ev.Kind), ev.Actor, ev.Summary,
		ev.At.UTC().Format(storedTime), string(ev.Data), links, e.RecordedAt.UTC().Format(storedTime), e.PrevHash, e.Hash)
}
