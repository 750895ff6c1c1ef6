package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
)

// TemporalOps is the real OpsSource: the running executions on our task
// queue (visibility), each asked what it waits for. A gated workflow
// answers the "approvals" query (waiting while it has an AwaitingSlot); a
// HumanTask its "status" query (waiting while a step is open for someone,
// or its evidence is in review). Workflows that answer neither (schedules,
// onboarding: its human task is listed itself) are left out.
type TemporalOps struct {
	Client tclient.Client
	// Now is the clock deadlines are compared with; nil is time.Now.
	Now func() time.Time
	// WorkflowTypes, when set, are the only types listed (the registered
	// processes' types, as Config.WorkflowTypes): another workflow on the
	// task queue could answer anything.
	WorkflowTypes []string
}

// Bounds on building the queue: visibility is read a page at a time up to
// maxOpsListed executions, and at most maxOpsQueried of ours are asked,
// opsQueryWorkers at a time, each within opsQueryTimeout.
const (
	maxOpsListed    = 1000
	maxOpsQueried   = 200
	opsQueryWorkers = 8
	opsQueryTimeout = 3 * time.Second
)

// OpsQuery is the visibility query of the exceptions queue: running
// executions on our task queue. Those without EOProcess (not ours) are
// dropped after listing, so the query needs no IS NOT NULL.
func OpsQuery() string {
	return fmt.Sprintf("ExecutionStatus = 'Running' AND TaskQueue = '%s'", escapeQuery(process.TaskQueue))
}

