package agentapi

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// connect opens an MCP session to the harness's gateway with key, over
// streamable HTTP with the SDK's own client.
func (h *harness) connect(t *testing.T, key string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: h.gw.MCPURL(), HTTPClient: bearerClient(key), DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err)
	return res
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func deployArgs(key string) map[string]any {
	return map[string]any{"kind": agentaction.KindDeploy, "target": "staging", "params": map[string]any{"service": "checkout", "version": "1.4.2"},
		"justification": "release the checkout fix", "confidence": 0.9, "idempotencyKey": key}
}

func TestMCPTools(t *testing.T) {
	each(t, "agentapi_mcp", func(t *testing.T, e testdb.Engine) {
		h := newHarness(t, e, nil)
		cs := h.connect(t, h.agent["alpha"])
		res, err := cs.ListTools(context.Background(), nil)
		require.NoError(t, err)
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
			assert.NotContains(t, strings.ToLower(tool.Name), "approve")
			assert.NotEmpty(t, tool.Description, tool.Name)
			in, ok := tool.InputSchema.(map[string]any)
			require.True(t, ok, "%s input schema: %T", tool.Name, tool.InputSchema)
			assert.Equal(t, "object", in["type"], tool.Name)
			assert.NotContains(t, in["properties"], "agent", "%s: the agent is never an argument", tool.Name)
			assert.NotNil(t, tool.OutputSchema, tool.Name)
		}
		// Without Config.Tasks, the task tools are absent.
		want := h.gw.ToolNames()
		assert.Equal(t, []string{ToolPropose, ToolGet, ToolWait, ToolList, ToolCancel, ToolVendorPayment}, want)
		slices.Sort(want)
		slices.Sort(names)
		assert.Equal(t, want, names)

		// propose_action: the agent is the key's.
		r := callTool(t, cs, ToolPropose, deployArgs("rel-9"))
		require.False(t, r.IsError, text(r))
		id := agentaction.WorkflowID("alpha", "rel-9")
		assert.Contains(t, text(r), "Action "+id+" (deploy.release on staging): awaiting approval by maria (finance-manager)")
		st, ok := r.StructuredContent.(map[string]any)
		require.True(t, ok, "structured content: %T", r.StructuredContent)
		assert.Equal(t, id, st["id"])
		calls := h.acts.Calls()
		require.Len(t, calls, 1)
		assert.Equal(t, "alpha", calls[0].Agent)
		assert.JSONEq(t, `{"service":"checkout","version":"1.4.2"}`, string(calls[0].Prop.Params))

		r = callTool(t, cs, ToolGet, map[string]any{"id": id})
		require.False(t, r.IsError, text(r))
		r = callTool(t, cs, ToolWait, map[string]any{"id": id, "timeoutSeconds": 5})
		require.False(t, r.IsError, text(r))
		r = callTool(t, cs, ToolList, map[string]any{"limit": 5})
		require.False(t, r.IsError, text(r))
		assert.Contains(t, text(r), "1 action(s).")
		r = callTool(t, cs, ToolCancel, map[string]any{"id": id})
		require.False(t, r.IsError, text(r))
		assert.Contains(t, text(r), "done, outcome cancelled")
		r = callTool(t, cs, ToolVendorPayment, map[string]any{"invoiceId": "INV-1042", "justification": "overdue", "confidence": 0.7, "idempotencyKey": "pay-1"})
		require.False(t, r.IsError, text(r))

		var got []string
		for _, c := range h.acts.Calls() {
			got = append(got, c.Method+" "+c.Agent)
		}
		assert.Equal(t, []string{"Propose alpha", "Get alpha", "Wait alpha", "List alpha", "Cancel alpha", "Propose alpha"}, got)
		last := h.acts.Calls()[len(got)-1].Prop
		assert.Equal(t, agentaction.KindVendorPayment, last.Kind)
		assert.Equal(t, "INV-1042", last.Target)
		assert.Equal(t, 5*time.Second, h.acts.Calls()[2].Timeout)
	})
}

