package agentapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends one request; key "" sends none, extra headers are added as given.
func (h *harness) do(t *testing.T, method, path, key, body string, extra ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

const deployProposal = `{"kind":"deploy.release","target":"staging","params":{"service":"checkout","version":"1.4.2"},` +
	`"justification":"release the fix for the checkout timeout","confidence":0.9,"idempotencyKey":"rel-1"}`

func TestRESTAuthentication(t *testing.T) {
	each(t, "agentapi_auth", func(t *testing.T, e testdb.Engine) {
		h := newHarness(t, e, nil)
		revokedKey, err := h.keys.Create(context.Background(), "gone", AllScopes())
		require.NoError(t, err)
		require.NoError(t, h.keys.Revoke(context.Background(), "gone"))
		tests := []struct {
			name      string
			method    string
			path      string
			auth      string // the whole Authorization header; "" sends none
			body      string
			status    int
			wantScope string
		}{
			{"missing key", "GET", "/v1/actions", "", "", 401, ""},
			{"forged key", "GET", "/v1/actions", "Bearer " + forgedKey(t), "", 401, ""},
			{"revoked key", "GET", "/v1/actions", "Bearer " + revokedKey, "", 401, ""},
			{"not bearer", "GET", "/v1/actions", "Basic " + h.agent["alpha"], "", 401, ""},
			{"key without scheme", "GET", "/v1/actions", h.agent["alpha"], "", 401, ""},
			{"read-only key proposes", "POST", "/v1/actions", "Bearer " + h.agent["reader"], deployProposal, 403, ScopePropose},
			{"read-only key pays", "POST", "/v1/vendor-payments", "Bearer " + h.agent["reader"], `{}`, 403, ScopePropose},
			{"key without cancel", "POST", "/v1/actions/x/cancel", "Bearer " + h.agent["bravo"], "", 403, ScopeCancel},
			{"missing key on MCP", "POST", "/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 401, ""},
			{"forged key on MCP", "POST", "/mcp", "Bearer " + forgedKey(t), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 401, ""},
			{"revoked key on MCP", "POST", "/mcp", "Bearer " + revokedKey, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 401, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var extra []string
				if tt.auth != "" {
					extra = []string{"Authorization", tt.auth}
				}
				a := h.do(t, tt.method, tt.path, "", tt.body, extra...)
				require.Equal(t, tt.status, a.status, "%s", a.raw)
				challenge := a.header.Get("WWW-Authenticate")
				assert.Contains(t, challenge, `resource_metadata="`+h.srv.URL+ResourceMetadataPath)
				if tt.wantScope != "" {
					assert.Equal(t, tt.wantScope, a.body["scope"])
					assert.Contains(t, a.body["error"], tt.wantScope)
					assert.Contains(t, challenge, `error="insufficient_scope"`)
				}
			})
		}
		for _, c := range h.acts.Calls() {
			t.Errorf("refused request reached Actions: %+v", c)
		}
	})
}

// The agent is the key's: a body field naming another agent is refused, a
// header naming one is ignored, and one agent cannot read another's action.
func TestRESTIdentityComesFromTheKeyOnly(t *testing.T) {
	each(t, "agentapi_identity", func(t *testing.T, e testdb.Engine) {
		h := newHarness(t, e, nil)
		a := h.do(t, "POST", "/v1/actions", h.agent["alpha"], deployProposal)
		require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
		id := a.body["id"].(string)
		assert.Equal(t, agentaction.WorkflowID("alpha", "rel-1"), id)
		assert.Equal(t, "agent:alpha", a.body["requestedBy"])

		// bravo asks for alpha's action, by id and claiming to be alpha.
		b := h.do(t, "GET", "/v1/actions/"+id, h.agent["bravo"], "", "X-Agent", "alpha")
		assert.Equal(t, http.StatusNotFound, b.status, "%s", b.raw)

		withAgent := strings.Replace(deployProposal, `{"kind"`, `{"agent":"alpha","kind"`, 1)
		b = h.do(t, "POST", "/v1/actions", h.agent["bravo"], withAgent)
		assert.Equal(t, http.StatusBadRequest, b.status)
		assert.Equal(t, "agent", b.body["field"])

		b = h.do(t, "POST", "/v1/actions", h.agent["bravo"], deployProposal, "X-Agent", "alpha")
		assert.Equal(t, http.StatusAccepted, b.status, "%s", b.raw)
		assert.Equal(t, "agent:bravo", b.body["requestedBy"])

		var agents []string
		for _, c := range h.acts.Calls() {
			agents = append(agents, c.Method+" "+c.Agent)
		}
		assert.Equal(t, []string{"Propose alpha", "Get bravo", "Propose bravo"}, agents)
	})
}

func TestRESTOperations(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_ops")[0], nil)
	key := h.agent["alpha"]
	a := h.do(t, "POST", "/v1/actions", key, deployProposal)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	id := a.body["id"].(string)
	assert.Equal(t, "application/json", a.header.Get("Content-Type"))
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))

	a = h.do(t, "GET", "/v1/actions/"+id, key, "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, id, a.body["id"])

	a = h.do(t, "GET", "/v1/actions/"+id+"/wait?timeout=45s", key, "")
	assert.Equal(t, http.StatusOK, a.status)
	a = h.do(t, "GET", "/v1/actions/"+id+"/wait?timeout=5", key, "")
	assert.Equal(t, http.StatusOK, a.status)
	a = h.do(t, "GET", "/v1/actions/"+id+"/wait", key, "")
	assert.Equal(t, http.StatusOK, a.status)

	a = h.do(t, "GET", "/v1/actions?limit=10", key, "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Len(t, a.body["actions"], 1)

	a = h.do(t, "POST", "/v1/actions/"+id+"/cancel", key, "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, agentaction.OutcomeCancelled, a.body["outcome"])

	a = h.do(t, "POST", "/v1/vendor-payments", key,
		`{"invoiceId":"INV-1042","justification":"overdue, matched to PO-77","confidence":0.8,"idempotencyKey":"pay-INV-1042"}`)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	assert.Equal(t, agentaction.KindVendorPayment, a.body["kind"])

	calls := h.acts.Calls()
	var waits []time.Duration
	for _, c := range calls {
		if c.Method == "Wait" {
			waits = append(waits, c.Timeout)
		}
	}
	assert.Equal(t, []time.Duration{45 * time.Second, 5 * time.Second, DefaultWait}, waits)
	for _, c := range calls {
		if c.Method == "List" {
			assert.Equal(t, 10, c.Limit)
		}
	}
	pay := calls[len(calls)-1].Prop
	assert.Equal(t, agentaction.Proposal{Kind: agentaction.KindVendorPayment, Target: "INV-1042", Params: json.RawMessage(`{}`),
		Justification: "overdue, matched to PO-77", Confidence: 0.8, IdempotencyKey: "pay-INV-1042"}, pay)
}

func TestRESTRefusals(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_refusals")[0], func(c *Config) { c.MaxBodyBytes = 2048 })
	key := h.agent["alpha"]
	big := `{"kind":"email.send","target":"a@b.example","params":{"subject":"x","body":"` + strings.Repeat("x", 3000) +
		`"},"justification":"j","confidence":1,"idempotencyKey":"k"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		field  string
	}{
		{"body over the cap", "POST", "/v1/actions", big, 413, ""},
		{"malformed JSON", "POST", "/v1/actions", `{"kind": "deploy.release",`, 400, ""},
		{"not JSON", "POST", "/v1/actions", `kind=deploy`, 400, ""},
		{"empty body", "POST", "/v1/actions", ``, 400, ""},
		{"two objects", "POST", "/v1/actions", deployProposal + deployProposal, 400, ""},
		{"array body", "POST", "/v1/actions", `[]`, 400, ""},
		{"unknown field", "POST", "/v1/actions", `{"kind":"deploy.release","approved":true}`, 400, "approved"},
		{"wrong type", "POST", "/v1/actions", `{"kind":"deploy.release","confidence":"high"}`, 400, "confidence"},
		{"refused by validation", "POST", "/v1/actions", strings.Replace(deployProposal, `"checkout"`, `"Checkout!"`, 1), 400, "params.service"},
		{"unknown kind", "POST", "/v1/actions", strings.Replace(deployProposal, `deploy.release`, `shell.exec`, 1), 400, "kind"},
		{"bad invoice names invoiceId", "POST", "/v1/vendor-payments", `{"invoiceId":"INV 1","justification":"j","confidence":1,"idempotencyKey":"k"}`, 400, "invoiceId"},
		{"vendor payment unknown field", "POST", "/v1/vendor-payments", `{"invoiceId":"INV-1","amount":5}`, 400, "amount"},
		{"wait too long", "GET", "/v1/actions/x/wait?timeout=2m", "", 400, "timeout"},
		{"wait nonsense", "GET", "/v1/actions/x/wait?timeout=soon", "", 400, "timeout"},
		{"wait zero", "GET", "/v1/actions/x/wait?timeout=0s", "", 400, "timeout"},
		{"list limit too big", "GET", "/v1/actions?limit=1000", "", 400, "limit"},
		{"list limit nonsense", "GET", "/v1/actions?limit=ten", "", 400, "limit"},
		{"unknown action", "GET", "/v1/actions/agent-action-alpha-00", "", 404, ""},
		{"approve does not exist", "POST", "/v1/actions/agent-action-alpha-00/approve", `{}`, 404, ""},
		{"approve via PUT does not exist", "PUT", "/v1/actions/agent-action-alpha-00", `{}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(t, tt.method, tt.path, key, tt.body)
			require.Equal(t, tt.status, a.status, "%s", a.raw)
			require.NotNil(t, a.body, "error answers are JSON: %s", a.raw)
			assert.NotEmpty(t, a.body["error"])
			if tt.field != "" {
				assert.Equal(t, tt.field, a.body["field"], "%s", a.raw)
			}
		})
	}
}

