// Package sqldb opens the database our small stores share: PostgreSQL when a
// URL is given, otherwise an embedded SQLite file set up so the worker and
// the web app can use it at once. Each store creates its own tables.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver (pure Go, no cgo)
)

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to
// the SQLite file sqlitePath, and runs ddl (CREATE TABLE IF NOT EXISTS ...).
// what names the store in errors, e.g. "link token".
func Open(ctx context.Context, what, databaseURL, sqlitePath, ddl string) (*sql.DB, error) {
	var (
		db  *sql.DB
		err error
	)
	switch {
	case databaseURL != "":
		db, err = sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("open %s database: %w", what, Redact(err, databaseURL))
		}
	case sqlitePath != "":
		// The file holds secrets (one-time code seeds) and link-token
		// hashes: readable by its owner only. SQLite gives its -wal and
		// -shm files the database file's permissions.
		f, ferr := os.OpenFile(sqlitePath, os.O_RDWR|os.O_CREATE, 0o600)
		if ferr != nil {
			return nil, fmt.Errorf("open %s sqlite %s: %w", what, sqlitePath, ferr)
		}
		f.Close()
		// busy_timeout lets the worker and the web app share the file;
		// WAL keeps readers from blocking the writer.
		dsn := "file:" + sqlitePath + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
		db, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open %s sqlite %s: %w", what, sqlitePath, err)
		}
	default:
		return nil, fmt.Errorf("open %s store: databaseURL or sqlitePath is required", what)
	}
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s table: %w", what, Redact(err, databaseURL))
	}
	return db, nil
}

// Redact keeps a password in the URL out of error messages.
func Redact(err error, databaseURL string) error {
	u, perr := url.Parse(databaseURL)
	if perr != nil || u.User == nil {
		return err
	}
	if p, ok := u.User.Password(); ok && p != "" && strings.Contains(err.Error(), p) {
		return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
	}
	return err
}
