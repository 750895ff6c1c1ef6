package agentapi

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDocumentsEveryRoute keeps openapi.yaml and the router in step:
// every REST route is documented, nothing undocumented is served, and the
// public routes are exactly those documented without security.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI  string                    `yaml:"openapi"`
		Security []map[string][]string     `yaml:"security"`
		Paths    map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(OpenAPI(), &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.Equal(t, []map[string][]string{{"agentKey": {}}}, doc.Security, "a key is the default")

	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	// The task routes are served only with Config.Tasks; the document
	// describes every route a gateway may serve.
	assert.Empty(t, (&Gateway{}).taskRoutes(), "no task routes without Tasks")
	var served []string
	for _, r := range (&Gateway{tasks: newFakeTasks(), escalations: &fakeEscalations{}}).routeTable() {
		served = append(served, r.method+" "+r.path)
		op, _ := doc.Paths[r.path][strings.ToLower(r.method)].(map[string]any)
		if !assert.NotNil(t, op, "%s %s is not documented", r.method, r.path) {
			continue
		}
		sec, public := op["security"]
		assert.Equal(t, r.scope == "", public && len(sec.([]any)) == 0, "%s %s: documented security does not match scope %q", r.method, r.path, r.scope)
		if r.scope != "" {
			assert.Contains(t, op["summary"], r.scope, "%s %s: the summary names its scope", r.method, r.path)
		}
		assert.NotContains(t, strings.ToLower(r.path), "approve")
	}
	slices.Sort(documented)
	slices.Sort(served)
	assert.Equal(t, served, documented)
}
