package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// escalationSchema holds the tables of the ticketing and chat systems, the
// CRM's commercial profiles and the idempotency keys of their mutations.
// They are separate tables (not new columns), so stores written before them
// migrate with CREATE TABLE IF NOT EXISTS alone.
var escalationSchema = []string{
	`CREATE TABLE IF NOT EXISTS sandbox_idempotency (
		scope TEXT NOT NULL,
		idempotency_key TEXT NOT NULL,
		request_hash TEXT NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (scope, idempotency_key))`,
	`CREATE TABLE IF NOT EXISTS sandbox_crm_profiles (
		account_id TEXT PRIMARY KEY,
		arr_minor BIGINT NOT NULL,
		currency TEXT NOT NULL,
		owner TEXT NOT NULL,
		csm TEXT NOT NULL,
		tier TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_crm_health (
		account_id TEXT NOT NULL,
		seq BIGINT NOT NULL,
		score BIGINT NOT NULL,
		at TEXT NOT NULL,
		PRIMARY KEY (account_id, seq))`,
	`CREATE TABLE IF NOT EXISTS sandbox_tickets (
		id TEXT PRIMARY KEY,
		idempotency_key TEXT NOT NULL,
		project TEXT NOT NULL,
		num BIGINT NOT NULL,
		title TEXT NOT NULL,
		description TEXT NOT NULL,
		priority TEXT NOT NULL,
		status TEXT NOT NULL,
		assignee TEXT NOT NULL,
		account_id TEXT NOT NULL,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL,
		resolved_at TEXT NOT NULL DEFAULT '',
		seq BIGINT NOT NULL,
		UNIQUE (project, num))`,
	`CREATE TABLE IF NOT EXISTS sandbox_ticket_comments (
		issue_id TEXT NOT NULL,
		id TEXT NOT NULL,
		author TEXT NOT NULL,
		body TEXT NOT NULL,
		at TEXT NOT NULL,
		seq BIGINT NOT NULL,
		PRIMARY KEY (issue_id, id))`,
	`CREATE TABLE IF NOT EXISTS sandbox_ticket_links (
		issue_id TEXT NOT NULL,
		link_type TEXT NOT NULL,
		target_id TEXT NOT NULL,
		seq BIGINT NOT NULL,
		PRIMARY KEY (issue_id, link_type, target_id))`,
	`CREATE TABLE IF NOT EXISTS sandbox_ticket_history (
		issue_id TEXT NOT NULL,
		seq BIGINT NOT NULL,
		from_status TEXT NOT NULL,
		to_status TEXT NOT NULL,
		by_whom TEXT NOT NULL,
		at TEXT NOT NULL,
		PRIMARY KEY (issue_id, seq))`,
	`CREATE TABLE IF NOT EXISTS sandbox_chat_channels (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		account_id TEXT NOT NULL,
		idempotency_key TEXT NOT NULL,
		created_at TEXT NOT NULL,
		seq BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_chat_messages (
		id TEXT PRIMARY KEY,
		seq BIGINT NOT NULL UNIQUE,
		channel_id TEXT NOT NULL,
		author TEXT NOT NULL,
		text TEXT NOT NULL,
		thread_id TEXT NOT NULL,
		bot BOOLEAN NOT NULL,
		idempotency_key TEXT NOT NULL,
		at TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS sandbox_chat_messages_channel ON sandbox_chat_messages (channel_id, seq)`,
	`CREATE TABLE IF NOT EXISTS sandbox_chat_webhooks (
		url TEXT PRIMARY KEY,
		secret TEXT NOT NULL,
		created_at TEXT NOT NULL)`,
}

// errKeyReuse: the Idempotency-Key was already used with a different request.
var errKeyReuse = errors.New("Idempotency-Key was already used with a different request")

// once applies a keyed mutation exactly once. In one transaction it records
// (scope, key) with the request hash and runs apply; if the key is already
// recorded it runs nothing and reports a replay, or errKeyReuse when the
// hash differs. An error from apply rolls back the key with the change, so a
// refused request does not use the key up. A concurrent request with the
// same key waits for this one (PostgreSQL: the key's row lock; SQLite: the
// one connection) and then sees it as a replay.
func (s *store) once(ctx context.Context, scope, key, hash string, at time.Time, apply func(*sql.Tx) error) (replay bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin %s: %w", scope, err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO sandbox_idempotency (scope, idempotency_key, request_hash, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`), scope, key, hash, formatStoreTime(at))
	if err != nil {
		return false, fmt.Errorf("record key of %s: %w", scope, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record key of %s: %w", scope, err)
	}
	if n == 0 {
		var stored string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT request_hash FROM sandbox_idempotency WHERE scope = ? AND idempotency_key = ?`),
			scope, key).Scan(&stored); err != nil {
			return false, fmt.Errorf("read key of %s: %w", scope, err)
		}
		if stored != hash {
			return false, errKeyReuse
		}
		return true, nil
	}
	if err := apply(tx); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit %s: %w", scope, err)
	}
	return false, nil
}

// keyedStatus is the status of the answer to a keyed mutation: a replay is
// flagged with the Idempotent-Replayed header and answers replayStatus, a
// first application status.
func keyedStatus(w http.ResponseWriter, replay bool, status, replayStatus int) int {
	if replay {
		w.Header().Set("Idempotent-Replayed", "true")
		return replayStatus
	}
	return status
}

// writeKeyReuse answers errKeyReuse: 409 naming the Idempotency-Key.
func writeKeyReuse(w http.ResponseWriter) {
	writeError(w, http.StatusConflict, errKeyReuse.Error(), "Idempotency-Key")
}

// nextSeq is one more than the largest seq of table (0 when empty), read in
// tx; callers hold writeMu, so no other writer draws the same number.
func (s *store) nextSeq(ctx context.Context, tx *sql.Tx, table, where string, args ...any) (int64, error) {
	q := `SELECT COALESCE(MAX(seq), 0) + 1 FROM ` + table
	if where != "" {
		q += ` WHERE ` + where
	}
	var n int64
	if err := tx.QueryRowContext(ctx, s.q(q), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("next seq of %s: %w", table, err)
	}
	return n, nil
}

func parseStoreTime(what, v string) (time.Time, error) {
	t, err := time.Parse(storeTime, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("decode %s: %w", what, err)
	}
	return t, nil
}
