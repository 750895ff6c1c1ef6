package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/execution-orchestrator/orchestrator/approvals"
)

func TestApproveValidation(t *testing.T) {
	ok := approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: "sha256:ab"}
	tests := []struct {
		name string
		wf   string
		edit func(*approvals.Request)
		want string
	}{
		{"no workflow", "", func(*approvals.Request) {}, "workflowId: required"},
		{"bad decision", "wf", func(r *approvals.Request) { r.Decision = "maybe" }, `decision: "maybe" is not`},
		{"no approver", "wf", func(r *approvals.Request) { r.Approver = " " }, "approver: required"},
		{"no digest", "wf", func(r *approvals.Request) { r.ActionDigest = "" }, "actionDigest: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mocks.NewClient(t) // no calls expected: bad input never reaches Temporal
			req := ok
			tt.edit(&req)
			err := Approve(context.Background(), c, tt.wf, req)
			require.ErrorIs(t, err, ErrInvalidInput)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestApproveOutcomes(t *testing.T) {
	req := approvals.Request{Decision: "approve", Approver: "maria", Comment: "ok", ActionDigest: "sha256:ab"}
	tests := []struct {
		name      string
		updateErr error // from UpdateWorkflow itself
		getErr    error // from the handle
		check     func(t *testing.T, err error)
	}{
		{name: "accepted", check: func(t *testing.T, err error) { assert.NoError(t, err) }},
		{name: "validator refuses", getErr: temporal.NewApplicationError("maria has already approved", "ApprovalRefused"),
			check: func(t *testing.T, err error) {
				var refused *ApprovalRefusedError
				require.ErrorAs(t, err, &refused)
				assert.Equal(t, "maria has already approved", refused.Reason)
				assert.Equal(t, "approval for wf-1 refused: maria has already approved", err.Error())
			}},
		{name: "workflow gone", updateErr: serviceerror.NewNotFound("workflow execution already completed"),
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrNotRunning) }},
		{name: "transport failure", updateErr: errors.New("connection refused"),
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "send approve from maria to wf-1: connection refused")
				var refused *ApprovalRefusedError
				assert.False(t, errors.As(err, &refused))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mocks.NewClient(t)
			h := mocks.NewWorkflowUpdateHandle(t)
			call := c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o tclient.UpdateWorkflowOptions) bool {
				return o.WorkflowID == "wf-1" && o.UpdateName == approvals.UpdateName &&
					o.WaitForStage == tclient.WorkflowUpdateStageCompleted && len(o.Args) == 1 && o.Args[0] == req
			}))
			if tt.updateErr != nil {
				call.Return(nil, tt.updateErr)
			} else {
				call.Return(h, nil)
				h.On("Get", mock.Anything, nil).Return(tt.getErr)
			}
			tt.check(t, Approve(context.Background(), c, "wf-1", req))
		})
	}
}

func TestPendingApprovalsQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"maria", `EOPendingApprovers = 'maria' AND ExecutionStatus = 'Running' AND TaskQueue = 'execution-orchestrator'`},
		{"o'brien", `EOPendingApprovers = 'o\'brien' AND ExecutionStatus = 'Running' AND TaskQueue = 'execution-orchestrator'`},
		{`x\' OR 1=1`, `EOPendingApprovers = 'x\\\' OR 1=1' AND ExecutionStatus = 'Running' AND TaskQueue = 'execution-orchestrator'`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, PendingApprovalsQuery(tt.in))
	}
}

// jsonValue stands in for a query result.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return true }
func (j jsonValue) Get(ptr any) error {
	raw, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, ptr)
}

var _ converter.EncodedValue = jsonValue{}

func execInfo(t *testing.T, id, invoice string, started time.Time) *workflowpb.WorkflowExecutionInfo {
	p, err := converter.GetDefaultDataConverter().ToPayload(invoice)
	require.NoError(t, err)
	return &workflowpb.WorkflowExecutionInfo{
		Execution:        &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id},
		StartTime:        timestamppb.New(started),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{"EOBusinessKey": p}},
	}
}

func TestPendingApprovals(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	early, late := t0.Add(time.Hour), t0.Add(3*time.Hour)
	c := mocks.NewClient(t)
	query := PendingApprovalsQuery("maria")
	// Two pages, to prove paging is followed.
	c.On("ListWorkflow", mock.Anything, &workflowservice.ListWorkflowExecutionsRequest{Query: query}).Return(
		&workflowservice.ListWorkflowExecutionsResponse{
			Executions:    []*workflowpb.WorkflowExecutionInfo{execInfo(t, "vp-late", "INV-LATE", t0), execInfo(t, "vp-done", "INV-DONE", t0)},
			NextPageToken: []byte("p2"),
		}, nil)
	c.On("ListWorkflow", mock.Anything, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: []byte("p2")}).Return(
		&workflowservice.ListWorkflowExecutionsResponse{
			Executions: []*workflowpb.WorkflowExecutionInfo{execInfo(t, "vp-early", "INV-EARLY", t0), execInfo(t, "vp-broken", "INV-BROKEN", t0.Add(2*time.Hour))},
		}, nil)
	status := func(inv string, since time.Time, approvers ...string) approvals.Status {
		return approvals.Status{
			Process: "vendor-payment", Stage: approvals.StageAwaitingApproval, BusinessKey: inv, ActionDigest: "sha256:" + inv,
			Title:       "Pay Vendor " + inv,
			AmountMinor: 4800000, Currency: "EUR", PendingApprovers: approvers, AwaitingSince: &since,
			ApprovalReason: "above limit",
		}
	}
	c.On("QueryWorkflow", mock.Anything, "vp-late", "", approvals.QueryName).Return(jsonValue{status("INV-LATE", late, "maria")}, nil)
	// Visibility still lists maria, but she has decided already.
	c.On("QueryWorkflow", mock.Anything, "vp-done", "", approvals.QueryName).Return(jsonValue{status("INV-DONE", early, "chen")}, nil)
	c.On("QueryWorkflow", mock.Anything, "vp-early", "", approvals.QueryName).Return(jsonValue{status("INV-EARLY", early, "omar", "maria")}, nil)
	c.On("QueryWorkflow", mock.Anything, "vp-broken", "", approvals.QueryName).Return(nil, errors.New("no poller"))

	got, err := PendingApprovals(context.Background(), c, "maria")
	require.NoError(t, err)
	var ids []string
	for _, p := range got {
		ids = append(ids, p.WorkflowID)
	}
	assert.Equal(t, []string{"vp-early", "vp-broken", "vp-late"}, ids)
	assert.Equal(t, "INV-EARLY", got[0].BusinessKey)
	assert.Equal(t, "Pay Vendor INV-EARLY", got[0].Title)
	assert.Equal(t, "vendor-payment", got[0].Process)
	assert.Equal(t, int64(4800000), got[0].AmountMinor)
	assert.Equal(t, "sha256:INV-EARLY", got[0].ActionDigest)
	assert.Equal(t, early, *got[0].AwaitingSince)
	assert.Equal(t, "INV-BROKEN", got[1].BusinessKey, "invoice comes from visibility when the query fails")
	assert.Contains(t, got[1].StatusError, "no poller")
}

