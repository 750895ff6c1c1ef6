package process

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// ErrTypeNotOurs is the ApplicationError type of an activity call refused
// because the calling workflow is not the one the activity serves.
const ErrTypeNotOurs = "NotOurs"

// Describer reads a workflow execution as the Temporal server knows it
// (tclient.Client).
type Describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// EnsureCaller refuses an activity call unless it comes from a workflow of
// type wantType with id wantID, running on the task queue this activity runs
// on, as the Temporal server (not the caller) describes it: anyone who
// reaches the frontend can start a workflow of our type name on a queue of
// their own and schedule our activities from it. It returns when the run
// started. The refusal is non-retryable.
func EnsureCaller(ctx context.Context, d Describer, wantType, wantID string) (time.Time, error) {
	info := activity.GetInfo(ctx)
	wt := ""
	if info.WorkflowType != nil {
		wt = info.WorkflowType.Name
	}
	if wt != wantType || info.WorkflowExecution.ID != wantID {
		return time.Time{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("serves only workflow %s of type %s; refused for %s (type %q)", wantID, wantType, info.WorkflowExecution.ID, wt),
			ErrTypeNotOurs, nil)
	}
	if d == nil {
		return time.Time{}, temporal.NewNonRetryableApplicationError("Temporal client not configured", "NotConfigured", nil)
	}
	desc, err := d.DescribeWorkflowExecution(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	if err != nil {
		return time.Time{}, fmt.Errorf("describe calling workflow %s: %w", info.WorkflowExecution.ID, err)
	}
	queue, typ := desc.GetExecutionConfig().GetTaskQueue().GetName(), desc.GetWorkflowExecutionInfo().GetType().GetName()
	if queue != info.TaskQueue || typ != wantType {
		return time.Time{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("workflow %s runs on task queue %q as %q, not on %q as %s: not ours", info.WorkflowExecution.ID, queue, typ, info.TaskQueue, wantType),
			ErrTypeNotOurs, nil)
	}
	return desc.GetWorkflowExecutionInfo().GetStartTime().AsTime(), nil
}
