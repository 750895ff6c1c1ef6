package customerescalation

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/process"
)

// StartOptions: one workflow per escalation ref; a running one is joined.
func StartOptions(in Input) tclient.StartWorkflowOptions {
	return tclient.StartWorkflowOptions{
		ID: WorkflowID(in.Ref), TaskQueue: process.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            fmt.Sprintf("%s escalation **%s** for %s", in.Severity, in.Ref, in.AccountID),
		StaticDetails: "Assigns owners per team, opens or links the engineering ticket, tells the account's channel and the owners, " +
			"watches the acknowledgement and customer-update SLAs (a breach walks the escalation chain), and closes when " +
			"ticketing shows the fix and the customer confirms or does not object.",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			process.SAProcess.ValueSet(ProcessName), process.SABusinessKey.ValueSet(in.Ref), process.SARequester.ValueSet(in.RequestedBy),
			process.SAAccount.ValueSet(in.AccountID), process.SASeverity.ValueSet(in.Severity),
		),
	}
}

// Start starts the escalation of in.Ref, or joins the running one.
func Start(ctx context.Context, c tclient.Client, in Input) (tclient.WorkflowRun, error) {
	if err := validateInput(in); err != nil {
		return nil, fmt.Errorf("%s: %w", process.FailureMessage(err), client.ErrInvalidInput)
	}
	run, err := c.ExecuteWorkflow(ctx, StartOptions(in), Workflow, in)
	if err != nil {
		return nil, fmt.Errorf("start escalation %s: %w", in.Ref, err)
	}
	return run, nil
}

// ErrRefused wraps the workflow's reason for refusing a step.
var ErrRefused = errors.New("escalation step refused")

// Send sends a person's step as the "escalation" Update and waits for it
// to be carried out or refused.
func Send(ctx context.Context, c tclient.Client, workflowID string, req EscalationRequest) error {
	h, err := c.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: EscalationUpdate, Args: []any{req}, WaitForStage: tclient.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return nil
}

// QueryStatus runs the "status" query.
func QueryStatus(ctx context.Context, c tclient.Client, workflowID string) (Status, error) {
	var st Status
	v, err := c.QueryWorkflow(ctx, workflowID, "", StatusQuery)
	if err != nil {
		return st, fmt.Errorf("query status of %s: %w", workflowID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status of %s: %w", workflowID, err)
	}
	return st, nil
}
