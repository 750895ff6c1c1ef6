package onboarding_test

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
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/processes/onboarding"
)

// recordingRegistry records the names things are registered under and the
// Go names of the activity functions, as worker/register_test.go does.
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
	d := onboarding.Definition(process.Deps{})
	assert.Equal(t, onboarding.ProcessName, d.Name)
	require.NotNil(t, d.Start)
	var r recordingRegistry
	d.RegisterWorkflows(&r)
	d.RegisterActivities(&r)
	assert.ElementsMatch(t, d.WorkflowTypes, r.workflows)

	// Every activity's Go name is its registered name, starts with
	// Onboarding, and the workflow's interface lists exactly them.
	assert.Equal(t, r.activities, r.funcNames)
	it := reflect.TypeFor[onboarding.OnboardingActivities]()
	var want []string
	for i := range it.NumMethod() {
		want = append(want, it.Method(i).Name)
	}
	assert.ElementsMatch(t, want, r.activities)
	for _, name := range r.activities {
		assert.True(t, strings.HasPrefix(name, "Onboarding"), name)
	}

	// No name is taken by another process the worker hosts.
	others := map[string]string{}
	defs := append(processes.All(process.Deps{}), humantask.Definition(process.Deps{}))
	for _, p := range defs {
		if p.Name == onboarding.ProcessName {
			continue
		}
		var o recordingRegistry
		p.RegisterWorkflows(&o)
		p.RegisterActivities(&o)
		for _, n := range append(o.workflows, o.activities...) {
			others[n] = p.Name
		}
	}
	for _, n := range append(r.workflows, r.activities...) {
		_, taken := others[n]
		assert.False(t, taken, "%s is also registered by %s", n, others[n])
	}
}

func TestStartFromCLI(t *testing.T) {
	d := onboarding.Definition(process.Deps{})
	valid := []string{"--ref", "C-1001", "--name", "Joana Silva", "--email", "j.silva@example.com",
		"--address", "Rua Augusta 100, Lisboa", "--lat", "38.7107", "--lon", "-9.1366", "--requested-by", "maria"}
	start, err := d.Start(valid)
	require.NoError(t, err)
	assert.NotNil(t, start)
	start, err = d.Start(append(valid, "--phone", "+351 21 000 0000", "--plan", "premium", "--wait"))
	require.NoError(t, err)
	assert.NotNil(t, start)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no ref", valid[2:], "--ref: "},
		{"no name", without(valid, "--name"), "--name: "},
		{"bad email", replace(valid, "--email", "joana"), "--email: "},
		{"no position", without(without(valid, "--lat"), "--lon"), "--lat: "},
		{"bad plan", append(valid, "--plan", "gold"), "--plan: "},
		{"bad phone", append(valid, "--phone", "call me"), "--phone: "},
		{"bad requester", replace(valid, "--requested-by", "maria silva"), "--requested-by: "},
		{"stray argument", append(valid, "extra"), "unexpected arguments: extra"},
		{"missing key file", append(valid, "--key", "/nonexistent/key"), "--key: "},
	}
	for _, tc := range tests {
		_, err := d.Start(tc.args)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

// without drops flag and its value from args.
func without(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// replace sets flag's value in args.
func replace(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
		}
	}
	return out
}
