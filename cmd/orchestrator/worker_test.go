package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/devserver"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/sandbox/sandboxtest"
)

// `orchestrator worker` finds its Temporal server through Temporal's
// environment configuration (TEMPORAL_ADDRESS here), pays a seeded invoice,
// serves its metrics at --metrics-addr, and stops cleanly when its context
// ends (what SIGTERM does).
func TestWorkerCommandUsesEnvConfig(t *testing.T) {
	cli, err := devserver.FindCLI()
	if err != nil {
		t.Fatalf("%v (make test builds it)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := devserver.Load("../../temporal-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: cli,
		ExtraArgs: cfg.NamespaceArgs(), LogLevel: "error", Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	sb := sandboxtest.Start(t, func(c *sandbox.Config) { c.SettleAfter = 200 * time.Millisecond })

	t.Setenv("TEMPORAL_ADDRESS", srv.FrontendHostPort())
	t.Setenv("TEMPORAL_NAMESPACE", "default")
	metricsAddr := freeAddr(t)
	dataDir := t.TempDir()
	workerCtx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(workerCtx, []string{"worker", "--sandbox-url", sb.HTTPURL(), "--smtp-addr", sb.SMTPAddr(),
			"--data-dir", dataDir, "--database-url", "", "--web-base-url", "http://127.0.0.1:8080",
			"--metrics-addr", metricsAddr},
			io.Discard, slog.New(slog.DiscardHandler))
	}()

	// The worker creates the payload keyring on its first start; a client
	// needs it to read the (encrypted) result.
	c := codecClient(t, srv.Client(), filepath.Join(dataDir, "keys", codec.FileName))
	wf, err := vendorpayment.Start(ctx, c,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceHappyPath, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	var res vendorpayment.VendorPaymentResult
	if err := wf.Get(ctx, &res); err != nil || res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("result %+v, %v", res, err)
	}
	// The SDK counts a completed workflow after its last task is answered,
	// which can be just after the client sees the result: scrape until the
	// series are there, as Prometheus would on its next pass.
	var missing []string
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
		}
		missing = missing[:0]
		for _, want := range []string{`eo_payments_verified_total{`, `eo_actions_completed_total{`, `temporal_workflow_completed_total{`} {
			if !strings.Contains(string(body), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %s", m)
	}
	stopWorker()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker command returned %v after a clean stop", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("worker command did not stop")
	}
}
