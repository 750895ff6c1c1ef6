// Package sandboxtest starts an isolated sandbox for a test: PostgreSQL in a
// fresh schema when DATABASE_URL is set, else SQLite in t.TempDir(); both
// listeners on free loopback ports.
package sandboxtest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
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
	cfg.DatabaseURL = testdb.URL(t, "sandbox_test")
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
