package agentaction

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// agentNameRE is what an agent may be called: it is part of workflow ids
// and of the "agent:<name>" principal.
var agentNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ValidAgentName reports whether name may name an agent.
func ValidAgentName(name string) bool { return agentNameRE.MatchString(name) }

// Memo keys set at start: list_actions reads them without querying every
// workflow, and a repeated idempotency key is compared by proposalDigest.
const (
	memoProposalDigest = "proposalDigest"
	memoKind           = "kind"
	memoTarget         = "target"
)

// startProofLifetime is how long the gateway's start proof is good for:
// the start follows the signature at once.
const startProofLifetime = 2 * time.Minute

// MaxWait bounds one wait_for_action call.
const MaxWait = 60 * time.Second

// Client is what the agent gateway does with proposals, through Temporal.
// Every call is on behalf of one authenticated agent; an action of another
// agent is ErrNotFound.
type Client struct {
	Temporal tclient.Client
	// Signer is the gateway's key (issuer gateway): each start carries its
	// assertion that the agent asked, so the workflow knows the requester
	// is verified.
	Signer *proof.Signer
	Now    func() time.Time
	// PollInterval is how often Wait re-reads the status (0 => 500 ms).
	PollInterval time.Duration
	// DataConverter is Temporal's client's (with the payload codec): memo
	// values are encoded with it. nil => the default converter.
	DataConverter converter.DataConverter
}

// dc decodes memo values as the client encoded them.
func (c *Client) dc() converter.DataConverter {
	if c.DataConverter != nil {
		return c.DataConverter
	}
	return converter.GetDefaultDataConverter()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ProposalDigest identifies what an agent proposed, so a reused idempotency
// key with a different proposal is told apart from a retry.
func ProposalDigest(p Proposal) (string, error) {
	return action.Digest(p)
}

// Propose starts the action for p, or returns the action already started
// with the same idempotency key. It never starts a second one.
func (c *Client) Propose(ctx context.Context, agent string, p Proposal) (Status, error) {
	if !ValidAgentName(agent) {
		return Status{}, fieldErr("agent", "%q is not an agent name", clip(agent))
	}
	if err := ValidateProposal(p); err != nil {
		return Status{}, err
	}
	pd, err := ProposalDigest(p)
	if err != nil {
		return Status{}, fieldErr("params", "%v", err)
	}
	id := WorkflowID(agent, p.IdempotencyKey)
	in := Input{Proposal: p, RequestedBy: "agent:" + agent}
	now := c.now().UTC()
	if in.RequesterProof, err = c.Signer.Sign(proof.Assertion{
		Kind: proof.KindStart, WorkflowID: id, Subject: in.RequestedBy, Method: proof.MethodAgentKey,
		// Bound to this proposal: a proof read from a history cannot start
		// another proposal under the same id. Short-lived: it is used at once.
		ActionDigest: pd, IssuedAt: now, ExpiresAt: now.Add(startProofLifetime),
	}); err != nil {
		return Status{}, fmt.Errorf("sign start of %s: %w", id, err)
	}
	opts := tclient.StartWorkflowOptions{
		ID:        id,
		TaskQueue: process.TaskQueue,
		// One action per key: a running one is joined, a finished one is
		// never started again.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            fmt.Sprintf("Agent **%s** proposes `%s` on **%s**", agent, p.Kind, p.Target),
		StaticDetails:            "Justification: " + p.Justification,
		Memo:                     map[string]any{memoProposalDigest: pd, memoKind: p.Kind, memoTarget: p.Target},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			process.SAProcess.ValueSet(ProcessName),
			process.SABusinessKey.ValueSet(p.Kind+" "+p.Target),
			process.SARequester.ValueSet(in.RequestedBy),
		),
	}
	_, err = c.Temporal.ExecuteWorkflow(ctx, opts, Workflow, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &already) {
		return Status{}, fmt.Errorf("start action %s: %w", id, err)
	}
	// Started now, joined, or finished before: in each case the action is
	// the one recorded under this key, which must be this proposal.
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return Status{}, fmt.Errorf("describe action %s: %w", id, err)
	}
	var got string
	if f := d.GetWorkflowExecutionInfo().GetMemo().GetFields()[memoProposalDigest]; f != nil {
		_ = c.dc().FromPayload(f, &got)
	}
	if got != pd {
		return Status{}, ErrConflict
	}
	return c.Get(ctx, agent, id)
}

// owns reports whether id can be one of agent's actions.
func owns(agent, id string) bool {
	return ValidAgentName(agent) && strings.HasPrefix(id, "agent-action-"+agent+"-") &&
		!strings.Contains(strings.TrimPrefix(id, "agent-action-"+agent+"-"), "-")
}

