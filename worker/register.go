// Package worker runs the ExecutionOrchestrator Temporal worker.
package worker

import (
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/execution-orchestrator/orchestrator/activities"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

// Register registers every workflow and activity of ExecutionOrchestrator
// with explicit names (the contract names in package workflows), using the
// default workflow configuration.
func Register(r sdkworker.Registry, a *activities.Activities) {
	RegisterWithConfig(r, a, workflows.DefaultVendorPaymentConfig())
}

// RegisterWithConfig is Register with a tuned VendorPayment configuration
// (timeouts, retry bounds), e.g. short settlement bounds in tests.
func RegisterWithConfig(r sdkworker.Registry, a *activities.Activities, cfg workflows.VendorPaymentConfig) {
	workflows.Register(r, cfg)
	for _, act := range []struct {
		name string
		fn   any
	}{
		{workflows.ActivityLoadInvoice, a.LoadInvoice},
		{workflows.ActivityLoadVendor, a.LoadVendor},
		{workflows.ActivityCheckPaymentSchedule, a.CheckPaymentSchedule},
		{workflows.ActivityPlanApprovals, a.PlanApprovals},
		{workflows.ActivityNotifyApprovers, a.NotifyApprovers},
		{workflows.ActivityCheckApprovers, a.CheckApprovers},
		{workflows.ActivityNotifyRequester, a.NotifyRequester},
		{workflows.ActivityReleasePayment, a.ReleasePayment},
		{workflows.ActivityVerifySettlement, a.VerifySettlement},
		{workflows.ActivityNotifyVendor, a.NotifyVendor},
		{workflows.ActivityVerifyEmailDelivered, a.VerifyEmailDelivered},
		{workflows.ActivityMarkInvoicePaid, a.MarkInvoicePaid},
		{workflows.ActivityRecordNote, a.RecordNote},
		{workflows.ActivityEscalate, a.EscalateToFinanceOps},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}
