package workforce

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/sqldb"
)

// Errors of the store.
var (
	// ErrNotFound: no worker has the id.
	ErrNotFound = errors.New("no such worker")
	// ErrOpKeyReused: AdjustLoadOnce was called again with an op key
	// already used for another worker or another delta.
	ErrOpKeyReused = errors.New("load adjustment key was already used for a different adjustment")
)

// Store keeps the workforce in PostgreSQL or SQLite: each worker as JSON
// beside its id, except the load, which has a column of its own so that
// AdjustLoad can change it in one atomic statement. The column is the
// truth; the JSON's "load" is overwritten with it on every read.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to the
// SQLite file sqlitePath, and creates the workforce tables if missing. now
// is the clock (nil means time.Now).
func Open(ctx context.Context, databaseURL, sqlitePath string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	// Times are Unix milliseconds, as in the other stores.
	const workers = `CREATE TABLE IF NOT EXISTS workforce_workers (
	id         TEXT PRIMARY KEY,
	worker     TEXT NOT NULL,
	task_load  INTEGER NOT NULL,
	updated_at BIGINT NOT NULL
)`
	// One row per applied AdjustLoadOnce: a retried activity finds its key
	// here and adjusts nothing.
	const ops = `CREATE TABLE IF NOT EXISTS workforce_load_ops (
	op_key     TEXT PRIMARY KEY,
	worker_id  TEXT NOT NULL,
	delta      INTEGER NOT NULL,
	applied_at BIGINT NOT NULL
)`
	db, err := sqldb.Open(ctx, "workforce", databaseURL, sqlitePath, workers)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, ops); err != nil {
		db.Close()
		return nil, fmt.Errorf("create workforce load ops table: %w", sqldb.Redact(err, databaseURL))
	}
	return &Store{db: db, now: now}, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Put validates w and stores it, replacing the worker with its id if there
