package worker

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
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

func TestEveryProcessRegistersWhatItDeclares(t *testing.T) {
	seen := map[string]string{}
	for _, p := range processes.All(process.Deps{}) {
		var r recordingRegistry
		p.RegisterWorkflows(&r)
		p.RegisterActivities(&r)
		assert.ElementsMatch(t, p.WorkflowTypes, r.workflows, "%s registers exactly its workflow types", p.Name)
		for _, name := range append(slices.Clone(r.workflows), r.activities...) {
			// One worker hosts every process: a name taken twice would
			// register one process's code under another's name.
			if other, dup := seen[name]; dup {
				t.Errorf("%s registers %q, already registered by %s", p.Name, name, other)
			}
			seen[name] = p.Name
		}
		require.NotNil(t, p.Start, "%s can be started from the CLI", p.Name)
	}
}

func TestVendorPaymentRegistersEveryActivityTheWorkflowCalls(t *testing.T) {
	p, ok := processes.Find(process.Deps{}, vendorpayment.ProcessName)
	require.True(t, ok)
	var r recordingRegistry
	p.RegisterActivities(&r)
	// The workflow's activity interface names every activity it calls; each
	// must be registered under exactly that name (plus the detector's two).
	it := reflect.TypeFor[vendorpayment.VendorPaymentActivities]()
	want := []string{vendorpayment.ListOverdueInvoicesActivity, vendorpayment.StartVendorPaymentActivity}
	for i := range it.NumMethod() {
		want = append(want, it.Method(i).Name)
	}
	assert.ElementsMatch(t, want, r.activities)
}
