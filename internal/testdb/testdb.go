// Package testdb gives each test its own PostgreSQL schema when DATABASE_URL
// is set, because test packages run in parallel against one database.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// URL returns a PostgreSQL URL whose search_path is a fresh schema, dropped
// when the test ends; or "" when DATABASE_URL is unset (callers then use
// SQLite in t.TempDir()).
func URL(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		return ""
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	schema := prefix + "_" + hex.EncodeToString(suffix)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", "DATABASE_URL", err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