func TestMCPToolErrors(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_mcp_err")[0], nil)
	alpha := h.connect(t, h.agent["alpha"])
	reader := h.connect(t, h.agent["reader"])
	bravo := h.connect(t, h.agent["bravo"])
	r := callTool(t, alpha, ToolPropose, deployArgs("rel-1"))
	require.False(t, r.IsError, text(r))
	alphaID := agentaction.WorkflowID("alpha", "rel-1")

	badVersion := deployArgs("rel-2")
	badVersion["params"] = map[string]any{"service": "checkout"}
	withAgent := deployArgs("rel-3")
	withAgent["agent"] = "bravo"

	tests := []struct {
		name string
		cs   *mcp.ClientSession
		tool string
		args map[string]any
		want string
	}{
		{"field error names the field", alpha, ToolPropose, badVersion, `"params.version"`},
		{"unknown kind", alpha, ToolPropose, map[string]any{"kind": "shell.exec", "target": "x", "justification": "j", "confidence": 1, "idempotencyKey": "k"}, `"kind"`},
		{"vendor payment names invoiceId", alpha, ToolVendorPayment, map[string]any{"invoiceId": "INV 1", "justification": "j", "confidence": 1, "idempotencyKey": "k"}, `"invoiceId"`},
		{"agent argument refused", alpha, ToolPropose, withAgent, "agent"},
		{"read-only key cannot propose", reader, ToolPropose, deployArgs("rel-4"), ScopePropose},
		{"key without cancel cannot cancel", bravo, ToolCancel, map[string]any{"id": alphaID}, ScopeCancel},
		{"another agent's action", bravo, ToolGet, map[string]any{"id": alphaID}, "no such action"},
		{"wait too long", alpha, ToolWait, map[string]any{"id": alphaID, "timeoutSeconds": 61}, `"timeoutSeconds"`},
		{"list limit too big", alpha, ToolList, map[string]any{"limit": 1000}, `"limit"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callTool(t, tt.cs, tt.tool, tt.args)
			assert.True(t, r.IsError, "want a tool error, got %s", text(r))
			assert.Contains(t, text(r), tt.want)
		})
	}
	var agents []string
	for _, c := range h.acts.Calls() {
		agents = append(agents, c.Method+" "+c.Agent)
	}
	// Scope and argument refusals never reach Actions; bravo's read is
	// made as bravo.
	assert.Equal(t, []string{"Propose alpha", "Propose alpha", "Propose alpha", "Propose alpha", "Get bravo"}, agents)

	h.acts.mu.Lock()
	h.acts.proposeErr = errBoom
	h.acts.mu.Unlock()
	r = callTool(t, alpha, ToolPropose, deployArgs("rel-5"))
	assert.True(t, r.IsError)
	assert.NotContains(t, text(r), "secret-internal-detail")
}

func TestSummary(t *testing.T) {
	id := "agent-action-x-1a2b"
	tests := []struct {
		name string
		st   agentaction.Status
		want string
	}{
		{"succeeded", agentaction.Status{ID: id, Kind: agentaction.KindDeploy, Target: "staging", Stage: agentaction.StageDone, Outcome: agentaction.OutcomeSucceeded,
			Execution: &agentaction.Execution{Ref: "rel-12"}, Verification: &agentaction.Verification{Verified: true, State: "healthy"}},
			"Action agent-action-x-1a2b (deploy.release on staging): done, outcome succeeded — release rel-12 verified healthy"},
		{"denied", agentaction.Status{ID: id, Kind: agentaction.KindEmail, Target: "x@evil.example", Stage: agentaction.StageDone, Outcome: agentaction.OutcomeDenied,
			Gate: []agentaction.GateCheck{{Decision: gate.Decision{Reasons: []gate.Reason{{PolicyID: "email.external", Message: "external recipients are not allowed"}, {PolicyID: "p2"}}}}}},
			"Action agent-action-x-1a2b (email.send on x@evil.example): denied: external recipients are not allowed; policy p2"},
		{"awaiting", agentaction.Status{ID: id, Kind: agentaction.KindVendorPayment, Target: "INV-1", Stage: approvals.StageAwaitingApproval,
			AwaitingSlot: "finance-manager", PendingApprovers: []string{"maria", "li"}},
			"Action agent-action-x-1a2b (vendor_payment.release on INV-1): awaiting approval by maria or li (finance-manager)"},
		{"unverified", agentaction.Status{ID: id, Kind: agentaction.KindDeploy, Target: "production", Stage: agentaction.StageDone, Outcome: agentaction.OutcomeUnverified,
			Execution: &agentaction.Execution{Ref: "rel-3"}, Verification: &agentaction.Verification{State: "degraded"}, Reason: "escalated to on-call"},
			"Action agent-action-x-1a2b (deploy.release on production): done, outcome unverified — release rel-3 not verified (state degraded); escalated to on-call"},
		{"running", agentaction.Status{ID: id, Kind: agentaction.KindDeploy, Target: "staging", Stage: agentaction.StageExecuting},
			"Action agent-action-x-1a2b (deploy.release on staging): in progress, stage executing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, Summary(tt.st)) })
	}
}

// The output schemas accept real statuses: params and action are any JSON.
func TestOutputSchemaAcceptsStatus(t *testing.T) {
	status, list, err := outputSchemas()
	require.NoError(t, err)
	rs, err := status.Resolve(nil)
	require.NoError(t, err)
	st := agentaction.Status{ID: "a", Kind: agentaction.KindDeploy, Target: "staging", Params: json.RawMessage(`{"service":"s","version":"1"}`),
		Action: json.RawMessage(`{"digest":"sha256:x"}`), Stage: agentaction.StageDone, Outcome: agentaction.OutcomeSucceeded,
		Approvals: []approvals.Approval{{Slot: "sre", Approver: "li", Decision: "approve", Proof: &approvals.Proof{Method: "oidc"}}}}
	var v map[string]any
	b, err := json.Marshal(st)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &v))
	assert.NoError(t, rs.Validate(v))
	rl, err := list.Resolve(nil)
	require.NoError(t, err)
	b, err = json.Marshal(listOf(nil))
	require.NoError(t, err)
	var lv map[string]any
	require.NoError(t, json.Unmarshal(b, &lv))
	assert.NoError(t, rl.Validate(lv))
}