// Get returns the status of one of agent's actions.
func (c *Client) Get(ctx context.Context, agent, id string) (Status, error) {
	if !owns(agent, id) {
		return Status{}, ErrNotFound
	}
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Status{}, ErrNotFound
	}
	if err != nil {
		return Status{}, fmt.Errorf("describe action %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	// Only our workflow on our queue: anyone who reaches the frontend could
	// start one of that name elsewhere to feed the agent a made-up status.
	if info.GetType().GetName() != Workflow || d.GetExecutionConfig().GetTaskQueue().GetName() != process.TaskQueue {
		return Status{}, ErrNotFound
	}
	var st Status
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		err = c.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &st)
	default:
		var v converter.EncodedValue
		if v, err = c.Temporal.QueryWorkflow(ctx, id, "", StatusQuery); err == nil {
			err = v.Get(&st)
		}
	}
	if err != nil {
		// A run that ended without a result (terminated, timed out, an
		// internal error) still answers with what Temporal knows.
		st = Status{ID: id, RunID: info.GetExecution().GetRunId(), Stage: StageDone, Outcome: OutcomeFailed,
			Reason: "the action's workflow ended " + strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))}
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return Status{}, fmt.Errorf("query action %s: %w", id, err)
		}
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
			st.Outcome = OutcomeCancelled
		}
		st.RequestedBy = "agent:" + agent
	}
	if st.RequestedBy != "agent:"+agent {
		return Status{}, ErrNotFound
	}
	return redact(st), nil
}

// redact drops the signed proofs from what an agent reads: the agent learns
// who approved and how it was proven, never a token. (A token is bound to
// its run, slot and digest and single-use, so this is depth, not the lock.)
func redact(st Status) Status {
	if len(st.Approvals) == 0 {
		return st
	}
	st.Approvals = slices.Clone(st.Approvals)
	for i, a := range st.Approvals {
		if a.Proof != nil {
			p := *a.Proof
			p.Token = ""
			st.Approvals[i].Proof = &p
		}
	}
	return st
}

// Wait returns when the action is done, when it starts or stops waiting for
// people, or after timeout (at most MaxWait), with the status then.
func (c *Client) Wait(ctx context.Context, agent, id string, timeout time.Duration) (Status, error) {
	if timeout <= 0 || timeout > MaxWait {
		timeout = MaxWait
	}
	st, err := c.Get(ctx, agent, id)
	if err != nil {
		return st, err
	}
	first := st.Stage
	every := c.PollInterval
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if st.Outcome != "" || (st.Stage != first && (st.Stage == StageAwaitingApproval || first == StageAwaitingApproval)) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-deadline.C:
			return st, nil
		case <-tick.C:
		}
		next, err := c.Get(ctx, agent, id)
		if err != nil {
			return st, err
		}
		st = next
	}
}

// MaxList bounds one list_actions answer.
const MaxList = 100

// List returns agent's newest actions (at most limit) as visibility knows
// them: id, kind, target, stage and outcome; get_action has the rest.
func (c *Client) List(ctx context.Context, agent string, limit int) ([]Status, error) {
	if !ValidAgentName(agent) {
		return nil, fieldErr("agent", "%q is not an agent name", clip(agent))
	}
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	// The agent name is checked above, so it needs no quoting beyond this.
	q := fmt.Sprintf("EOProcess = '%s' AND EORequester = 'agent:%s'", ProcessName, agent)
	out := []Status{}
	var token []byte
	for len(out) < limit {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: int32(limit), NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list actions of %s: %w", agent, err)
		}
		for _, e := range resp.GetExecutions() {
			if len(out) == limit || !owns(agent, e.GetExecution().GetWorkflowId()) {
				continue
			}
			st := Status{ID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(), RequestedBy: "agent:" + agent}
			fields := e.GetMemo().GetFields()
			dc := converter.GetDefaultDataConverter() // search attributes are never encoded
			if f := fields[memoKind]; f != nil {
				_ = c.dc().FromPayload(f, &st.Kind)
			}
			if f := fields[memoTarget]; f != nil {
				_ = c.dc().FromPayload(f, &st.Target)
			}
			if sa := e.GetSearchAttributes().GetIndexedFields(); sa != nil {
				if f := sa[process.SAStage.GetName()]; f != nil {
					_ = dc.FromPayload(f, &st.Stage)
				}
				if f := sa[process.SAOutcome.GetName()]; f != nil {
					_ = dc.FromPayload(f, &st.Outcome)
				}
			}
			out = append(out, st)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out, nil
}

// Cancel asks one of agent's actions to stop; what it had done already is
// in the status (a release in flight may still complete).
func (c *Client) Cancel(ctx context.Context, agent, id string) (Status, error) {
	st, err := c.Get(ctx, agent, id)
	if err != nil {
		return st, err
	}
	if st.Outcome != "" {
		return st, nil
	}
	if err := c.Temporal.CancelWorkflow(ctx, id, ""); err != nil {
		return Status{}, fmt.Errorf("cancel action %s: %w", id, err)
	}
	return c.Get(ctx, agent, id)
}
