package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/sqldb"
)

// Errors of the ledger besides ErrInvalidEvent.
var (
	// ErrNoSigner: Checkpoint was called on a ledger opened without a key.
	ErrNoSigner = errors.New("audit ledger has no checkpoint signing key")
	// ErrEmpty: there is nothing to checkpoint yet.
	ErrEmpty = errors.New("audit ledger is empty")
)

// DefaultCheckpointEvery is how many entries apart automatic checkpoints are.
const DefaultCheckpointEvery = 100

// Options configure a Ledger.
type Options struct {
	// Now is the clock of RecordedAt and checkpoints; nil means time.Now.
	Now func() time.Time
	// Signer signs checkpoints; nil: the ledger cannot checkpoint.
	Signer ed25519.PrivateKey
	// CheckpointEvery: Append signs a checkpoint whenever the new entry's
	// seq is a multiple of it. 0 means DefaultCheckpointEvery; negative
	// turns automatic checkpoints off.
	CheckpointEvery int
}

// Ledger is the append-only hash chain in PostgreSQL or SQLite. Several
// processes may append to one database at once: appends are serialized in
// the database (an advisory lock, or SQLite's write lock), so the chain
// has one order whoever writes.
type Ledger struct {
	db       *sql.DB
	postgres bool
	now      func() time.Time
	signer   ed25519.PrivateKey
	every    int64
	// mu keeps this process's SQLite appends from competing for the file
	// lock among themselves; other processes wait in busy_timeout.
	mu sync.Mutex
}

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to
// the SQLite file sqlitePath, and creates the ledger's tables and its
// append-only triggers if missing.
func Open(ctx context.Context, databaseURL, sqlitePath string, opts Options) (*Ledger, error) {
	if opts.Signer != nil && len(opts.Signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("open audit ledger: signer is %d bytes, want %d", len(opts.Signer), ed25519.PrivateKeySize)
	}
	// The schema needs more than one statement and, on PostgreSQL, a
	// lock and a check first: createSchema does it, sqldb.Open only
	// connects.
	db, err := sqldb.Open(ctx, "audit", databaseURL, sqlitePath, "SELECT 1")
	if err != nil {
		return nil, err
	}
	l := &Ledger{db: db, postgres: databaseURL != "", now: opts.Now, signer: opts.Signer, every: int64(opts.CheckpointEvery)}
	if l.now == nil {
		l.now = time.Now
	}
	if l.every == 0 {
		l.every = DefaultCheckpointEvery
	}
	if err := createSchema(ctx, db, l.postgres); err != nil {
		db.Close()
		return nil, fmt.Errorf("create audit tables: %w", sqldb.Redact(err, databaseURL))
	}
	return l, nil
}

// Close releases the database.
func (l *Ledger) Close() error { return l.db.Close() }

