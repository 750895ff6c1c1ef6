package agentapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// One HTTP request is one rate-limit token: a JSON-RPC batch carrying many
// tool calls in one request is refused before any of them runs.
func TestMCPBatchRefused(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_limits")[0], nil)
	for _, body := range []string{
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_actions","arguments":{}}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_actions","arguments":{}}}]`,
		" \n\t[" + `{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`,
	} {
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+MCPPath, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := bearerClient(h.agent["alpha"]).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "batch %q", body[:20])
	}
	assert.Empty(t, h.acts.Calls(), "no call of a refused batch may run")
}

// An agent has at most MaxConcurrentWaits long-polls in flight; a finished
// one gives its place back, and agents do not share places.
func TestConcurrentWaitsBounded(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_limits")[0], nil)
	var dones []func()
	for range MaxConcurrentWaits {
		done, ok := h.gw.startWait("alpha")
		require.True(t, ok)
		dones = append(dones, done)
	}
	_, ok := h.gw.startWait("alpha")
	assert.False(t, ok, "wait beyond the cap")
	_, ok = h.gw.startWait("bravo")
	assert.True(t, ok, "another agent has its own places")
	dones[0]()
	_, ok = h.gw.startWait("alpha")
	assert.True(t, ok, "a finished wait gives its place back")
}
