package worker

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/activities"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

// recordingRegistry records the names things are registered under.
// Methods it does not override are nil and would fail the test if called.
type recordingRegistry struct {
	sdkworker.Registry
	workflows, activities []string
}

func (r *recordingRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}
func (r *recordingRegistry) RegisterActivityWithOptions(_ any, o activity.RegisterOptions) {
	r.activities = append(r.activities, o.Name)
}

func TestRegisterCoversEveryActivityTheWorkflowCalls(t *testing.T) {
	var r recordingRegistry
	Register(&r, &activities.Activities{})

	assert.Equal(t, []string{workflows.VendorPaymentWorkflow}, r.workflows)
	// The workflow's activity interface names every activity it calls; each
	// must be registered under exactly that name.
	it := reflect.TypeFor[workflows.VendorPaymentActivities]()
	var want []string
	for i := range it.NumMethod() {
		want = append(want, it.Method(i).Name)
	}
	got := slices.Clone(r.activities)
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
}
