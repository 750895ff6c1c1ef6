package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/testlog"
	"github.com/execution-orchestrator/orchestrator/web"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// startDev runs `orchestrator dev` in-process on free ports and a temporary
// data folder, and waits for its "is up" banner.
func startDev(t *testing.T) (dataDir string, out *testlog.Buffer, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	if _, err := os.Stat("../../bin/temporal"); err != nil && os.Getenv("TEMPORAL_CLI") == "" {
		t.Fatal("bin/temporal missing: run make test")
	}
	dataDir = t.TempDir()
	cfg := filepath.Join(dataDir, "temporal-dev.yaml")
	// The repository's file, moved to free ports and a temporary data dir.
	repoCfg, err := os.ReadFile("../../temporal-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("port: 7233", "port: "+port(freeAddr(t)), "uiPort: 8233", "uiPort: "+port(freeAddr(t)),
		"dataDir: .data", "dataDir: "+dataDir).Replace(string(repoCfg))
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	web := freeAddr(t)
	args := []string{"--config", cfg, "--data-dir", dataDir, "--sandbox-addr", freeAddr(t),
		"--smtp-addr", freeAddr(t), "--web-addr", web, "--web-base-url", "http://" + web, "--database-url", "",
		"--metrics-addr", freeAddr(t), "--agent-api-addr", freeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	out = &testlog.Buffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"dev"}, args...), out, slog.New(slog.NewTextHandler(out, nil)))
	}()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), "ExecutionOrchestrator is up") {
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("dev exited before it was up: %v\n%s", err, out)
		case <-deadline:
			cancel()
			t.Fatalf("dev not up in time:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return dataDir, out, cancel, errc
}

func TestDevStartsAndStopsCleanly(t *testing.T) {
	_, out, cancel, done := startDev(t)
	cancel() // what Ctrl-C or SIGTERM does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev returned %v after a clean stop\n%s", err, out)
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop within a minute")
	}
	for _, part := range []string{"web app", "worker", "sandbox", "temporal dev server"} {
		if !strings.Contains(out.String(), `msg=stopped part="`+part+`"`) && !strings.Contains(out.String(), "msg=stopped part="+part) {
			t.Errorf("no clean stop logged for %s", part)
		}
	}
}

func TestDevSaysWhichPartDied(t *testing.T) {
	dataDir, out, cancel, done := startDev(t)
	defer cancel()
	// Kill the dev server child (its command line holds our unique data dir).
	if err := exec.Command("pkill", "-KILL", "-f", "start-dev.*"+dataDir).Run(); err != nil {
		t.Fatalf("pkill: %v", err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "temporal dev server died") {
			t.Fatalf("err = %v, want it to name the temporal dev server\n%s", err, out)
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not notice its dead dev server")
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "vendor-payment"}, "--invoice"},
		{[]string{"start", "invoice"}, "vendor-payment"},
		{[]string{"approve"}, "workflow id"},
		{[]string{"approve", "vendor-payment-INV-1"}, "--as"},
		{[]string{"approve", "vendor-payment-INV-1", "--as", "maria"}, "--key, --proof or --code"},
		{[]string{"approve", "vendor-payment-INV-1", "--as", "maria", "--code", "123456", "--proof", "eo1.x.y"}, "exactly one"},
		{[]string{"start", "no-such-process"}, "unknown process"},
		{[]string{"status"}, "workflow id"},
		{[]string{"nope"}, "unknown command"},
		{[]string{"sandbox", "--faults", "{"}, "-faults"},
		{[]string{"web"}, "pass --oidc-issuer and --oidc-client-id (env ORCH_OIDC_ISSUER, ORCH_OIDC_CLIENT_ID) for OpenID Connect, or --dev-identity"},
		{[]string{"web", "--dev-identity", "--oidc-issuer", "https://login.example.com", "--oidc-client-id", "orch"}, "mutually exclusive"},
		{[]string{"web", "--oidc-client-id", "orch"}, "--oidc-issuer: required"},
		{[]string{"web", "--oidc-issuer", "https://login.example.com"}, "--oidc-client-id: required"},
		{[]string{"web", "--dev-identity", "--web-base-url", "127.0.0.1:8080"}, "--web-base-url"},
		{[]string{"web", "--dev-identity", "--web-addr", "0.0.0.0:8080"}, "--insecure-dev-identity"},
		{[]string{"web", "--insecure-dev-identity", "--web-addr", "0.0.0.0:8080"}, "--dev-identity"},
		{[]string{"dev", "--web-addr", "0.0.0.0:8080"}, "--insecure-dev-identity"},
		{[]string{"dev", "--web-addr", "nocolon"}, "--web-addr"},
		{[]string{"sandbox", "--faults", `{"*": {"errorRate": 2}}`}, "errorRate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestWebIdentityFromEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // "" means the settings are accepted
	}{
		{"dev identity", map[string]string{"ORCH_DEV_IDENTITY": "1"}, ""},
		{"oidc", map[string]string{"ORCH_OIDC_ISSUER": "https://login.example.com", "ORCH_OIDC_CLIENT_ID": "orch", "ORCH_OIDC_CLIENT_SECRET": "s"}, ""},
		{"oidc on any address", map[string]string{"ORCH_OIDC_ISSUER": "https://login.example.com", "ORCH_OIDC_CLIENT_ID": "orch", "ORCH_WEB_ADDR": "0.0.0.0:8080"}, ""},
		{"both", map[string]string{"ORCH_DEV_IDENTITY": "1", "ORCH_OIDC_ISSUER": "https://login.example.com"}, "mutually exclusive"},
		{"secret alone", map[string]string{"ORCH_OIDC_CLIENT_SECRET": "s"}, "--oidc-issuer: required"},
		{"neither", nil, "--dev-identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"ORCH_DEV_IDENTITY", "ORCH_OIDC_ISSUER", "ORCH_OIDC_CLIENT_ID", "ORCH_OIDC_CLIENT_SECRET", "ORCH_WEB_ADDR"} {
				t.Setenv(k, tt.env[k])
			}
			s, err := parseSettings("web", nil, (*settings).webFlags)
			if err != nil {
				t.Fatal(err)
			}
			err = s.checkWeb()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkWeb: %v", err)
				}
				var cfg web.Config
				s.webSignIn(&cfg)
				if cfg.BaseURL != s.webBaseURL || cfg.DevIdentity == (cfg.OIDC != nil) {
					t.Errorf("web config = %+v, want BaseURL and exactly one sign-in", cfg)
				}
				if cfg.OIDC != nil && cfg.OIDC.RedirectURL != s.webBaseURL+"/auth/callback" {
					t.Errorf("redirect URL = %q", cfg.OIDC.RedirectURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checkWeb = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestBadEnvironmentValueIsAnError(t *testing.T) {
	t.Setenv("ORCH_DETECTOR_INTERVAL", "soon")
	err := run(context.Background(), []string{"setup"}, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "ORCH_DETECTOR_INTERVAL") {
		t.Errorf("err = %v, want it to name ORCH_DETECTOR_INTERVAL", err)
	}
}
