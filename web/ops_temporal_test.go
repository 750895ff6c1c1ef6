package web

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
)

func TestApprovalWaiting(t *testing.T) {
	now := t0.Add(5 * time.Hour)
	since := t0
	base := WaitingItem{WorkflowID: wfID, WorkflowType: wfType, Process: "from-visibility", BusinessKey: "vis-key", Since: t0.Add(-time.Hour)}
	st := approvals.Status{Process: "vendor-payment", BusinessKey: "INV-1001", Title: "Pay", Stage: approvals.StageAwaitingApproval,
		AwaitingSlot: "cfo", PendingApprovers: []string{"chen"}, AwaitingSince: &since, ApprovalReason: "amount over autonomy threshold"}

	it, ok := ApprovalWaiting(base, st, now)
	require.True(t, ok)
	assert.Equal(t, WaitingApproval, it.Kind)
	assert.Equal(t, "vendor-payment", it.Process)
	assert.Equal(t, "INV-1001", it.BusinessKey)
	assert.Equal(t, t0, it.Since)
	assert.Equal(t, []string{"chen"}, it.WaitingOn)
	assert.Equal(t, "awaiting cfo approval (amount over autonomy threshold)", it.Why)
	assert.False(t, it.Stuck)

	esc := st
	esc.Escalated, esc.PendingApprovers = true, []string{"chen", "sofia"}
	it, _ = ApprovalWaiting(base, esc, now)
	assert.True(t, it.Stuck)
	assert.Equal(t, "awaiting cfo approval (amount over autonomy threshold); escalated to chen, sofia", it.Why)

	nobody := st
	nobody.PendingApprovers = nil
	it, _ = ApprovalWaiting(base, nobody, now)
	assert.True(t, it.Stuck)
	assert.Contains(t, it.Why, "nobody can approve it now")

	noSince := st
	noSince.AwaitingSince = nil
	it, _ = ApprovalWaiting(base, noSince, now)
	assert.Equal(t, base.Since, it.Since, "the start time, without AwaitingSince")

	done := st
	done.AwaitingSlot, done.Stage = "", "done"
	_, ok = ApprovalWaiting(base, done, now)
	assert.False(t, ok)
}