func TestPendingApprovalsErrors(t *testing.T) {
	c := mocks.NewClient(t)
	_, err := PendingApprovals(context.Background(), c, "")
	assert.ErrorIs(t, err, ErrInvalidInput)

	c.On("ListWorkflow", mock.Anything, mock.Anything).Return(nil, errors.New("unavailable"))
	_, err = PendingApprovals(context.Background(), c, "maria")
	assert.ErrorContains(t, err, "list pending approvals for maria: unavailable")
}

// TestPendingApprovalsDeadEntries lists many entries whose workflows never
// answer: the listing still returns (each entry within its own deadline,
// a bounded number at a time), in a stable order, every entry marked.
func TestPendingApprovalsDeadEntries(t *testing.T) {
	oldWorkers, oldTimeout := statusWorkers, statusTimeout
	t.Cleanup(func() { statusWorkers, statusTimeout = oldWorkers, oldTimeout })
	statusWorkers, statusTimeout = 4, 20*time.Millisecond

	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	const n = 40
	var execs []*workflowpb.WorkflowExecutionInfo
	var want []string
	for i := range n {
		id := fmt.Sprintf("vp-%02d", i)
		// Started in reverse order of id, so sorting is visible.
		execs = append(execs, execInfo(t, id, "INV-"+id, t0.Add(time.Duration(n-i)*time.Minute)))
		want = append([]string{id}, want...)
	}
	c := mocks.NewClient(t)
	c.On("ListWorkflow", mock.Anything, mock.Anything).Return(&workflowservice.ListWorkflowExecutionsResponse{Executions: execs}, nil)
	var inFlight, peak atomic.Int32
	c.On("QueryWorkflow", mock.Anything, mock.Anything, "", approvals.QueryName).Run(func(args mock.Arguments) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		<-args.Get(0).(context.Context).Done() // a worker that never answers
	}).Return(nil, context.DeadlineExceeded)

	start := time.Now()
	got, err := PendingApprovals(context.Background(), c, "maria")
	require.NoError(t, err)
	// Sequentially this would take n*20ms = 800ms; 4 at a time about 200ms.
	assert.Less(t, time.Since(start), 600*time.Millisecond)
	assert.LessOrEqual(t, peak.Load(), int32(4), "at most statusWorkers queries at once")
	assert.Greater(t, peak.Load(), int32(1), "queries run concurrently")
	var ids []string
	for _, p := range got {
		ids = append(ids, p.WorkflowID)
		assert.Contains(t, p.StatusError, "deadline exceeded", p.WorkflowID)
		assert.Equal(t, "INV-"+p.WorkflowID, p.BusinessKey)
	}
	assert.Equal(t, want, ids, "oldest first, as visibility listed them")
}

// TestPendingApprovalsCallerDeadline: once the caller's context ends, the
// entries not yet queried fail at once instead of each waiting.
func TestPendingApprovalsCallerDeadline(t *testing.T) {
	oldWorkers, oldTimeout := statusWorkers, statusTimeout
	t.Cleanup(func() { statusWorkers, statusTimeout = oldWorkers, oldTimeout })
	statusWorkers, statusTimeout = 2, time.Hour

	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	var execs []*workflowpb.WorkflowExecutionInfo
	for i := range 500 {
		execs = append(execs, execInfo(t, fmt.Sprintf("vp-%03d", i), "INV", t0))
	}
	c := mocks.NewClient(t)
	c.On("ListWorkflow", mock.Anything, mock.Anything).Return(&workflowservice.ListWorkflowExecutionsResponse{Executions: execs}, nil)
	var queries atomic.Int32
	c.On("QueryWorkflow", mock.Anything, mock.Anything, "", approvals.QueryName).Run(func(args mock.Arguments) {
		queries.Add(1)
		<-args.Get(0).(context.Context).Done()
	}).Return(nil, context.DeadlineExceeded).Maybe()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := PendingApprovals(ctx, c, "maria")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Len(t, got, 500, "every entry is still listed")
	assert.LessOrEqual(t, queries.Load(), int32(4), "no query started after the caller's deadline")
	assert.Equal(t, "vp-000", got[0].WorkflowID)
	assert.Equal(t, "vp-499", got[499].WorkflowID)
}
