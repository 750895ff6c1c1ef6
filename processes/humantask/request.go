package humantask

import (
	"context"
	"errors"
	"fmt"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/action"
)

// RequestDigest is the digest a TaskRequest's proof is made over: the
// request without its proof.
func RequestDigest(req TaskRequest) (string, error) {
	req.Proof = ""
	return action.Digest(req)
}

// ErrRefused wraps the workflow's reason for refusing a step.
var ErrRefused = errors.New("task step refused")

// Send sends a worker's step as the "task" Update and waits for the
// workflow to accept or refuse it (the validator refuses before anything
// enters history).
func Send(ctx context.Context, c tclient.Client, workflowID string, req TaskRequest) error {
	h, err := c.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: TaskUpdate, Args: []any{req}, WaitForStage: tclient.WorkflowUpdateStageCompleted,
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
