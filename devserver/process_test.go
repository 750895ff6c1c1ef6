package devserver

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// echo is a test-only workflow: it proves the chain client → server →
// worker → result without any product code.
func echo(_ workflow.Context, s string) (string, error) { return "echo: " + s, nil }

// TestStartRunRestartKeepsHistory starts the real dev server from
// temporal-dev.yaml settings, runs a workflow, restarts the server on the
// same SQLite file and finds the workflow again, by id and by a custom
// search attribute.
func TestStartRunRestartKeepsHistory(t *testing.T) {
	cli, err := FindCLI()
	if err != nil {
		t.Fatalf("%v (make test builds it)", err)
	}
	cfg, err := Load("../temporal-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Port, cfg.Server.UIPort = freePort(t), freePort(t)
	cfg.Storage.DataDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	started := time.Now()
	srv, err := Start(ctx, cli, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dev server ready in %s", time.Since(started))
	c, err := client.Dial(client.Options{HostPort: cfg.Address()})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, "devserver-test", worker.Options{})
	w.RegisterWorkflowWithOptions(echo, workflow.RegisterOptions{Name: "Echo"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	key := temporal.NewSearchAttributeKeyKeyword("EOBusinessKey")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "echo-" + strconv.FormatInt(time.Now().UnixNano(), 36), TaskQueue: "devserver-test",
		TypedSearchAttributes: temporal.NewSearchAttributes(key.ValueSet("restart-check")),
	}, "Echo", "hi")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "echo: hi" {
		t.Fatalf("result = %q, %v", got, err)
	}
	w.Stop()
	c.Close()
	if err := srv.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}

	srv, err = Start(ctx, cli, cfg, log)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer srv.Stop(20 * time.Second)
	c, err = client.Dial(client.Options{HostPort: cfg.Address()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatalf("workflow lost across restart: %v", err)
	}
	if st := desc.WorkflowExecutionInfo.Status; st != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %s", st)
	}
	// Visibility (what the UI lists) must also survive, search attribute included.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `EOBusinessKey = "restart-check"`})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Executions) == 1 && resp.Executions[0].Execution.WorkflowId == run.GetID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility after restart lists %d executions", len(resp.Executions))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestStartReportsBadBinary(t *testing.T) {
	cfg, _ := Parse(nil)
	cfg.Storage.DataDir = t.TempDir()
	_, err := Start(context.Background(), "/nonexistent/temporal", cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("started a missing binary")
	}
}
