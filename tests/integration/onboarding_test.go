package integration

import (
	"context"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/processes/onboarding"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/worker"
)

// The visit may start at once, so the test's field worker can do it now.
func visitNow(c *worker.Config) {
	cfg := onboarding.DefaultConfig()
	cfg.TaskStartAfter = time.Millisecond
	c.Tuning = map[string]any{onboarding.ProcessName: cfg}
}

func onboard(t *testing.T, s *stack.Stack, ref string, at evidence.GeoPoint) onboarding.Input {
	t.Helper()
	in := onboarding.Input{CustomerRef: ref, Name: "Rita Alves", Email: "rita@example.com", Address: "Rua Augusta 1, Lisboa",
		Lat: at.Lat, Lon: at.Lon, Plan: "standard", RequestedBy: "cli:ops"}
	if _, err := onboarding.Start(context.Background(), s.Temporal, in); err != nil {
		t.Fatal(err)
	}
	return in
}

// Onboarding ends active only with every step verified: the account made,
// the welcome email delivered, the identity verified in person (photo at
// the customer's address, signature, answers), the account active in the
// CRM.
func TestOnboardingActive(t *testing.T) {
	s := stack.Start(t, stack.Options{Worker: visitNow})
	ctx := context.Background()
	in := onboard(t, s, "C-1001", lisbon)
	id := onboarding.WorkflowID(in.CustomerRef)

	var st onboarding.Status
	deadline := time.Now().Add(time.Minute)
	for st.AccountID == "" || !taskStarted(s, onboarding.TaskID(st.AccountID)) {
		v, err := s.Temporal.QueryWorkflow(ctx, id, "", onboarding.StatusQuery)
		if err == nil {
			_ = v.Get(&st)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no identity task started: %+v (%v)", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	taskWF := humantask.WorkflowID(onboarding.TaskID(st.AccountID))
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, taskWF, "")
	if err != nil {
		t.Fatal(err)
	}
	run := s.Temporal.GetWorkflow(ctx, taskWF, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	ts := taskStatus(t, s, taskWF, openFor("ana-field"))
	if err := step(t, s, run, ts, humantask.ActionAccept, nil); err != nil {
		t.Fatal(err)
	}
	ts = taskStatus(t, s, taskWF, func(st humantask.Status) bool { return st.OpenStep == "submission-1" })
	sub := submission(t, s, onboarding.TaskID(st.AccountID), "ana-field", evidencetest.JPEG(lisbon.Lat+0.0002, lisbon.Lon, time.Now().UTC()), lisbon)
	sub.Signature.TypedName = in.Name // the customer signs at the door
	sub.Answers = map[string]any{"document-number": "CC 12345678", "name-matches": true}
	if err := step(t, s, run, ts, humantask.ActionSubmit, sub); err != nil {
		t.Fatal(err)
	}
	res, err := onboarding.GetResult(ctx, s.Temporal, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != onboarding.OutcomeActive {
		t.Fatalf("onboarding = %+v", res)
	}
	for _, step := range res.Steps {
		// The timeline note records the run; it has nothing to verify.
		if step.Name != onboarding.StepTimelineNote && !step.Verified {
			t.Errorf("step %s not verified: %+v", step.Name, step)
		}
	}
	acc, err := crm.New(s.Sandbox.HTTPURL()).GetAccount(ctx, res.AccountID)
	if err != nil || acc.Status != crm.StatusActive || acc.VerifiedBy != onboarding.TaskID(res.AccountID) {
		t.Fatalf("CRM account = %+v (%v), want active, verified by the task", acc, err)
	}
}

func taskStarted(s *stack.Stack, taskID string) bool {
	_, err := s.Temporal.DescribeWorkflowExecution(context.Background(), humantask.WorkflowID(taskID), "")
	return err == nil
}

// A customer nobody can reach in person: no_worker_available, escalated,
// and the account stays pending.
func TestOnboardingNoWorker(t *testing.T) {
	s := stack.Start(t, stack.Options{Worker: visitNow})
	ctx := context.Background()
	madrid := evidence.GeoPoint{Lat: 40.4168, Lon: -3.7038}
	in := onboard(t, s, "C-2002", madrid)
	res, err := onboarding.GetResult(ctx, s.Temporal, onboarding.WorkflowID(in.CustomerRef))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != onboarding.OutcomeNoWorker {
		t.Fatalf("onboarding = %+v, want no_worker_available", res)
	}
	acc, err := crm.New(s.Sandbox.HTTPURL()).GetAccount(ctx, res.AccountID)
	if err != nil || acc.Status != crm.StatusPending {
		t.Fatalf("CRM account = %+v (%v), want pending", acc, err)
	}
}
