package vendorpayment

import (
	"context"
	"errors"
	"fmt"
	"time"

	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/process"
)

// EnsureDetectorSchedule creates the Schedule that runs the overdue-invoice
// detector every interval, or updates its interval if it exists, so setup can
// run on every start.
func EnsureDetectorSchedule(ctx context.Context, c tclient.Client, interval time.Duration) error {
	if interval < time.Minute {
		return fmt.Errorf("detector interval: %s is shorter than the 1m minimum", interval)
	}
	spec := tclient.ScheduleSpec{Intervals: []tclient.ScheduleIntervalSpec{{Every: interval}}}
	_, err := c.ScheduleClient().Create(ctx, tclient.ScheduleOptions{
		ID:   OverdueDetectorScheduleID,
		Spec: spec,
		Action: &tclient.ScheduleWorkflowAction{
			ID:        OverdueDetectorScheduleID,
			Workflow:  OverdueDetectorWorkflow,
			TaskQueue: process.TaskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				process.SAProcess.ValueSet("overdue-invoice-detector"),
			),
			StaticSummary: "Lists overdue invoices in the ERP and starts a vendor payment for each",
		},
		// One detector at a time; a slow run is never overlapped.
		Overlap: 0,
		Note:    "created by orchestrator setup",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", OverdueDetectorScheduleID, err)
	}
	h := c.ScheduleClient().GetHandle(ctx, OverdueDetectorScheduleID)
	err = h.Update(ctx, tclient.ScheduleUpdateOptions{
		DoUpdate: func(in tclient.ScheduleUpdateInput) (*tclient.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &spec
			return &tclient.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", OverdueDetectorScheduleID, err)
	}
	return nil
}
