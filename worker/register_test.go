package worker

import (
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
)

// recordingRegistry records the names things are registered under.
// Methods it does not override are nil and would fail the test if called.
type recordingRegistry struct {
	sdkworker.Registry
	workflows, activities []string
	// funcNames are the Go names of the activity functions, as the SDK
	// derives them (package path and "-fm" stripped).
	funcNames []string
}

func (r *recordingRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}
func (r *recordingRegistry) RegisterActivityWithOptions(fn any, o activity.RegisterOptions) {
	r.activities = append(r.activities, o.Name)
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	r.funcNames = append(r.funcNames, strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm"))
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

// The SDK remembers, for an activity registered under a name other than its
// Go name, "Go name -> registered name", and applies it to every
// ExecuteActivity call, even one that passes the name as a string. A method
// AgentAction registered as "AgentEvaluateGate" but called EvaluateGate
// made VendorPayment's ExecuteActivity("EvaluateGate") run AgentAction's
// activity. So every activity's Go name is its registered name.
func TestActivityGoNamesAreTheirRegisteredNames(t *testing.T) {
	var r recordingRegistry
	for _, p := range processes.All(process.Deps{}) {
		p.RegisterActivities(&r)
	}
	RegisterKernel(&r, nil)
	require.Contains(t, r.activities, audit.AppendActivityName, "the kernel's audit append is registered")
	for i, name := range r.activities {
		assert.Equal(t, name, r.funcNames[i], "activity %q is the Go function %q", name, r.funcNames[i])
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
