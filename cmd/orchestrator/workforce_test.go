package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// workforceCLI runs "orchestrator workforce ..." against one store.
type workforceCLI struct {
	dataDir, databaseURL string
}

func (c workforceCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	args = append(append([]string{"workforce"}, args...), "--data-dir", c.dataDir, "--database-url", c.databaseURL)
	err := run(context.Background(), args, &out, slog.New(slog.DiscardHandler))
	return out.String(), err
}

func writeWorkerFile(t *testing.T, dir, name string, w any) string {
	t.Helper()
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWorkforceCommands(t *testing.T) {
	for _, e := range testdb.Engines("cli_workforce") {
		t.Run(e.Name, func(t *testing.T) {
			dbURL, path := e.Locate(t, "unused.db")
			cli := workforceCLI{dataDir: filepath.Join(filepath.Dir(path), "data"), databaseURL: dbURL}
			files := t.TempDir()

			out, err := cli.run(t, "list")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, "-field") {
				t.Errorf("a fresh directory lists workers:\n%s", out)
			}

			w := workforce.DemoWorkers()[0]
			w.ID, w.Name = "zara-field", "Zara Silva"
			file := writeWorkerFile(t, files, "zara.json", w)
			if out, err = cli.run(t, "put", "--file", file); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "zara-field") {
				t.Errorf("put: %s", out)
			}
			if e.Name == "sqlite" {
				if _, err := os.Stat(filepath.Join(cli.dataDir, "orchestrator.db")); err != nil {
					t.Errorf("the workforce is not in <data-dir>/orchestrator.db: %v", err)
				}
			}

			out, err = cli.run(t, "list")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "zara-field") || !strings.Contains(out, "Zara Silva") || !strings.Contains(out, "id-verification:4,delivery:2") {
				t.Errorf("list:\n%s", out)
			}

			out, err = cli.run(t, "show", "zara-field")
			if err != nil {
				t.Fatal(err)
			}
			var shown workforce.Worker
			if err := json.Unmarshal([]byte(out), &shown); err != nil {
				t.Fatalf("show is not a worker: %v\n%s", err, out)
			}
			if shown.ID != "zara-field" || shown.Email != w.Email {
				t.Errorf("show: %+v", shown)
			}

			// Bad files name the field.
			bad := w
			bad.Skills = []workforce.Skill{{Name: "id-verification", Level: 4}, {Name: "delivery", Level: 9}}
			unknown := map[string]any{"id": "zara-field", "nmae": "Zara"}
			cases := []struct {
				name string
				body any
				want string
			}{
				{"invalid level", bad, "skills[1].level"},
				{"unknown field", unknown, "nmae: unknown field"},
			}
			for _, tc := range cases {
				f := writeWorkerFile(t, files, "bad.json", tc.body)
				_, err := cli.run(t, "put", "--file", f)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.json") {
					t.Errorf("%s: err = %v, want the file and %q named", tc.name, err, tc.want)
				}
			}
			if _, err := cli.run(t, "put"); err == nil || !strings.Contains(err.Error(), "--file") {
				t.Errorf("put without --file: %v", err)
			}

			// seed only into an empty directory.
			if out, err = cli.run(t, "seed"); err != nil || !strings.Contains(out, "nothing seeded") {
				t.Errorf("seed into a non-empty directory: %v\n%s", err, out)
			}
			if out, err = cli.run(t, "remove", "zara-field"); err != nil || !strings.Contains(out, "removed") {
				t.Fatalf("remove: %v\n%s", err, out)
			}
			if _, err = cli.run(t, "show", "zara-field"); err == nil || !strings.Contains(err.Error(), "no such worker") {
				t.Errorf("show after remove: %v", err)
			}
			if _, err = cli.run(t, "remove", "zara-field"); err == nil {
				t.Error("removing twice succeeded")
			}
			out, err = cli.run(t, "seed")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range workforce.DemoWorkers() {
				if !strings.Contains(out, d.ID) {
					t.Errorf("seed does not list %s:\n%s", d.ID, out)
				}
			}

			if _, err := cli.run(t, "show"); err == nil || !strings.Contains(err.Error(), "worker id") {
				t.Errorf("show without id: %v", err)
			}
			if _, err := cli.run(t, "show", "Not An Id"); err == nil {
				t.Error("show accepted a malformed id")
			}
			if _, err := cli.run(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "expected") {
				t.Errorf("unknown subcommand: %v", err)
			}
		})
	}
}

// "orchestrator dev" starts with the demo workforce.
func TestDevSeedsWorkforce(t *testing.T) {
	dataDir, out, cancel, done := startDev(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "workforce ready") {
		t.Errorf("dev does not log the workforce:\n%s", out)
	}
	store, err := workforce.Open(context.Background(), "", filepath.Join(dataDir, "orchestrator.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	all, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(workforce.DemoWorkers()) {
		t.Errorf("dev seeded %d workers, want the %d demo workers", len(all), len(workforce.DemoWorkers()))
	}
}
