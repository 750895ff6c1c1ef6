package onboarding

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/process"
)

// Start starts the CustomerOnboarding of a customer, or joins the one
// already running for them: the workflow id is derived from the customer
// reference, so a second start can never make a second account.
func Start(ctx context.Context, c tclient.Client, in Input) (tclient.WorkflowRun, error) {
	if err := validateInput(in); err != nil {
		return nil, fmt.Errorf("%s: %w", process.FailureMessage(err), client.ErrInvalidInput)
	}
	opts := tclient.StartWorkflowOptions{
		ID:        WorkflowID(in.CustomerRef),
		TaskQueue: process.TaskQueue,
		// A running onboarding is joined; a failed run may be retried; a
		// finished one (any outcome) is not started again.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// The customer's reference, never their name: no personal data in summaries.
		StaticSummary: fmt.Sprintf("Onboarding of customer **%s**, requested by %s", in.CustomerRef, in.RequestedBy),
		StaticDetails: "Creates the CRM account pending, emails the customer and confirms delivery, has a field worker verify " +
			"the customer's identity in person, then activates the account and confirms the CRM shows it active.",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			process.SAProcess.ValueSet(ProcessName),
			process.SABusinessKey.ValueSet(in.CustomerRef),
			process.SARequester.ValueSet(in.RequestedBy),
		),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, Workflow, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return nil, fmt.Errorf("customer %s already has a finished onboarding (%s): %w", in.CustomerRef, opts.ID, err)
		}
		return nil, fmt.Errorf("start onboarding of %s: %w", in.CustomerRef, err)
	}
	return run, nil
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

// GetResult waits for the workflow to finish and returns its result.
func GetResult(ctx context.Context, c tclient.Client, workflowID string) (Result, error) {
	var res Result
	if err := c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return res, fmt.Errorf("result of %s: %w", workflowID, err)
	}
	return res, nil
}
