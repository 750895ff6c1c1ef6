package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/execution-orchestrator/orchestrator/agentapi"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// agentsCLI runs "orchestrator agents ..." against one store.
type agentsCLI struct {
	dataDir, databaseURL string
}

func (a agentsCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	args = append(append([]string{"agents"}, args...), "--data-dir", a.dataDir, "--database-url", a.databaseURL)
	err := run(context.Background(), args, &out, slog.New(slog.DiscardHandler))
	return out.String(), err
}

func (a agentsCLI) db(t *testing.T) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", a.databaseURL
	if dsn == "" {
		driver, dsn = "sqlite", filepath.Join(a.dataDir, "orchestrator.db")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var keyRE = regexp.MustCompile(agentapi.KeyPrefix + `[A-Za-z0-9_-]{43}`)

// agents create prints the key once and stores only its hash; revoke and
// list work; a bad scope is refused by name.
func TestAgentsCommands(t *testing.T) {
	for _, e := range testdb.Engines("cli_agents") {
		t.Run(e.Name, func(t *testing.T) {
			dbURL, path := e.Locate(t, "unused.db")
			cli := agentsCLI{dataDir: filepath.Dir(path), databaseURL: dbURL}
			if dbURL != "" {
				cli.dataDir = t.TempDir()
			}

			out, err := cli.run(t, "create", "billing-bot", "--scopes", "actions:read,actions:propose")
			if err != nil {
				t.Fatal(err)
			}
			keys := keyRE.FindAllString(out, -1)
			if len(keys) != 1 {
				t.Fatalf("create printed %d keys, want exactly one:\n%s", len(keys), out)
			}
			key := keys[0]
			if !strings.Contains(out, "not stored") {
				t.Errorf("create does not say the key is not stored:\n%s", out)
			}

			db := cli.db(t)
			var hash, scopes string
			if err := db.QueryRow(`SELECT key_hash, scopes FROM agent_keys WHERE name = $1`, "billing-bot").Scan(&hash, &scopes); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(key))
			if hash != hex.EncodeToString(sum[:]) {
				t.Errorf("stored %q, want the key's SHA-256", hash)
			}
			if scopes != "actions:propose actions:read" {
				t.Errorf("scopes = %q", scopes)
			}
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM agent_keys WHERE key_hash = $1 OR scopes LIKE $2 OR name LIKE $2`, key, "%"+key[4:20]+"%").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Error("the key itself is in the database")
			}
			if e.Name == "sqlite" {
				raw, err := os.ReadFile(filepath.Join(cli.dataDir, "orchestrator.db"))
				if err != nil {
					t.Fatal(err)
				}
				wal, _ := os.ReadFile(filepath.Join(cli.dataDir, "orchestrator.db-wal"))
				if bytes.Contains(raw, []byte(key)) || bytes.Contains(wal, []byte(key)) {
					t.Error("the key is in the SQLite file")
				}
			}

			if _, err := cli.run(t, "create", "billing-bot"); err == nil || !strings.Contains(err.Error(), "revoke it first") {
				t.Errorf("create of an active agent: err = %v", err)
			}

			out, err = cli.run(t, "list")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "billing-bot") || !strings.Contains(out, "actions:propose,actions:read") || keyRE.MatchString(out) {
				t.Errorf("list:\n%s", out)
			}

			if out, err = cli.run(t, "revoke", "billing-bot"); err != nil {
				t.Fatal(err)
			}
			var revoked sql.NullInt64
			if err := db.QueryRow(`SELECT revoked_at FROM agent_keys WHERE name = $1`, "billing-bot").Scan(&revoked); err != nil {
				t.Fatal(err)
			}
			if !revoked.Valid {
				t.Errorf("revoke did not revoke:\n%s", out)
			}
			out, err = cli.run(t, "list")
			if err != nil {
				t.Fatal(err)
			}
			if line := strings.Split(strings.TrimSpace(out), "\n")[1]; strings.HasSuffix(strings.TrimSpace(line), " -") {
				t.Errorf("list does not show the revocation:\n%s", out)
			}

			// A revoked name gets a new key.
			out, err = cli.run(t, "create", "billing-bot", "--scopes", "actions:read")
			if err != nil {
				t.Fatal(err)
			}
			if k := keyRE.FindString(out); k == "" || k == key {
				t.Errorf("re-create printed %q, want a new key", k)
			}
		})
	}
}

func TestAgentsCommandsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	cli := agentsCLI{dataDir: dir}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"create", "bot", "--scopes", "actions:read,actions:approve"}, `"actions:approve"`},
		{[]string{"create", "bot", "--scopes", ""}, "at least one scope"},
		{[]string{"create", "Bot_1"}, `"Bot_1"`},
		{[]string{"create", "--scopes", "actions:read"}, "agent name"},
		{[]string{"revoke", "nobody"}, "no such agent"},
		{[]string{"rotate", "bot"}, `"rotate"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := cli.run(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestAgentGatewayCommandsRefuseBadInput(t *testing.T) {
	t.Setenv(agentKeyEnv, "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"mcp"}, agentKeyEnv},
		{[]string{"agent-api", "--addr", "0.0.0.0:8070"}, "--agent-api-base-url"},
		{[]string{"agent-api", "--addr", "nocolon"}, "--addr"},
		{[]string{"agent-api", "--agent-api-base-url", "127.0.0.1:8070"}, "--agent-api-base-url"},
		{[]string{"dev", "--agent-api-addr", "nocolon"}, "--agent-api-addr"},
		{[]string{"agents"}, "create NAME"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestMCPRefusesPlainHTTPToAnotherMachine(t *testing.T) {
	t.Setenv(agentKeyEnv, "eoa_whatever")
	err := run(context.Background(), []string{"mcp", "--url", "http://gateway.example.com/mcp"}, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("err = %v, want a refusal asking for https", err)
	}
}