// Waiting implements OpsSource.
func (t TemporalOps) Waiting(ctx context.Context) ([]WaitingItem, error) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	var (
		execs []*workflowpb.WorkflowExecutionInfo
		token []byte
		seen  int
	)
	for {
		resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: OpsQuery(), NextPageToken: token, PageSize: 100})
		if err != nil {
			return nil, fmt.Errorf("list running workflows: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			seen++
			if saString(e, process.SAProcess.GetName()) == "" {
				continue
			}
			if len(t.WorkflowTypes) > 0 && !slices.Contains(t.WorkflowTypes, e.GetType().GetName()) {
				continue
			}
			execs = append(execs, e)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || seen >= maxOpsListed || len(execs) >= maxOpsQueried {
			break
		}
	}
	if len(execs) > maxOpsQueried {
		execs = execs[:maxOpsQueried]
	}

	found := make([]*WaitingItem, len(execs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(opsQueryWorkers, len(execs)) {
		wg.Go(func() {
			for i := range next {
				found[i] = t.classify(ctx, execs[i], now())
			}
		})
	}
	for i := range execs {
		next <- i
	}
	close(next)
	wg.Wait()
	out := []WaitingItem{}
	for _, it := range found {
		if it != nil {
			out = append(out, *it)
		}
	}
	slices.SortStableFunc(out, func(a, b WaitingItem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.WorkflowID, b.WorkflowID)
	})
	return out, nil
}

// classify asks one execution what it waits for; nil: nothing (or nobody).
func (t TemporalOps) classify(ctx context.Context, e *workflowpb.WorkflowExecutionInfo, now time.Time) *WaitingItem {
	base := WaitingItem{
		Process: saString(e, process.SAProcess.GetName()), WorkflowID: e.GetExecution().GetWorkflowId(), WorkflowType: e.GetType().GetName(),
		BusinessKey: saString(e, process.SABusinessKey.GetName()), Since: e.GetStartTime().AsTime(),
	}
	unavailable := func(err error) *WaitingItem {
		it := base
		it.Kind, it.Unavailable, it.Why = WaitingUnknown, true, "status unavailable: "+err.Error()
		return &it
	}
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if base.WorkflowType == humantask.Workflow {
		qctx, cancel := context.WithTimeout(ctx, opsQueryTimeout)
		st, err := humantask.QueryStatus(qctx, t.Client, base.WorkflowID)
		cancel()
		if err != nil {
			return unavailable(err)
		}
		var review *approvals.Status
		if st.Stage == humantask.StageAwaitingApproval {
			qctx, cancel := context.WithTimeout(ctx, opsQueryTimeout)
			if ap, err := client.ApprovalStatus(qctx, t.Client, base.WorkflowID); err == nil {
				review = &ap
			}
			cancel()
		}
		it, ok := TaskWaiting(base, st, review, now)
		if !ok {
			return nil
		}
		return &it
	}
	qctx, cancel := context.WithTimeout(ctx, opsQueryTimeout)
	st, err := client.ApprovalStatus(qctx, t.Client, base.WorkflowID)
	cancel()
	if unknownQuery(err) {
		return nil // not a gated workflow
	}
	if err != nil {
		return unavailable(err)
	}
	it, ok := ApprovalWaiting(base, st, now)
	if !ok {
		return nil
	}
	return &it
}

// unknownQuery says the workflow has no handler for the query asked.
func unknownQuery(err error) bool {
	var qf *serviceerror.QueryFailed
	return errors.As(err, &qf) && strings.Contains(qf.Message, "unknown queryType")
}

// saString reads a keyword search attribute of a listed execution.
func saString(e *workflowpb.WorkflowExecutionInfo, name string) string {
	p := e.GetSearchAttributes().GetIndexedFields()[name]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// whenLayout is how a Why names a time.
const whenLayout = "Jan 2 15:04 MST"

func when(t time.Time) string { return t.UTC().Format(whenLayout) }

// ApprovalWaiting classifies a gated workflow's "approvals" answer: it
// waits on people while a slot is awaited. It is stuck once escalated, or
// when nobody can fill the slot. base carries what visibility says.
func ApprovalWaiting(base WaitingItem, st approvals.Status, now time.Time) (WaitingItem, bool) {
	if st.AwaitingSlot == "" {
		return WaitingItem{}, false
	}
	it := base
	it.Kind = WaitingApproval
	if st.Process != "" {
		it.Process = st.Process
	}
	if st.BusinessKey != "" {
		it.BusinessKey = st.BusinessKey
	}
	it.Title = st.Title
	it.WaitingOn = slices.Clone(st.PendingApprovers)
	if st.AwaitingSince != nil {
		it.Since = *st.AwaitingSince
	}
	why := "awaiting " + st.AwaitingSlot + " approval"
	if st.ApprovalReason != "" {
		why += " (" + st.ApprovalReason + ")"
	}
	switch {
	case len(st.PendingApprovers) == 0:
		it.Stuck = true
		why += "; nobody can approve it now"
	case st.Escalated:
		it.Stuck = true
		why += "; escalated to " + strings.Join(st.PendingApprovers, ", ")
	}
	it.Why = why
	return it, true
}

// TaskWaiting classifies a HumanTask's "status" answer (and, while its
// evidence is in review, its "approvals" answer, or nil).
//
// It waits on a person while a step is open for someone (an offer to
// accept, evidence to send) or its evidence awaits a reviewer; while it is
// routing, only once it is stuck. It is stuck when:
//   - the open offer's deadline has passed (the workflow should have moved
//     on: is a worker running?);
//   - it has no assignee after its work window opened (routing, or offered
//     and not accepted, past Start);
//   - the assignee's evidence is overdue (DueAt passed);
//   - it was escalated to the coordinators, or its review was.
func TaskWaiting(base WaitingItem, st humantask.Status, review *approvals.Status, now time.Time) (WaitingItem, bool) {
	it := base
	it.Kind = WaitingHumanTask
	it.Title = orDefault(st.Title, base.Title)
	if st.TaskID != "" {
		it.BusinessKey = st.TaskID
	}
	if it.Process == "" {
		it.Process = humantask.ProcessName
	}
	started := !st.Start.IsZero() && now.After(st.Start)
	var why []string
	switch {
	case st.Stage == humantask.StageDone:
		return WaitingItem{}, false

	case st.Stage == humantask.StageAwaitingApproval:
		it.Kind = WaitingEvidenceReview
		it.WaitingOn = []string{CoordinatorRole}
		if n := len(st.Submissions); n > 0 {
			it.Since = st.Submissions[n-1].At
		}
		slot := CoordinatorRole
		if review != nil {
			if len(review.PendingApprovers) > 0 {
				it.WaitingOn = slices.Clone(review.PendingApprovers)
			}
			if review.AwaitingSince != nil {
				it.Since = *review.AwaitingSince
			}
			slot = orDefault(review.AwaitingSlot, slot)
			if review.Escalated {
				it.Stuck = true
			}
		}
		from := ""
		if n := len(st.Submissions); n > 0 {
			from = " from " + st.Submissions[n-1].WorkerID
		}
		why = append(why, "evidence"+from+" awaits a "+slot+" review")

	case strings.HasPrefix(st.OpenStep, "offer-"):
		it.WaitingOn = []string{st.OpenFor}
		why = append(why, "offered to "+st.OpenFor+", not accepted")
		for _, o := range st.Offers {
			if o.Step != st.OpenStep {
				continue
			}
			it.Since, it.Due = o.At, o.Deadline
			if !o.Deadline.IsZero() && now.After(o.Deadline) {
				it.Stuck = true
				why = append(why, "the offer's deadline passed at "+when(o.Deadline))
			}
		}
		if earlier := len(st.Offers) - 1; earlier > 0 {
			why = append(why, fmt.Sprintf("%d earlier offer(s) declined or expired", earlier))
		}
		if started && st.Assignee == "" {
			it.Stuck = true
			why = append(why, "nobody assigned though the work window opened at "+when(st.Start))
		}

	case st.OpenStep != "":
		who := orDefault(st.Assignee, st.OpenFor)
		it.WaitingOn = []string{who}
		if st.AcceptedAt != nil {
			it.Since = *st.AcceptedAt
		}
		why = append(why, "assigned to "+who+", evidence awaited")
		if st.DueAt != nil {
			it.Due = *st.DueAt
			if now.After(*st.DueAt) {
				it.Stuck = true
				why = []string{"assigned to " + who + ", overdue since " + when(*st.DueAt)}
			}
		}

	case st.Stage == humantask.StageRouting && st.Assignee == "" && started:
		it.WaitingOn = []string{CoordinatorRole}
		it.Since, it.Stuck = st.Start, true
		why = append(why, "nobody found to do it though the work window opened at "+when(st.Start))

	default:
		// Routing before the window, or checking evidence: the workflow's
		// turn, not a person's.
		return WaitingItem{}, false
	}
	if n := len(st.Escalations); n > 0 {
		it.Stuck = true
		last := st.Escalations[n-1]
		to := strings.Join(last.To, ", ")
		if to == "" {
			to = CoordinatorRole
		}
		why = append(why, "escalated to "+to+" at "+when(last.At))
	}
	if review != nil && review.Escalated {
		why = append(why, "review escalated")
	}
	it.Why = strings.Join(why, "; ")
	return it, true
}
