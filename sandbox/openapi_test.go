package sandbox

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDocumentsEveryRoute keeps openapi.yaml and the router in step:
// every route is documented with its fault endpoint name, and nothing
// undocumented is served.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var served []string
	for _, r := range (&Server{}).routeTable() {
		served = append(served, r.pattern)
		method, path, _ := strings.Cut(r.pattern, " ")
		op, _ := doc.Paths[path][strings.ToLower(method)].(map[string]any)
		if !assert.NotNil(t, op, "%s is not documented", r.pattern) {
			continue
		}
		if r.endpoint != "" {
			assert.Equal(t, r.endpoint, op["x-endpoint"], "x-endpoint of %s", r.pattern)
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	assert.Equal(t, served, documented)
}
