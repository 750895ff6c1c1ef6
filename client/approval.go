package client

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
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/process"
)

// ApprovalRefusedError is the workflow saying no to a decision: its update
// validator rejected it (wrong digest, not an approver, already decided, ...)
// or its handler failed. Reason is the workflow's own words, meant for the
// person who tried.
type ApprovalRefusedError struct {
	WorkflowID string
	Reason     string
	Err        error
}

func (e *ApprovalRefusedError) Error() string {
	return fmt.Sprintf("approval for %s refused: %s", e.WorkflowID, e.Reason)
}

func (e *ApprovalRefusedError) Unwrap() error { return e.Err }

// ErrNotRunning marks a decision sent to a workflow that does not exist or has
// already finished.
var ErrNotRunning = errors.New("workflow is not running")

// Approve sends an approval decision as the "approval" Update and waits until
// the workflow has recorded it. A refusal by the workflow comes back as
// *ApprovalRefusedError; bad input as ErrInvalidInput naming the field.
//
// No UpdateID is set on purpose: a fixed id would make Temporal hand back an
// earlier result for a re-approval after an approval expired; duplicates are
// the validator's job.
func Approve(ctx context.Context, c tclient.Client, workflowID string, req approvals.Request) error {
	return ApproveOnce(ctx, c, workflowID, "", req)
}

// ApproveOnce is Approve with an Update id: a retry with the same id is the
// same Update, answered with its first result (the web app derives it from
// an emailed link's token, so resubmitting a link never decides twice).
func ApproveOnce(ctx context.Context, c tclient.Client, workflowID, updateID string, req approvals.Request) error {
	if err := validateApproval(workflowID, req); err != nil {
		return err
	}
	h, err := c.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   workflowID,
		UpdateName:   approvals.UpdateName,
		Args:         []any{req},
		WaitForStage: tclient.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil {
		return nil
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("%s %s on %s: %w: %w", req.Approver, req.Decision, workflowID, ErrNotRunning, err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return &ApprovalRefusedError{WorkflowID: workflowID, Reason: appErr.Message(), Err: err}
	}
	return fmt.Errorf("send %s from %s to %s: %w", req.Decision, req.Approver, workflowID, err)
}

func validateApproval(workflowID string, req approvals.Request) error {
	switch {
	case strings.TrimSpace(workflowID) == "":
		return fmt.Errorf("workflowId: required: %w", ErrInvalidInput)
	case req.Decision != approvals.DecisionApprove && req.Decision != approvals.DecisionReject:
		return fmt.Errorf("decision: %q is not %q or %q: %w", req.Decision, approvals.DecisionApprove, approvals.DecisionReject, ErrInvalidInput)
	case strings.TrimSpace(req.Approver) == "":
		return fmt.Errorf("approver: required: %w", ErrInvalidInput)
	case strings.TrimSpace(req.ActionDigest) == "":
		return fmt.Errorf("actionDigest: required (approve exactly what the status query shows): %w", ErrInvalidInput)
	}
	return nil
}

// PendingApproval is one payment waiting for a person's decision.
type PendingApproval struct {
	WorkflowID     string     `json:"workflowId"`
	RunID          string     `json:"runId"`
	Process        string     `json:"process,omitempty"`
	BusinessKey    string     `json:"businessKey"`
	Title          string     `json:"title,omitempty"`
	AmountMinor    int64      `json:"amountMinor,omitempty"`
	Currency       string     `json:"currency,omitempty"`
	ActionDigest   string     `json:"actionDigest,omitempty"`
	ApprovalReason string     `json:"approvalReason,omitempty"`
	AwaitingSince  *time.Time `json:"awaitingSince,omitempty"`
	StartedAt      time.Time  `json:"startedAt"`
	// StatusError is set when the status query failed (e.g. no worker is
	// running); the entry is still listed from visibility data alone.
	StatusError string `json:"statusError,omitempty"`
}

// maxPending bounds one inbox listing; nobody reviews more in one sitting.
const maxPending = 500

// PendingApprovalsQuery is the visibility query for personID's inbox. The
// TaskQueue term keeps out executions on other task queues: anyone who may
// start workflows can set EOPendingApprovers on one, and its worker answers
// the status query with whatever it likes.
func PendingApprovalsQuery(personID string) string {
	return fmt.Sprintf("%s = '%s' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'",
		process.SAPendingApprovers.GetName(), escapeQueryString(personID), escapeQueryString(process.TaskQueue))
}

// Bounds on reading the inbox's statuses: each entry is a query answered by
// a worker, which may be down or slow, so entries are read a few at a time
// and each gets a short deadline; a dead entry is listed with StatusError
// instead of holding up the page. Variables so tests can shrink them.
var (
	statusWorkers = 8
	statusTimeout = 3 * time.Second
)

// escapeQueryString escapes a value for a single-quoted visibility query
// literal, so an id can never end the string and add conditions.
func escapeQueryString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// PendingApprovals lists running workflows that wait for personID, oldest
// first, with amount, vendor and waiting time from each one's "status" query.
// Visibility lags a little, so entries whose live status no longer lists the
// person are dropped.
func PendingApprovals(ctx context.Context, c tclient.Client, personID string) ([]PendingApproval, error) {
	if strings.TrimSpace(personID) == "" {
		return nil, fmt.Errorf("personId: required: %w", ErrInvalidInput)
	}
	query := PendingApprovalsQuery(personID)
	var execs []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list pending approvals for %s: %w", personID, err)
		}
		execs = append(execs, resp.GetExecutions()...)
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(execs) >= maxPending {
			break
		}
	}
	entries := statuses(ctx, c, execs)
	out := make([]PendingApproval, 0, len(entries))
	for _, e := range entries {
		p := PendingApproval{
			WorkflowID:  e.info.GetExecution().GetWorkflowId(),
			RunID:       e.info.GetExecution().GetRunId(),
			BusinessKey: businessKey(e.info),
			StartedAt:   e.info.GetStartTime().AsTime(),
		}
		if e.err != nil {
			p.StatusError = e.err.Error()
			out = append(out, p)
			continue
		}
		st := e.st
		if st.Stage != approvals.StageAwaitingApproval || !slices.Contains(st.PendingApprovers, personID) {
			continue
		}
		if st.BusinessKey != "" {
			p.BusinessKey = st.BusinessKey
		}
		p.Process, p.Title = st.Process, st.Title
		p.AmountMinor, p.Currency = st.AmountMinor, st.Currency
		p.ActionDigest, p.ApprovalReason, p.AwaitingSince = st.ActionDigest, st.ApprovalReason, st.AwaitingSince
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b PendingApproval) int {
		if c := waitingSince(a).Compare(waitingSince(b)); c != 0 {
			return c
		}
		return strings.Compare(a.WorkflowID, b.WorkflowID)
	})
	return out, nil
}

