// Package sandboxtest starts an isolated sandbox for a test: PostgreSQL in a
// fresh schema when DATABASE_URL is set, else SQLite in t.TempDir(); both
// listeners on free loopback ports.
package sandboxtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for schema setup

	"github.com/execution-orchestrator/orchestrator/sandbox"
)

// Start starts a sandbox with seed data; mutate may adjust the config before
// start. The sandbox is closed (and its schema dropped) in t.Cleanup.
func Start(t testing.TB, mutate func(*sandbox.Config)) *sandbox.Server {
	t.Helper()
	cfg := sandbox.Config{
		HTTPAddr:   "127.0.0.1:0",
		SMTPAddr:   "127.0.0.1:0",
		SQLitePath: filepath.Join(t.TempDir(), "sandbox.db"),
		Seed:       true,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		cfg.DatabaseURL = IsolatedSchema(t, u)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := sandbox.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sandbox: %v", err)
		}
	})
	return s
}

// IsolatedSchema creates a uniquely named schema in the PostgreSQL database
// at databaseURL, drops it in t.Cleanup, and returns databaseURL with
// search_path set to it.
func IsolatedSchema(t testing.TB, databaseURL string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random schema name: %v", err)
	}
	schema := "sandbox_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		t.Fatalf("open DATABASE_URL: %v", err)
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