func TestRESTActionErrors(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_errors")[0], nil)
	for _, tt := range []struct {
		name   string
		err    error
		status int
		field  string
	}{
		{"conflict", agentaction.ErrConflict, 409, "idempotencyKey"},
		{"field error", &agentaction.FieldError{Field: "params.version", Message: "no such version"}, 400, "params.version"},
		{"internal", errBoom, 500, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.acts.mu.Lock()
			h.acts.proposeErr = tt.err
			h.acts.mu.Unlock()
			a := h.do(t, "POST", "/v1/actions", h.agent["alpha"], deployProposal)
			require.Equal(t, tt.status, a.status, "%s", a.raw)
			if tt.field != "" {
				assert.Equal(t, tt.field, a.body["field"], "%s", a.raw)
			} else {
				assert.NotContains(t, a.body, "field")
			}
			assert.NotContains(t, string(a.raw), "secret-internal-detail", "internal errors are logged, not answered")
		})
	}
}

func TestRESTRateLimit(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_rate")[0], func(c *Config) { c.RateLimit, c.RateBurst, c.Now = 1, 3, fixedClock })
	for i := range 3 {
		a := h.do(t, "GET", "/v1/actions", h.agent["alpha"], "")
		require.Equal(t, http.StatusOK, a.status, "request %d: %s", i, a.raw)
	}
	a := h.do(t, "GET", "/v1/actions", h.agent["alpha"], "")
	require.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Equal(t, "1", a.header.Get("Retry-After"))
	assert.NotEmpty(t, a.body["error"])
	// MCP shares the agent's budget.
	a = h.do(t, "POST", "/mcp", h.agent["alpha"], `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		"Accept", "application/json, text/event-stream")
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	// Another agent has its own.
	a = h.do(t, "GET", "/v1/actions", h.agent["bravo"], "")
	assert.Equal(t, http.StatusOK, a.status)
}

func TestPublicEndpointsAndMetadata(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_public")[0], nil)
	a := h.do(t, "GET", "/v1/healthz", "", "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "ok", a.body["status"])

	a = h.do(t, "GET", "/v1/openapi.yaml", "", "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, OpenAPI(), a.raw)

	for _, path := range []string{ResourceMetadataPath, ResourceMetadataPath + MCPPath} {
		a = h.do(t, "GET", path, "", "")
		require.Equal(t, http.StatusOK, a.status, path)
		assert.Equal(t, h.srv.URL+MCPPath, a.body["resource"])
		assert.Equal(t, []any{ScopePropose, ScopeRead, ScopeCancel, ScopeTasksCreate, ScopeTasksRead, ScopeEscalationsCreate}, a.body["scopes_supported"])
		assert.Equal(t, []any{"header"}, a.body["bearer_methods_supported"])
		assert.NotContains(t, a.body, "authorization_servers", "keys come from the CLI, not an authorization server")
	}
}

func TestHostCheck(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_host")[0], nil)
	req, err := http.NewRequest("GET", h.srv.URL+"/v1/actions", nil)
	require.NoError(t, err)
	req.Host = "attacker.example:8070"
	req.Header.Set("Authorization", "Bearer "+h.agent["alpha"])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)

	req, err = http.NewRequest("GET", h.srv.URL+"/v1/healthz", nil)
	require.NoError(t, err)
	req.Host = "pod-ip:8070"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "probes reach healthz by any name")
}

func TestNewRefusesBadConfig(t *testing.T) {
	keys := openStore(t, testdb.Engines("agentapi_cfg")[0])
	for name, cfg := range map[string]Config{
		"no keys":        {Actions: newFakeActions(), BaseURL: "http://127.0.0.1:8070"},
		"no actions":     {Keys: keys, BaseURL: "http://127.0.0.1:8070"},
		"no base URL":    {Keys: keys, Actions: newFakeActions()},
		"base with path": {Keys: keys, Actions: newFakeActions(), BaseURL: "http://127.0.0.1:8070/mcp"},
		"negative rate":  {Keys: keys, Actions: newFakeActions(), BaseURL: "http://127.0.0.1:8070", RateLimit: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg)
			assert.Error(t, err)
		})
	}
}
