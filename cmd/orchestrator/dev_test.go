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
	"sync"
	"testing"
	"time"
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

// syncBuffer is an io.Writer safe for the dev command's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startDev runs `orchestrator dev` in-process on free ports and a temporary
// data folder, and waits for its "is up" banner.
func startDev(t *testing.T) (dataDir string, out *syncBuffer, cancel context.CancelFunc, done <-chan error) {
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
		"--smtp-addr", freeAddr(t), "--web-addr", web, "--web-base-url", "http://" + web, "--database-url", ""}
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
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
		{[]string{"status"}, "workflow id"},
		{[]string{"nope"}, "unknown command"},
		{[]string{"sandbox", "--faults", "{"}, "-faults"},
		{[]string{"web", "--web-addr", "0.0.0.0:8080"}, "--insecure-dev-identity"},
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

func TestBadEnvironmentValueIsAnError(t *testing.T) {
	t.Setenv("ORCH_DETECTOR_INTERVAL", "soon")
	err := run(context.Background(), []string{"setup"}, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "ORCH_DETECTOR_INTERVAL") {
		t.Errorf("err = %v, want it to name ORCH_DETECTOR_INTERVAL", err)
	}
}
