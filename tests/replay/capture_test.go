package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// TestCaptureHistories records fresh histories into histories/ from real runs
// on the integration stack (tests/stack: Temporal dev server from
// bin/temporal, sandbox, worker). It is a tool, not a check: it runs only with
// EO_CAPTURE_HISTORIES=1, after a deliberate, versioned workflow change. Each
// history is a subtest named like its file, so
// `-run 'TestCaptureHistories/approval-by-signal'` records just that one and
// leaves the others as they were recorded.
func TestCaptureHistories(t *testing.T) {
	if os.Getenv("EO_CAPTURE_HISTORIES") != "1" {
		t.Skip("set EO_CAPTURE_HISTORIES=1 to record histories")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	std := stack.Start(t, stack.Options{})
	// Deadlines of seconds, so a request left alone reminds, escalates and
	// expires while the capture waits.
	fast := stack.Start(t, stack.Options{Directory: fastDirectory(t)})

	capture := func(name string, s *stack.Stack, run func(r *recorder) (tclient.WorkflowRun, string)) {
		t.Run(name, func(t *testing.T) {
			r := &recorder{t: t, ctx: ctx, c: s.Temporal, s: s}
			wr, wantOutcome := run(r)
			r.finish(wr, name, wantOutcome)
		})
	}

	// Autonomous payment and a stop before paying.
	capture("autonomous-paid", std, func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceHappyPath, "agent:payables-bot"), vendorpayment.OutcomePaid
	})
	capture("bank-details-mismatch", std, func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceBankMismatch, "agent:payables-bot"), vendorpayment.OutcomeBankDetailsMismatch
	})

	// Finance-manager tier: an invalid signal is ignored, then maria approves.
	capture("finance-manager-approved", std, func(r *recorder) (tclient.WorkflowRun, string) {
		run := r.start(sandbox.InvoiceMedium, "agent:payables-bot")
		st := r.awaitSlot(run.GetID(), "finance-manager")
		r.signal(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "agent:payables-bot", ActionDigest: st.ActionDigest})
		r.decide(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "checked"})
		return run, vendorpayment.OutcomePaid
	})

	// CFO tier: the finance manager approves, the CFO rejects.
	capture("cfo-rejected", std, func(r *recorder) (tclient.WorkflowRun, string) {
		run := r.start(sandbox.InvoiceLarge, "ana")
		st := r.awaitSlot(run.GetID(), "finance-manager")
		r.decide(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest})
		st = r.awaitSlot(run.GetID(), "cfo")
		r.decide(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionReject, Approver: "chen", ActionDigest: st.ActionDigest, Comment: "renegotiate first"})
		return run, vendorpayment.OutcomeRejected
	})

	// Finance-manager tier decided by Signals only: a malformed one (decision
	// is a number) is recorded and ignored, then maria approves.
	capture("approval-by-signal", std, func(r *recorder) (tclient.WorkflowRun, string) {
		id := r.copyInvoice(sandbox.InvoiceMedium, "INV-2044")
		run := r.start(id, "agent:payables-bot")
		st := r.awaitSlot(run.GetID(), "finance-manager")
		r.signal(run.GetID(), map[string]any{"decision": 5, "approver": "maria", "actionDigest": st.ActionDigest})
		r.signal(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "by signal"})
		return run, vendorpayment.OutcomePaid
	})

	// Left alone: request, reminder, escalation to the manager, expiry.
	capture("approval-expired", fast, func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceMedium, "agent:payables-bot"), vendorpayment.OutcomeExpired
	})

	// Cancelled by an operator while waiting for a person, and while a
	// released payment never settles: the clean-up of cancel-cleanup.
	neverSettles := stack.Start(t, stack.Options{SettleAfter: -1})
	cancelAt := func(name string, s *stack.Stack, invoiceID, stage string) {
		t.Run(name, func(t *testing.T) {
			r := &recorder{t: t, ctx: ctx, c: s.Temporal, s: s}
			run := r.start(invoiceID, "agent:payables-bot")
			r.awaitStage(run.GetID(), stage)
			if err := s.Temporal.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
				t.Fatal(err)
			}
			if err := run.Get(ctx, nil); !temporal.IsCanceledError(err) {
				t.Fatalf("%s: %v, want a cancellation", run.GetID(), err)
			}
			saveHistory(ctx, t, s.Temporal, run.GetID(), filepath.Join("histories", name+".json"))
		})
	}
	cancelAt("cancelled-awaiting-approval", neverSettles, sandbox.InvoiceMedium, vendorpayment.StageAwaitingApproval)
	cancelAt("cancelled-verifying", neverSettles, sandbox.InvoiceHappyPath, vendorpayment.StageVerifying)
}

