package sqldb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The SQLite file holds secrets: only its owner may read it.
func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := Open(context.Background(), "test", "", path, `CREATE TABLE IF NOT EXISTS t (x TEXT)`)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO t VALUES ('secret')`); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group or others", filepath.Base(f), perm)
		}
	}
	if _, err := Open(context.Background(), "test", "", "", ""); err == nil {
		t.Error("Open without a location succeeded")
	}
}