func TestTaskWaiting(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	base := WaitingItem{WorkflowID: taskWF, WorkflowType: humantask.Workflow, Since: t0}
	offerAt := now.Add(-5 * time.Minute)
	// offeredAt is a task offered to ana at offerAt, its window opening at start.
	offeredAt := func(start time.Time, deadline time.Time) humantask.Status {
		st := offered(offerAt)
		st.Start, st.End = start, start.Add(4*time.Hour)
		st.Offers[0].Deadline = deadline
		return st
	}
	due := func(d time.Time) humantask.Status {
		st := assigned(now.Add(-time.Hour))
		st.Start = now.Add(-2 * time.Hour)
		st.DueAt = &d
		return st
	}
	submittedAt := now.Add(-30 * time.Minute)
	review := func() humantask.Status {
		st := assigned(now.Add(-2 * time.Hour))
		st.Stage, st.OpenStep, st.OpenFor = humantask.StageAwaitingApproval, "", ""
		st.Submissions = []humantask.SubmissionRecord{{Step: "submission-1", WorkerID: ana, At: submittedAt}}
		return st
	}
	routing := func(start time.Time) humantask.Status {
		st := offered(now)
		st.Stage, st.OpenStep, st.OpenFor, st.Offers, st.Start = humantask.StageRouting, "", "", nil, start
		return st
	}
	withEscalation := func(st humantask.Status) humantask.Status {
		st.Escalations = []humantask.Escalation{{At: now.Add(-time.Hour), Reason: "overdue", To: []string{"fatima@example.com"}}}
		return st
	}
	reviewSince := now.Add(-20 * time.Minute)

	tests := []struct {
		name      string
		st        humantask.Status
		review    *approvals.Status
		waiting   bool
		stuck     bool
		kind      string
		on        []string
		since     time.Time
		why       string
		whyHas    []string
		dueIsZero bool
	}{
		{name: "offered, window not open yet, deadline ahead", st: offeredAt(now.Add(time.Hour), now.Add(10*time.Minute)),
			waiting: true, kind: WaitingHumanTask, on: []string{ana}, since: offerAt, why: "offered to ana-field, not accepted"},
		{name: "offered past its deadline", st: offeredAt(now.Add(time.Hour), now.Add(-time.Minute)),
			waiting: true, stuck: true, kind: WaitingHumanTask, on: []string{ana}, since: offerAt,
			whyHas: []string{"offered to ana-field, not accepted", "the offer's deadline passed at"}},
		{name: "offered, nobody assigned after the window opened", st: offeredAt(now.Add(-time.Hour), now.Add(10*time.Minute)),
			waiting: true, stuck: true, kind: WaitingHumanTask, on: []string{ana}, since: offerAt,
			whyHas: []string{"nobody assigned though the work window opened at"}},
		{name: "assigned, due ahead", st: due(now.Add(time.Hour)),
			waiting: true, kind: WaitingHumanTask, on: []string{ana}, since: now.Add(-time.Hour), why: "assigned to ana-field, evidence awaited"},
		{name: "assigned, overdue", st: due(now.Add(-20 * time.Minute)),
			waiting: true, stuck: true, kind: WaitingHumanTask, on: []string{ana}, why: "assigned to ana-field, overdue since " + when(now.Add(-20*time.Minute))},
		{name: "assigned, escalated", st: withEscalation(due(now.Add(time.Hour))),
			waiting: true, stuck: true, kind: WaitingHumanTask, on: []string{ana},
			whyHas: []string{"assigned to ana-field, evidence awaited", "escalated to fatima@example.com at"}},
		{name: "evidence in review, approvals answered", st: review(),
			review:  &approvals.Status{AwaitingSlot: CoordinatorRole, PendingApprovers: []string{"fatima"}, AwaitingSince: &reviewSince},
			waiting: true, kind: WaitingEvidenceReview, on: []string{"fatima"}, since: reviewSince,
			why: "evidence from ana-field awaits a field-coordinator review", dueIsZero: true},
		{name: "evidence in review, approvals unavailable", st: review(),
			waiting: true, kind: WaitingEvidenceReview, on: []string{CoordinatorRole}, since: submittedAt},
		{name: "evidence review escalated", st: review(),
			review:  &approvals.Status{AwaitingSlot: CoordinatorRole, PendingApprovers: []string{"fatima", "sofia"}, Escalated: true},
			waiting: true, stuck: true, kind: WaitingEvidenceReview, on: []string{"fatima", "sofia"}, whyHas: []string{"review escalated"}},
		{name: "routing before the window: the workflow's turn", st: routing(now.Add(time.Hour))},
		{name: "routing after the window opened: stuck", st: routing(now.Add(-time.Hour)),
			waiting: true, stuck: true, kind: WaitingHumanTask, on: []string{CoordinatorRole}, since: now.Add(-time.Hour),
			whyHas: []string{"nobody found to do it"}},
		{name: "checking evidence: the workflow's turn", st: func() humantask.Status {
			st := assigned(now)
			st.Stage, st.OpenStep, st.OpenFor = humantask.StageChecking, "", ""
			return st
		}()},
		{name: "done", st: func() humantask.Status {
			st := assigned(now)
			st.Stage, st.OpenStep, st.OpenFor, st.Outcome = humantask.StageDone, "", "", humantask.OutcomeCompleted
			return st
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, ok := TaskWaiting(base, tt.st, tt.review, now)
			require.Equal(t, tt.waiting, ok)
			if !ok {
				return
			}
			assert.Equal(t, tt.stuck, it.Stuck, it.Why)
			assert.Equal(t, tt.kind, it.Kind)
			assert.Equal(t, tt.on, it.WaitingOn)
			assert.Equal(t, taskID, it.BusinessKey)
			assert.Equal(t, humantask.ProcessName, it.Process)
			assert.Equal(t, tt.st.Title, it.Title)
			if !tt.since.IsZero() {
				assert.Equal(t, tt.since, it.Since)
			}
			if tt.why != "" {
				assert.Equal(t, tt.why, it.Why)
			}
			for _, s := range tt.whyHas {
				assert.Contains(t, it.Why, s)
			}
			if tt.dueIsZero {
				assert.True(t, it.Due.IsZero())
			}
		})
	}
}

// jsonAnswer stands in for a query result.
type jsonAnswer struct{ v any }

func (j jsonAnswer) HasValue() bool { return true }
func (j jsonAnswer) Get(ptr any) error {
	raw, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, ptr)
}

var _ converter.EncodedValue = jsonAnswer{}