// fastDirectory is policy/org.yaml with approval deadlines of seconds.
func fastDirectory(t *testing.T) *policy.Directory {
	t.Helper()
	org, err := os.ReadFile(filepath.Join("..", "..", "policy", "org.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.NewReplacer("reminderAfter: 4h", "reminderAfter: 2s", "escalateAfter: 24h", "escalateAfter: 4s",
		"expireAfter: 72h", "expireAfter: 6s").Replace(string(org))
	if fast == string(org) {
		t.Fatal("policy/org.yaml no longer has the deadlines fastDirectory shortens")
	}
	dir, err := policy.ParseDirectory([]byte(fast))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// recorder drives one captured run on a stack.
type recorder struct {
	t   *testing.T
	ctx context.Context
	c   tclient.Client
	s   *stack.Stack
}

func (r *recorder) start(invoiceID, requester string) tclient.WorkflowRun {
	run, err := r.c.ExecuteWorkflow(r.ctx, tclient.StartWorkflowOptions{
		ID: vendorpayment.VendorPaymentID(invoiceID), TaskQueue: process.TaskQueue,
	}, vendorpayment.VendorPaymentWorkflow, vendorpayment.VendorPaymentInput{InvoiceID: invoiceID, RequestedBy: requester})
	if err != nil {
		r.t.Fatalf("start %s: %v", invoiceID, err)
	}
	return run
}

// copyInvoice adds invoice id to the sandbox ERP as a copy of from, with the
// same schedule entry, so a scenario can repeat a seed invoice's tier.
func (r *recorder) copyInvoice(from, id string) string {
	inv, err := erp.New(r.s.Sandbox.HTTPURL()).GetInvoice(r.ctx, from)
	if err != nil {
		r.t.Fatal(err)
	}
	sched, err := erp.New(r.s.Sandbox.HTTPURL()).GetScheduleEntry(r.ctx, from)
	if err != nil {
		r.t.Fatal(err)
	}
	inv.ID, sched.InvoiceID = id, id
	r.send(http.MethodPost, "/erp/invoices", inv)
	r.send(http.MethodPut, "/erp/schedule/"+id, sched)
	return id
}

func (r *recorder) send(method, path string, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		r.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.s.SandboxURL(path), bytes.NewReader(data))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		r.t.Fatalf("%s %s: %s %s", method, path, resp.Status, msg)
	}
}

func (r *recorder) awaitStage(id, stage string) {
	r.t.Helper()
	for {
		st, err := vendorpayment.QueryStatus(r.ctx, r.c, id)
		if err == nil && st.Stage == stage {
			return
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never reached stage %s", id, stage)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *recorder) awaitSlot(id, slot string) vendorpayment.VendorPaymentStatus {
	for {
		v, err := r.c.QueryWorkflow(r.ctx, id, "", vendorpayment.StatusQuery)
		if err == nil {
			var st vendorpayment.VendorPaymentStatus
			if err := v.Get(&st); err == nil && st.AwaitingSlot == slot {
				return st
			}
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never awaited %s", id, slot)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *recorder) signal(id string, payload any) {
	if err := r.c.SignalWorkflow(r.ctx, id, "", vendorpayment.ApprovalSignal, payload); err != nil {
		r.t.Fatalf("signal %s: %v", id, err)
	}
}

func (r *recorder) decide(id string, req vendorpayment.ApprovalRequest) {
	h, err := r.c.UpdateWorkflow(r.ctx, tclient.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: vendorpayment.ApprovalUpdate, Args: []any{req}, WaitForStage: tclient.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(r.ctx, nil)
	}
	if err != nil {
		r.t.Fatalf("%s by %s on %s: %v", req.Decision, req.Approver, id, err)
	}
}

func (r *recorder) finish(run tclient.WorkflowRun, name, wantOutcome string) {
	var res vendorpayment.VendorPaymentResult
	if err := run.Get(r.ctx, &res); err != nil {
		r.t.Fatalf("%s: %v", run.GetID(), err)
	}
	if res.Outcome != wantOutcome {
		r.t.Fatalf("%s: outcome %q (%s), want %q", run.GetID(), res.Outcome, res.Reason, wantOutcome)
	}
	saveHistory(r.ctx, r.t, r.c, run.GetID(), filepath.Join("histories", name+".json"))
}

func saveHistory(ctx context.Context, t *testing.T, c tclient.Client, id, path string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		hist.Events = append(hist.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatalf("marshal history of %s: %v", id, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatalf("save history: %v", err)
	}
	t.Logf("saved %s (%d events)", path, len(hist.Events))
}
