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
	"path/filepath"
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

// Engine is one database a store's tests run on: SQLite always, PostgreSQL
// too when DATABASE_URL is set.
type Engine struct {
	Name     string
	postgres bool
	prefix   string
}

// Engines lists the engines to test on; prefix names the PostgreSQL schemas.
func Engines(prefix string) []Engine {
	e := []Engine{{Name: "sqlite", prefix: prefix}}
	if os.Getenv("DATABASE_URL") != "" {
		e = append(e, Engine{Name: "postgres", postgres: true, prefix: prefix})
	}
	return e
}

// Locate returns where a store under test opens: a fresh PostgreSQL schema's
// URL, or "" and a fresh SQLite file in t.TempDir().
func (e Engine) Locate(t testing.TB, file string) (databaseURL, sqlitePath string) {
	t.Helper()
	if e.postgres {
		return URL(t, e.prefix), ""
	}
	return "", filepath.Join(t.TempDir(), file)
}
