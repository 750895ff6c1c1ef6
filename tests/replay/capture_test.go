package replay

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

// TestCaptureHistories records fresh histories into histories/ from real runs
// on the integration stack (tests/stack: Temporal dev server from
// bin/temporal, sandbox, worker). It is a tool, not a check: it runs only with
// EO_CAPTURE_HISTORIES=1, after a deliberate, versioned workflow change.
func TestCaptureHistories(t *testing.T) {
	if os.Getenv("EO_CAPTURE_HISTORIES") != "1" {
		t.Skip("set EO_CAPTURE_HISTORIES=1 to record histories")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := stack.Start(t, stack.Options{}).Temporal

	start := func(invoiceID, requester string) tclient.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
			ID: workflows.VendorPaymentID(invoiceID), TaskQueue: workflows.TaskQueue,
		}, workflows.VendorPaymentWorkflow, workflows.VendorPaymentInput{InvoiceID: invoiceID, RequestedBy: requester})
		if err != nil {
			t.Fatalf("start %s: %v", invoiceID, err)
		}
		return run
	}
	awaitSlot := func(id, slot string) workflows.VendorPaymentStatus {
		for {
			v, err := c.QueryWorkflow(ctx, id, "", workflows.StatusQuery)
			if err == nil {
				var st workflows.VendorPaymentStatus
				if err := v.Get(&st); err == nil && st.AwaitingSlot == slot {
					return st
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never awaited %s", id, slot)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	decide := func(id string, req workflows.ApprovalRequest) {
		h, err := c.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: workflows.ApprovalUpdate, Args: []any{req}, WaitForStage: tclient.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			t.Fatalf("%s by %s on %s: %v", req.Decision, req.Approver, id, err)
		}
	}
	finish := func(run tclient.WorkflowRun, name, wantOutcome string) {
		var res workflows.VendorPaymentResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("%s: %v", run.GetID(), err)
		}
		if res.Outcome != wantOutcome {
			t.Fatalf("%s: outcome %q (%s), want %q", run.GetID(), res.Outcome, res.Reason, wantOutcome)
		}
		saveHistory(ctx, t, c, run.GetID(), filepath.Join("histories", name+".json"))
	}

	// Autonomous payment and a stop before paying.
	finish(start(sandbox.InvoiceHappyPath, "agent:payables-bot"), "autonomous-paid", workflows.OutcomePaid)
	finish(start(sandbox.InvoiceBankMismatch, "agent:payables-bot"), "bank-details-mismatch", workflows.OutcomeBankDetailsMismatch)

	// Finance-manager tier: an invalid signal is ignored, then maria approves.
	medium := start(sandbox.InvoiceMedium, "agent:payables-bot")
	st := awaitSlot(medium.GetID(), "finance-manager")
	if err := c.SignalWorkflow(ctx, medium.GetID(), "", workflows.ApprovalSignal, workflows.ApprovalRequest{
		Decision: workflows.DecisionApprove, Approver: "agent:payables-bot", ActionDigest: st.ActionDigest,
	}); err != nil {
		t.Fatal(err)
	}
	decide(medium.GetID(), workflows.ApprovalRequest{Decision: workflows.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "checked"})
	finish(medium, "finance-manager-approved", workflows.OutcomePaid)

	// CFO tier: the finance manager approves, the CFO rejects.
	large := start(sandbox.InvoiceLarge, "ana")
	st = awaitSlot(large.GetID(), "finance-manager")
	decide(large.GetID(), workflows.ApprovalRequest{Decision: workflows.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest})
	st = awaitSlot(large.GetID(), "cfo")
	decide(large.GetID(), workflows.ApprovalRequest{Decision: workflows.DecisionReject, Approver: "chen", ActionDigest: st.ActionDigest, Comment: "renegotiate first"})
	finish(large, "cfo-rejected", workflows.OutcomeRejected)
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