// listed is one visibility entry with its live status or why it has none.
type listed struct {
	info *workflowpb.WorkflowExecutionInfo
	st   approvals.Status
	err  error
}

// statuses queries each execution's status, statusWorkers at a time and
// each within statusTimeout, and returns them in the order of execs.
func statuses(ctx context.Context, c tclient.Client, execs []*workflowpb.WorkflowExecutionInfo) []listed {
	out := make([]listed, len(execs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(statusWorkers, len(execs)) {
		wg.Go(func() {
			for i := range next {
				out[i] = listed{info: execs[i]}
				// Once the caller gave up, the rest fail at once rather
				// than each waiting out its own deadline.
				if err := ctx.Err(); err != nil {
					out[i].err = fmt.Errorf("query approvals of %s: %w", execs[i].GetExecution().GetWorkflowId(), err)
					continue
				}
				qctx, cancel := context.WithTimeout(ctx, statusTimeout)
				out[i].st, out[i].err = ApprovalStatus(qctx, c, execs[i].GetExecution().GetWorkflowId())
				cancel()
			}
		})
	}
	for i := range execs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func waitingSince(p PendingApproval) time.Time {
	if p.AwaitingSince != nil {
		return *p.AwaitingSince
	}
	return p.StartedAt
}

// ApprovalStatus runs the "approvals" query every gated workflow answers.
func ApprovalStatus(ctx context.Context, c tclient.Client, workflowID string) (approvals.Status, error) {
	var st approvals.Status
	v, err := c.QueryWorkflow(ctx, workflowID, "", approvals.QueryName)
	if err != nil {
		return st, fmt.Errorf("query approvals of %s: %w", workflowID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode approvals of %s: %w", workflowID, err)
	}
	return st, nil
}

// businessKey reads EOBusinessKey (the invoice id) from visibility data.
func businessKey(e *workflowpb.WorkflowExecutionInfo) string {
	p := e.GetSearchAttributes().GetIndexedFields()[process.SABusinessKey.GetName()]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
