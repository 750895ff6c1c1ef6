package devserver

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/execution-orchestrator/orchestrator/process"
)

func TestParseRepositoryFile(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "temporal-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args := cfg.Args()
	for _, want := range [][]string{
		{"--port", "7233"}, {"--ui-port", "8233"}, {"--db-filename", filepath.Join(".data", "temporal.db")},
		{"--sqlite-pragma", "journal_mode=wal"}, {"--search-attribute", "EOPendingApprovers=KeywordList"},
		{"--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true"},
	} {
		if !containsPair(args, want[0], want[1]) {
			t.Errorf("args %v lack %s %s", args, want[0], want[1])
		}
	}
	if got := cfg.UIURL(); got != "http://127.0.0.1:8233" {
		t.Errorf("UIURL = %s", got)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, wantKey string
	}{
		{"port range", "server: {port: 70000}", "server.port"},
		{"ui port clash", "server: {port: 7000, uiPort: 7000}", "server.uiPort"},
		{"bad ip", "server: {ip: nowhere}", "server.ip"},
		{"log level", "server: {logLevel: loud}", "server.logLevel"},
		{"namespace", "server: {namespace: 'a b'}", "server.namespace"},
		{"db file with dir", "storage: {dbFile: a/b.db}", "storage.dbFile"},
		{"pragma value", "storage: {sqlitePragmas: {journal_mode: 'wal; drop'}}", "storage.sqlitePragmas.journal_mode"},
		{"search attribute type", "searchAttributes: {EOStage: Word}", "searchAttributes.EOStage"},
		{"dynamic config key", "dynamicConfig: {'bad key': 1}", "dynamicConfig.bad key"},
		{"codec endpoint scheme", "server: {uiCodecEndpoint: 'ftp://x/codec'}", "server.uiCodecEndpoint"},
		{"codec endpoint query", "server: {uiCodecEndpoint: 'http://127.0.0.1:8080/codec?x=1'}", "server.uiCodecEndpoint"},
		{"unknown key", "server: {prot: 1}", "prot"},
		{"wrong type", "server: {port: seven}", "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) accepted bad input", tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %q", err, tt.wantKey)
			}
		})
	}
}

func TestUICodecEndpoint(t *testing.T) {
	cfg, err := Parse([]byte("server: {uiCodecEndpoint: 'http://127.0.0.1:8080/codec'}"))
	if err != nil {
		t.Fatal(err)
	}
	if !containsPair(cfg.Args(), "--ui-codec-endpoint", "http://127.0.0.1:8080/codec") {
		t.Errorf("args %v lack the UI codec endpoint", cfg.Args())
	}
	// No UI, no codec endpoint for it.
	cfg.Server.Headless = true
	if slices.Contains(cfg.Args(), "--ui-codec-endpoint") {
		t.Errorf("headless args %v pass a UI codec endpoint", cfg.Args())
	}
	if cfg, _ := Parse(nil); slices.Contains(cfg.Args(), "--ui-codec-endpoint") {
		t.Errorf("default args %v pass a UI codec endpoint", cfg.Args())
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Port != 7233 || cfg.Server.UIPort != 8233 || cfg.DBPath() != filepath.Join(".data", "temporal.db") {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("want not-exist error, got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func containsPair(args []string, flag, value string) bool {
	for i := range args[:len(args)-1] {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return slices.Contains(args, flag+"="+value)
}

// The search attributes our code sets must be the ones the dev server registers.
func TestSearchAttributesMatchContract(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "temporal-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.SearchAttributes, process.SearchAttributeTypes) {
		t.Errorf("temporal-dev.yaml searchAttributes = %v, process.SearchAttributeTypes = %v", cfg.SearchAttributes, process.SearchAttributeTypes)
	}
}