func listed(t *testing.T, id, wfType, processName, key string, started time.Time) *workflowpb.WorkflowExecutionInfo {
	t.Helper()
	fields := map[string]*commonpb.Payload{}
	for name, v := range map[string]string{"EOProcess": processName, "EOBusinessKey": key} {
		if v == "" {
			continue
		}
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		require.NoError(t, err)
		fields[name] = p
	}
	return &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id}, Type: &commonpb.WorkflowType{Name: wfType},
		StartTime: timestamppb.New(started), SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields},
	}
}

func TestTemporalOpsWaiting(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	c := mocks.NewClient(t)
	q := OpsQuery()
	assert.Equal(t, "ExecutionStatus = 'Running' AND TaskQueue = 'execution-orchestrator'", q)
	// Two pages, to prove paging is followed.
	c.On("ListWorkflow", mock.Anything, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100}).Return(
		&workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
			listed(t, wfID, wfType, "vendor-payment", "INV-1001", t0),
			listed(t, "vendor-payment-INV-2002", wfType, "vendor-payment", "INV-2002", t0), // not waiting
			listed(t, "customer-onboarding-C-1", "CustomerOnboarding", "customer-onboarding", "C-1", t0),
			listed(t, "foreign", wfType, "", "", t0), // no EOProcess: not ours, never asked
		}, NextPageToken: []byte("p2")}, nil)
	c.On("ListWorkflow", mock.Anything, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100, NextPageToken: []byte("p2")}).Return(
		&workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
			listed(t, taskWF, humantask.Workflow, "human-task", taskID, t0.Add(time.Hour)),
			listed(t, "vendor-payment-INV-3003", wfType, "vendor-payment", "INV-3003", t0.Add(2*time.Hour)),
			listed(t, "other-type", "SomethingElse", "x", "", t0), // not a registered type
		}}, nil)
	since := t0.Add(8 * time.Hour)
	c.On("QueryWorkflow", mock.Anything, wfID, "", approvals.QueryName).Return(jsonAnswer{approvals.Status{
		Process: "vendor-payment", BusinessKey: "INV-1001", Title: "Pay Acme", AwaitingSlot: "finance-manager",
		PendingApprovers: []string{"maria"}, AwaitingSince: &since}}, nil)
	c.On("QueryWorkflow", mock.Anything, "vendor-payment-INV-2002", "", approvals.QueryName).Return(jsonAnswer{approvals.Status{Stage: "releasing"}}, nil)
	c.On("QueryWorkflow", mock.Anything, "customer-onboarding-C-1", "", approvals.QueryName).Return(nil,
		serviceerror.NewQueryFailed("unknown queryType approvals. KnownQueryTypes=[__stack_trace status]"))
	c.On("QueryWorkflow", mock.Anything, "vendor-payment-INV-3003", "", approvals.QueryName).Return(nil, errors.New("no poller seen"))
	st := assigned(now.Add(-3 * time.Hour)) // due an hour ago
	c.On("QueryWorkflow", mock.Anything, taskWF, "", humantask.StatusQuery).Return(jsonAnswer{st}, nil)

	ops := TemporalOps{Client: c, Now: func() time.Time { return now }, WorkflowTypes: []string{wfType, humantask.Workflow, "CustomerOnboarding"}}
	items, err := ops.Waiting(context.Background())
	require.NoError(t, err)
	require.Len(t, items, 3)
	// Oldest first: the unanswered payment (since started), the task
	// (since accepted), the approval (since awaited).
	assert.Equal(t, "vendor-payment-INV-3003", items[0].WorkflowID)
	assert.True(t, items[0].Unavailable)
	assert.Equal(t, WaitingUnknown, items[0].Kind)
	assert.Equal(t, "INV-3003", items[0].BusinessKey)
	assert.Contains(t, items[0].Why, "status unavailable: ")
	assert.Contains(t, items[0].Why, "no poller seen")
	assert.Equal(t, taskWF, items[1].WorkflowID)
	assert.True(t, items[1].Stuck)
	assert.Contains(t, items[1].Why, "overdue since")
	assert.Equal(t, wfID, items[2].WorkflowID)
	assert.Equal(t, WaitingApproval, items[2].Kind)
	assert.Equal(t, since, items[2].Since)
	assert.Equal(t, []string{"maria"}, items[2].WaitingOn)

	// Visibility down: the queue says so.
	c2 := mocks.NewClient(t)
	c2.On("ListWorkflow", mock.Anything, mock.Anything).Return(nil, errors.New("unavailable"))
	_, err = TemporalOps{Client: c2}.Waiting(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list running workflows")
}