// is one — except the load: that is the live count of tasks held, owned by
// AdjustLoad, and an edit made from an older read must not reset it. A new
// worker starts with w.Load.
func (s *Store) Put(ctx context.Context, w Worker) error {
	if err := Validate(w); err != nil {
		return err
	}
	doc, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("put worker %s: %w", w.ID, err)
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO workforce_workers (id, worker, task_load, updated_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (id) DO UPDATE SET worker = excluded.worker, updated_at = excluded.updated_at`,
		w.ID, string(doc), w.Load, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("put worker %s: %w", w.ID, err)
	}
	return nil
}

// Get returns the worker with id, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Worker, error) {
	var (
		doc  string
		load int
	)
	err := s.db.QueryRowContext(ctx, `SELECT worker, task_load FROM workforce_workers WHERE id = $1`, id).Scan(&doc, &load)
	if errors.Is(err, sql.ErrNoRows) {
		return Worker{}, fmt.Errorf("worker %q: %w", clip(id), ErrNotFound)
	}
	if err != nil {
		return Worker{}, fmt.Errorf("get worker %s: %w", clip(id), err)
	}
	return decodeRow(id, doc, load)
}

// List returns every worker, by id.
func (s *Store) List(ctx context.Context) ([]Worker, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, worker, task_load FROM workforce_workers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rows.Close()
	out := []Worker{}
	for rows.Next() {
		var (
			id, doc string
			load    int
		)
		if err := rows.Scan(&id, &doc, &load); err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		w, err := decodeRow(id, doc, load)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	// By byte order whatever the database's collation.
	slices.SortFunc(out, func(a, b Worker) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Remove deletes the worker with id (an error wrapping ErrNotFound if there
// is none). Load adjustments already recorded for them stay recorded.
func (s *Store) Remove(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM workforce_workers WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("remove worker %s: %w", clip(id), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("remove worker %s: %w", clip(id), err)
	}
	if n == 0 {
		return fmt.Errorf("worker %q: %w", clip(id), ErrNotFound)
	}
	return nil
}

// adjust is the one statement that changes a load: read and write in one,
// so concurrent adjustments never lose each other, and never below 0.
const adjust = `UPDATE workforce_workers
	SET task_load = CASE WHEN task_load + $1 < 0 THEN 0 ELSE task_load + $1 END, updated_at = $2
	WHERE id = $3
	RETURNING worker, task_load`

// AdjustLoad adds delta (negative to release) to the worker's load, never
// below 0, atomically, and returns the worker as it is now. Calling it
// twice adjusts twice: a retried caller wants AdjustLoadOnce.
func (s *Store) AdjustLoad(ctx context.Context, id string, delta int) (Worker, error) {
	var (
		doc  string
		load int
	)
	err := s.db.QueryRowContext(ctx, adjust, delta, s.now().UnixMilli(), id).Scan(&doc, &load)
	if errors.Is(err, sql.ErrNoRows) {
		return Worker{}, fmt.Errorf("adjust load of worker %q: %w", clip(id), ErrNotFound)
	}
	if err != nil {
		return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
	}
	return decodeRow(id, doc, load)
}

// AdjustLoadOnce is AdjustLoad for a caller that may repeat itself (a
// retried Temporal activity): opKey names the adjustment, and only its
// first use adjusts; a repeat returns the worker as it is now. Recording
// the key and adjusting are one transaction, so a failure leaves neither.
// A key reused for another worker or delta is ErrOpKeyReused.
func (s *Store) AdjustLoadOnce(ctx context.Context, id, opKey string, delta int) (Worker, error) {
	if opKey == "" {
		return Worker{}, fmt.Errorf("adjust load of worker %s: opKey is required", clip(id))
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	now := s.now().UnixMilli()
	// Writing first takes the write lock at once (SQLite) or waits for a
	// concurrent use of the same key to commit (PostgreSQL).
	res, err := tx.ExecContext(ctx,
		`INSERT INTO workforce_load_ops (op_key, worker_id, delta, applied_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (op_key) DO NOTHING`, opKey, id, delta, now)
	if err != nil {
		return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
	}
	if n == 0 {
		var (
			prevID    string
			prevDelta int
		)
		if err := tx.QueryRowContext(ctx, `SELECT worker_id, delta FROM workforce_load_ops WHERE op_key = $1`, opKey).
			Scan(&prevID, &prevDelta); err != nil {
			return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
		}
		if prevID != id || prevDelta != delta {
			return Worker{}, fmt.Errorf("adjust load of worker %s by %d with key %q (used for %s by %d): %w",
				clip(id), delta, clip(opKey), clip(prevID), prevDelta, ErrOpKeyReused)
		}
		var (
			doc  string
			load int
		)
		err := tx.QueryRowContext(ctx, `SELECT worker, task_load FROM workforce_workers WHERE id = $1`, id).Scan(&doc, &load)
		if errors.Is(err, sql.ErrNoRows) {
			return Worker{}, fmt.Errorf("adjust load of worker %q: %w", clip(id), ErrNotFound)
		}
		if err != nil {
			return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
		}
		return decodeRow(id, doc, load)
	}
	var (
		doc  string
		load int
	)
	err = tx.QueryRowContext(ctx, adjust, delta, now, id).Scan(&doc, &load)
	if errors.Is(err, sql.ErrNoRows) {
		// Not recorded either: the rollback drops the key.
		return Worker{}, fmt.Errorf("adjust load of worker %q: %w", clip(id), ErrNotFound)
	}
	if err != nil {
		return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
	}
	if err := tx.Commit(); err != nil {
		return Worker{}, fmt.Errorf("adjust load of worker %s: %w", clip(id), err)
	}
	return decodeRow(id, doc, load)
}

// Seed puts DemoWorkers when the workforce is empty, and does nothing
// otherwise (a directory someone edited is left alone). It reports whether
// it seeded through the error only; List tells the rest.
func (s *Store) Seed(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM workforce_workers`).Scan(&n); err != nil {
		return fmt.Errorf("seed workforce: %w", err)
	}
	if n > 0 {
		return nil
	}
	now := s.now().UnixMilli()
	for _, w := range DemoWorkers() {
		if err := Validate(w); err != nil {
			return fmt.Errorf("seed workforce: demo worker %s: %w", w.ID, err)
		}
		doc, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("seed workforce: %w", err)
		}
		// DO NOTHING: a concurrent seed (worker and web app starting
		// together) or a put in between wins.
		if _, err := s.db.ExecContext(ctx,
			`INSERT INTO workforce_workers (id, worker, task_load, updated_at) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (id) DO NOTHING`, w.ID, string(doc), w.Load, now); err != nil {
			return fmt.Errorf("seed workforce: worker %s: %w", w.ID, err)
		}
	}
	return nil
}

func decodeRow(id, doc string, load int) (Worker, error) {
	var w Worker
	if err := json.Unmarshal([]byte(doc), &w); err != nil {
		return Worker{}, fmt.Errorf("worker %s: stored record is not valid JSON: %w", clip(id), err)
	}
	w.ID, w.Load = id, load
	return w, nil
}
