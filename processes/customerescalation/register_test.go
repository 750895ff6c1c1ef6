package customerescalation_test

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
)

type recordingRegistry struct {
	sdkworker.Registry
	workflows, activities, funcNames []string
}

func (r *recordingRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}

func (r *recordingRegistry) RegisterActivityWithOptions(fn any, o activity.RegisterOptions) {
	r.activities = append(r.activities, o.Name)
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	r.funcNames = append(r.funcNames, strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm"))
}

func TestDefinitionRegistersWhatItDeclares(t *testing.T) {
	d := customerescalation.Definition(process.Deps{})
	assert.Equal(t, customerescalation.ProcessName, d.Name)
	require.NotNil(t, d.Start)
	var r recordingRegistry
	d.RegisterWorkflows(&r)
	d.RegisterActivities(&r)
	assert.ElementsMatch(t, d.WorkflowTypes, r.workflows)
	assert.Equal(t, r.activities, r.funcNames)
	for _, name := range r.activities {
		assert.True(t, strings.HasPrefix(name, "Escalation"), name)
	}
	others := map[string]string{}
	found := false
	for _, p := range processes.All(process.Deps{}) {
		if p.Name == customerescalation.ProcessName {
			found = true
			continue
		}
		var o recordingRegistry
		p.RegisterWorkflows(&o)
		p.RegisterActivities(&o)
		for _, n := range append(o.workflows, o.activities...) {
			others[n] = p.Name
		}
	}
	assert.True(t, found, "listed in processes.All")
	for _, n := range append(r.workflows, r.activities...) {
		_, taken := others[n]
		assert.False(t, taken, "%s is also registered by %s", n, others[n])
	}
}

func TestStartFromCLIRefusesBadInput(t *testing.T) {
	d := customerescalation.Definition(process.Deps{})
	_, err := d.Start([]string{"--ref", "SUP-1", "--account", "ACC-GLOBEX", "--severity", "sev9", "--summary", "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "severity")
	_, err = d.Start([]string{"--ref", "SUP-1", "--account", "ACC-GLOBEX", "--summary", "Checkout down"})
	require.NoError(t, err)
}
