package agentapi

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// The stdio proxy offers exactly the gateway's tools and forwards each call
// with the key's identity.
func TestRunStdioProxiesTheGateway(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_stdio")[0], nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	hostToProxy, proxyIn := io.Pipe()
	proxyOut, proxyToHost := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- RunStdio(ctx, h.gw.MCPURL(), h.agent["bravo"], hostToProxy, proxyToHost) }()

	host := mcp.NewClient(&mcp.Implementation{Name: "desktop-host", Version: "1"}, nil)
	cs, err := host.Connect(ctx, &mcp.IOTransport{Reader: proxyOut, Writer: proxyIn}, nil)
	require.NoError(t, err)

	local, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	remote, err := h.connect(t, h.agent["alpha"]).ListTools(ctx, nil)
	require.NoError(t, err)
	require.Len(t, local.Tools, len(remote.Tools))
	byName := map[string]*mcp.Tool{}
	for _, tool := range remote.Tools {
		byName[tool.Name] = tool
	}
	for _, tool := range local.Tools {
		want := byName[tool.Name]
		if !assert.NotNil(t, want, "proxy offers %s, the gateway does not", tool.Name) {
			continue
		}
		assert.Equal(t, want.Description, tool.Description)
		assert.Equal(t, want.InputSchema, tool.InputSchema)
		assert.Equal(t, want.OutputSchema, tool.OutputSchema)
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolPropose, Arguments: deployArgs("rel-7")})
	require.NoError(t, err)
	require.False(t, res.IsError, text(res))
	assert.Contains(t, text(res), agentaction.WorkflowID("bravo", "rel-7"))
	calls := h.acts.Calls()
	require.NotEmpty(t, calls)
	assert.Equal(t, "bravo", calls[len(calls)-1].Agent)

	// A refusal comes back as the gateway's tool error.
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolCancel, Arguments: map[string]any{"id": "x"}})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, text(res), ScopeCancel)

	// The host closing stdio ends the proxy cleanly.
	require.NoError(t, cs.Close())
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("RunStdio did not return after stdin closed")
	}
}

func TestRunStdioRefuses(t *testing.T) {
	ctx := context.Background()
	for name, tt := range map[string]struct{ url, key, want string }{
		"no key":          {"http://127.0.0.1:8070/mcp", "", "key is required"},
		"plain http away": {"http://gateway.example.com/mcp", "eoa_x", "unencrypted"},
		"not a URL":       {"127.0.0.1:8070", "eoa_x", "not an http(s) URL"},
	} {
		t.Run(name, func(t *testing.T) {
			err := RunStdio(ctx, tt.url, tt.key, io.NopCloser(nil), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
