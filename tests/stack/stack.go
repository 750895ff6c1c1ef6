// Package stack starts the whole ExecutionOrchestrator stack for integration
// and browser tests: a real Temporal dev server (bin/temporal, never
// downloaded) on free ports shaped by temporal-dev.yaml, the sandbox systems
// over real HTTP and SMTP, the approval web app and an in-process worker.
package stack

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/devserver"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/telemetry"
	"github.com/execution-orchestrator/orchestrator/web"
	"github.com/execution-orchestrator/orchestrator/worker"
)

// Options tune a stack for one test.
type Options struct {
	SettleAfter time.Duration // sandbox treasury; default 500ms, < 0 never settles
	Faults      map[string]sandbox.Fault
	Worker      func(*worker.Config) // adjust the worker's configuration
	Directory   *policy.Directory    // org directory; nil => the embedded policy/org.yaml
	Tracer      trace.Tracer         // spans of the Temporal client and worker; nil => OpenTelemetry's global provider
}

// Stack is a running stack; everything stops when the test ends.
type Stack struct {
	Temporal tclient.Client
	Sandbox  *sandbox.Server
	Links    *linktoken.Store
	Dir      *policy.Directory
	WebURL   string
	Logger   *slog.Logger
}

// Start brings the stack up or fails the test.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &logBuffer{}
	// Registered first, so it runs last, after every part has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack logs:\n%s", logs.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cli, err := devserver.FindCLI()
	if err != nil {
		t.Fatalf("%v (make test builds it)", err)
	}
	root, err := devserver.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	devCfg, err := devserver.Load(filepath.Join(root, "temporal-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tracing, err := telemetry.TemporalInterceptor(opts.Tracer)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: cli,
		ClientOptions: &tclient.Options{Namespace: "default",
			Logger:       sdklog.NewStructuredLogger(logger),
			Interceptors: []interceptor.ClientInterceptor{tracing}},
		ExtraArgs: devCfg.NamespaceArgs(),
		LogLevel:  "error",
		Stdout:    io.Discard, Stderr: logs,
	})
	if err != nil {
		t.Fatalf("start Temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	dir := t.TempDir()
	dbURL := testdb.URL(t, "stack")
	settle := opts.SettleAfter
	if settle == 0 {
		settle = 500 * time.Millisecond
	}
	sb, err := sandbox.Start(ctx, sandbox.Config{
		HTTPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0",
		DatabaseURL: dbURL, SQLitePath: filepath.Join(dir, "sandbox.db"),
		SettleAfter: settle, Faults: opts.Faults, Seed: true, Logger: logger.With("part", "sandbox"),
	})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	directory := opts.Directory
	if directory == nil {
		if directory, err = policy.DefaultDirectory(); err != nil {
			t.Fatal(err)
		}
	}
	links, err := linktoken.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), time.Now)
	if err != nil {
		t.Fatalf("open link tokens: %v", err)
	}
	t.Cleanup(func() { _ = links.Close() })
	app, err := web.New(web.Config{Temporal: srv.Client(), Directory: directory, Links: links,
		Logger: logger.With("part", "web"), Now: time.Now})
	if err != nil {
		t.Fatalf("web app: %v", err)
	}
	hs := httptest.NewServer(app.Handler())
	t.Cleanup(hs.Close)

	wcfg := worker.Config{
		SandboxURL: sb.HTTPURL(), SMTPAddr: sb.SMTPAddr(),
		DatabaseURL: dbURL, SQLitePath: filepath.Join(dir, "orchestrator.db"),
		WebBaseURL: hs.URL, FinanceOpsEmail: "finance-ops@orchestrator.example",
		Directory: directory, Links: links, Logger: logger.With("part", "worker"),
	}
	if opts.Worker != nil {
		opts.Worker(&wcfg)
	}
	w, err := worker.New(ctx, srv.Client(), wcfg)
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Close)

	return &Stack{Temporal: srv.Client(), Sandbox: sb, Links: links, Dir: directory, WebURL: hs.URL, Logger: logger}
}

// SandboxURL is a sandbox API address for path.
func (s *Stack) SandboxURL(path string) string { return s.Sandbox.HTTPURL() + path }

// logBuffer keeps the stack's logs; they are printed only if the test fails
// (t.Log from goroutines that outlive the test would panic).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