// querier is what a statement runs on: the pool, a transaction or a
// connection in a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in a transaction holding the ledger's write lock, so
// reading the head and inserting after it is atomic across processes.
func (l *Ledger) write(ctx context.Context, fn func(q querier) error) error {
	if !l.postgres {
		l.mu.Lock()
		defer l.mu.Unlock()
		return sqliteImmediate(ctx, l.db, fn)
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Keyed by the table's oid: one lock per ledger, not per database.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, 'audit_entries'::regclass::oid::int)`, appendLockClass); err != nil {
		return fmt.Errorf("lock audit ledger: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// sqliteImmediate runs fn between BEGIN IMMEDIATE and COMMIT on one
// connection. A deferred transaction (database/sql's) would read first
// and fail with SQLITE_BUSY when upgrading to write after another process
// wrote; IMMEDIATE takes the write lock up front, waiting in busy_timeout.
func sqliteImmediate(ctx context.Context, db *sql.DB, fn func(q querier) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("lock audit ledger: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		// The connection goes back to the pool: never inside a transaction.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

const entryColumns = `seq, event_id, process, business_key, workflow_id, run_id, kind, actor, summary, event_at, data, links, recorded_at, prev_hash, hash`

// Append adds ev to the chain and returns the stored entry. It is
// idempotent by ev.ID: an id already in the ledger returns the entry
// stored for it, unchanged, whatever else ev says. Content errors wrap
// ErrInvalidEvent.
func (l *Ledger) Append(ctx context.Context, ev Event) (Entry, error) {
	ev, err := normalize(ev, l.now())
	if err != nil {
		return Entry{}, err
	}
	// The common retry case, answered without taking the lock.
	if e, ok, err := entryByEventID(ctx, l.db, ev.ID); err != nil || ok {
		return e, err
	}
	var out Entry
	err = l.write(ctx, func(q querier) error {
		e, ok, err := entryByEventID(ctx, q, ev.ID)
		if err != nil || ok {
			out = e
			return err
		}
		seq, prev, err := head(ctx, q)
		if err != nil {
			return err
		}
		e = Entry{Seq: seq + 1, Event: ev, RecordedAt: l.now().UTC(), PrevHash: prev}
		if e.Hash, err = HashEntry(e); err != nil {
			return err
		}
		if err := insertEntry(ctx, q, e); err != nil {
			return err
		}
		if l.signer != nil && l.every > 0 && e.Seq%l.every == 0 {
			c, err := SignCheckpoint(l.signer, e.Seq, e.Hash, l.now())
			if err != nil {
				return err
			}
			// A checkpoint at this seq exists only if the ledger was cut
			// back below it; verify reports that, and the append stands.
			if err := insertCheckpoint(ctx, q, c, true); err != nil {
				return err
			}
		}
		out = e
		return nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("append audit event %s: %w", ev.ID, err)
	}
	return out, nil
}

func insertEntry(ctx context.Context, q querier, e Entry) error {
	links := ""
	if len(e.Event.Links) > 0 {
		raw, err := json.Marshal(e.Event.Links)
		if err != nil {
			return err
		}
		links = string(raw)
	}
	ev := e.Event
	_, err := q.ExecContext(ctx, `INSERT INTO audit_entries (`+entryColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		e.Seq, ev.ID, ev.Process, ev.BusinessKey, ev.WorkflowID, ev.RunID, string(ev.Kind), ev.Actor, ev.Summary,
		ev.At.UTC().Format(storedTime), string(ev.Data), links, e.RecordedAt.UTC().Format(storedTime), e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("insert entry %d: %w", e.Seq, err)
	}
	return nil
}

func insertCheckpoint(ctx context.Context, q querier, c Checkpoint, ignoreExisting bool) error {
	query := `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`
	if ignoreExisting {
		query += ` ON CONFLICT (seq) DO NOTHING`
	}
	if _, err := q.ExecContext(ctx, query, c.Seq, c.Hash, c.At.UTC().Format(storedTime), c.KeyID, c.Signature); err != nil {
		return fmt.Errorf("insert checkpoint %d: %w", c.Seq, err)
	}
	return nil
}

func entryByEventID(ctx context.Context, q querier, id string) (Entry, bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE event_id = $1`, id)
	if err != nil {
		return Entry{}, false, fmt.Errorf("look up event %s: %w", id, err)
	}
	all, err := scanEntries(rows)
	if err != nil || len(all) == 0 {
		return Entry{}, false, err
	}
	return all[0], true, nil
}

// head returns the last entry's seq and hash: 0 and GenesisHash when empty.
func head(ctx context.Context, q querier) (int64, string, error) {
	var (
		seq  int64
		hash string
	)
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, GenesisHash, nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read ledger head: %w", err)
	}
	return seq, hash, nil
}

// Head returns the last entry's seq and hash (0 and GenesisHash when the
// ledger is empty).
func (l *Ledger) Head(ctx context.Context) (seq int64, hash string, err error) {
	return head(ctx, l.db)
}

// Checkpoint signs the current head now and returns the checkpoint; if the
// last checkpoint already covers the head it returns that one. It refuses
// when the ledger ends before its last checkpoint: signing the shorter
// ledger would vouch for a truncation.
func (l *Ledger) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if l.signer == nil {
		return Checkpoint{}, ErrNoSigner
	}
	var out Checkpoint
	err := l.write(ctx, func(q querier) error {
		seq, hash, err := head(ctx, q)
		if err != nil {
			return err
		}
		if seq == 0 {
			return ErrEmpty
		}
		cps, err := checkpoints(ctx, q, `ORDER BY seq DESC LIMIT 1`)
		if err != nil {
			return err
		}
		if len(cps) == 1 {
			last := cps[0]
			if last.Seq == seq && last.Hash == hash {
				out = last
				return nil
			}
			if last.Seq >= seq {
				return fmt.Errorf("the ledger ends at entry %d (hash %s) but is checkpointed at %d (hash %s): truncated or rewritten; run `orchestrator audit verify`",
					seq, short(hash), last.Seq, short(last.Hash))
			}
		}
		c, err := SignCheckpoint(l.signer, seq, hash, l.now())
		if err != nil {
			return err
		}
		if err := insertCheckpoint(ctx, q, c, false); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit checkpoint: %w", err)
	}
	return out, nil
}

// Checkpoints returns every stored checkpoint, by seq.
func (l *Ledger) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	return checkpoints(ctx, l.db, `ORDER BY seq`)
}

func checkpoints(ctx context.Context, q querier, tail string) ([]Checkpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints `+tail)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	out := []Checkpoint{}
	for rows.Next() {
		var (
			c  Checkpoint
			at string
		)
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %w", err)
		}
		if c.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("checkpoint at seq %d: stored time %q is not a time (tampered?)", c.Seq, at)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	return out, nil
}

// Entries returns the entries f selects, by seq.
func (l *Ledger) Entries(ctx context.Context, f Filter) ([]Entry, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(col string, vs []string) {
		ph := make([]string, len(vs))
		for i, v := range vs {
			ph[i] = arg(v)
		}
		where = append(where, col+" IN ("+strings.Join(ph, ", ")+")")
	}
	if f.BusinessKey != "" {
		where = append(where, "business_key = "+arg(f.BusinessKey))
	}
	if len(f.WorkflowIDs) > 0 {
		in("workflow_id", f.WorkflowIDs)
	}
	if len(f.Kinds) > 0 {
		kinds := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			kinds[i] = string(k)
		}
		in("kind", kinds)
	}
	if f.Process != "" {
		where = append(where, "process = "+arg(f.Process))
	}
	if !f.Since.IsZero() {
		where = append(where, "event_at >= "+arg(f.Since.UTC().Format(storedTime)))
	}
	if !f.Until.IsZero() {
		where = append(where, "event_at < "+arg(f.Until.UTC().Format(storedTime)))
	}
	if f.AfterSeq > 0 {
		where = append(where, "seq > "+arg(f.AfterSeq))
	}
	query := `SELECT ` + entryColumns + ` FROM audit_entries`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq"
	if f.Limit > 0 {
		query += " LIMIT " + arg(f.Limit)
	}
	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit entries: %w", err)
	}
	return scanEntries(rows)
}

// History answers "what happened to key": the entries whose business key
// or workflow id is key, the other entries of the workflows those belong
// to (gate decisions carry only the workflow id), and the entries of the
// workflows they link to (a child run), one level deep; by seq.
func (l *Ledger) History(ctx context.Context, key string) ([]Entry, error) {
	if key == "" {
		return nil, errors.New("audit history: key is required")
	}
	rows, err := l.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE business_key = $1 OR workflow_id = $1 ORDER BY seq`, key)
	if err != nil {
		return nil, fmt.Errorf("audit history of %s: %w", key, err)
	}
	direct, err := scanEntries(rows)
	if err != nil {
		return nil, err
	}
	var wfs []string
	for _, e := range direct {
		wfs = append(wfs, e.Event.WorkflowID)
		wfs = append(wfs, e.Event.Links...)
	}
	wfs = slices.DeleteFunc(wfs, func(s string) bool { return s == "" || s == key })
	slices.Sort(wfs)
	wfs = slices.Compact(wfs)
	if len(wfs) == 0 {
		return direct, nil
	}
	related, err := l.Entries(ctx, Filter{WorkflowIDs: wfs})
	if err != nil {
		return nil, err
	}
	all := append(direct, related...)
	slices.SortFunc(all, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return slices.CompactFunc(all, func(a, b Entry) bool { return a.Seq == b.Seq }), nil
}

func scanEntries(rows *sql.Rows) ([]Entry, error) {
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var (
			e                  Entry
			kind, at, recorded string
			data, links        string
		)
		ev := &e.Event
		if err := rows.Scan(&e.Seq, &ev.ID, &ev.Process, &ev.BusinessKey, &ev.WorkflowID, &ev.RunID, &kind, &ev.Actor, &ev.Summary,
			&at, &data, &links, &recorded, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read audit entries: %w", err)
		}
		ev.Kind = Kind(kind)
		var err error
		if ev.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("entry %d: stored event time %q is not a time (tampered?)", e.Seq, at)
		}
		if e.RecordedAt, err = time.Parse(time.RFC3339Nano, recorded); err != nil {
			return nil, fmt.Errorf("entry %d: stored recording time %q is not a time (tampered?)", e.Seq, recorded)
		}
		if data != "" {
			ev.Data = json.RawMessage(data)
		}
		if links != "" {
			if err := json.Unmarshal([]byte(links), &ev.Links); err != nil {
				return nil, fmt.Errorf("entry %d: stored links are not a JSON list (tampered?): %w", e.Seq, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit entries: %w", err)
	}
	return out, nil
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
