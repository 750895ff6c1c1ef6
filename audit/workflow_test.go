package audit_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/audit"
)

// memLedger keeps appended events in memory.
type memLedger struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memLedger) Append(_ context.Context, ev audit.Event) (audit.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return audit.Entry{Seq: int64(len(m.events)), Event: ev, Hash: strings.Repeat("a", 64)}, nil
}

func (m *memLedger) all() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Event(nil), m.events...)
}

// recordingWorkflow records two events, as the processes do.
func recordingWorkflow(ctx workflow.Context) error {
	rec := audit.NewRecorder(ctx, "test-process", "KEY-1")
	rec.Record(ctx, audit.KindProposed, "maria", "Proposed", audit.ProposedData{RequestedBy: "maria"})
	rec.Record(ctx, audit.KindOutcome, "system", "Outcome: done", audit.OutcomeData{Outcome: "done"})
	return nil
}

// TestRecorderAppendsThroughTheLocalActivity: the workflow's events reach
// the ledger with ids "<workflowId>/<runId>/<n>".
func TestRecorderAppendsThroughTheLocalActivity(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	mem := &memLedger{}
	a := &audit.Activities{Ledger: mem}
	env.RegisterActivityWithOptions(a.AuditAppend, activity.RegisterOptions{Name: audit.AppendActivityName})
	env.RegisterWorkflow(recordingWorkflow)
	env.ExecuteWorkflow(recordingWorkflow)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	got := mem.all()
	if len(got) != 2 {
		t.Fatalf("appended %d events, want 2: %+v", len(got), got)
	}
	for i, ev := range got {
		want := ev.WorkflowID + "/" + ev.RunID + "/" + string(rune('1'+i))
		if ev.ID != want || ev.WorkflowID == "" || ev.RunID == "" {
			t.Errorf("event %d id %q (workflow %q run %q), want %q", i, ev.ID, ev.WorkflowID, ev.RunID, want)
		}
	}
}

// TestAuditAppendRefusesOtherCallers: registered like any activity,
// AuditAppend can be scheduled as a regular activity on our task queue by
// a workflow anyone starts on a queue of their own. It must refuse that,
// and an event naming another run than the one calling: either would let
// a stranger write entries in anyone's name, or claim the ids our runs
// record under (the append returns the stored entry for a known id).
func TestAuditAppendRefusesOtherCallers(t *testing.T) {
	var s testsuite.WorkflowTestSuite

	t.Run("as a regular activity", func(t *testing.T) {
		env := s.NewTestActivityEnvironment()
		mem := &memLedger{}
		a := &audit.Activities{Ledger: mem}
		env.RegisterActivityWithOptions(a.AuditAppend, activity.RegisterOptions{Name: audit.AppendActivityName})
		ev := audit.Event{ID: "INV-1/forged/1", Process: "vendor-payment", BusinessKey: "INV-1", WorkflowID: "INV-1", RunID: "forged",
			Kind: audit.KindApproval, Actor: "cfo", Summary: "Approved by cfo", At: time.Now()}
		_, err := env.ExecuteActivity(audit.AppendActivityName, ev)
		if err == nil || !strings.Contains(err.Error(), "local activity") {
			t.Errorf("AuditAppend as a regular activity: err = %v, want a refusal", err)
		}
		if n := len(mem.all()); n != 0 {
			t.Errorf("appended %d events for a stranger", n)
		}
	})

	t.Run("an event of another run", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		mem := &memLedger{}
		a := &audit.Activities{Ledger: mem}
		env.RegisterActivityWithOptions(a.AuditAppend, activity.RegisterOptions{Name: audit.AppendActivityName})
		foreign := func(ctx workflow.Context) error {
			ev := audit.Event{ID: "INV-1/other-run/1", Process: "vendor-payment", BusinessKey: "INV-1", WorkflowID: "INV-1", RunID: "other-run",
				Kind: audit.KindApproval, Actor: "cfo", Summary: "Approved by cfo", At: workflow.Now(ctx)}
			lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Second})
			return workflow.ExecuteLocalActivity(lctx, audit.AppendActivityName, ev).Get(lctx, nil)
		}
		env.RegisterWorkflow(foreign)
		env.ExecuteWorkflow(foreign)
		if err := env.GetWorkflowError(); err == nil {
			t.Error("an event naming another run was appended")
		}
		if n := len(mem.all()); n != 0 {
			t.Errorf("appended %d events for another run", n)
		}
	})
}
