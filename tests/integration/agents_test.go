package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// bearer adds an agent's key to every request, as an agent host does.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpSession connects the SDK's MCP client over streamable HTTP with key.
func mcpSession(t *testing.T, s *stack.Stack, key string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "integration-agent", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: s.AgentAPIURL + "/mcp", HTTPClient: &http.Client{Transport: bearer{key}, Timeout: 2 * time.Minute},
	}, nil)
	if err != nil {
		t.Fatalf("connect MCP: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// tool calls an MCP tool and decodes its structured result into out; it
// returns the result's text and whether it was a tool error.
func tool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, out any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	if !res.IsError && out != nil {
		raw, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("decode %s result %s: %v", name, raw, err)
		}
	}
	return strings.Join(text, "\n"), res.IsError
}

// waitMCP long-polls wait_for_action until done or awaiting approval.
func waitMCP(t *testing.T, cs *mcp.ClientSession, id string, until func(agentaction.Status) bool) agentaction.Status {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var st agentaction.Status
		if text, isErr := tool(t, cs, "wait_for_action", map[string]any{"id": id, "timeoutSeconds": 20}, &st); isErr {
			t.Fatalf("wait_for_action: %s", text)
		}
		if until(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the expected state: %+v", id, st)
		}
	}
}

func done(st agentaction.Status) bool { return st.Outcome != "" }

func awaitingApproval(st agentaction.Status) bool {
	return st.Outcome != "" || st.Stage == agentaction.StageAwaitingApproval && len(st.PendingApprovers) > 0
}

func releases(t *testing.T, s *stack.Stack, target string) []deploy.Release {
	t.Helper()
	rs, err := deploy.New(s.Sandbox.HTTPURL()).ListReleases(context.Background(), target, "")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func deployProposal(target, version, key string, confidence float64) map[string]any {
	return map[string]any{
		"kind": agentaction.KindDeploy, "target": target, "params": map[string]any{"service": "checkout", "version": version},
		"justification": "CI is green on " + version + "; rolling out the fix for the checkout timeout", "confidence": confidence, "idempotencyKey": key,
	}
}

// approveInWeb signs lee in to the web app with the development picker and
// approves the action at its current digest.
func approveInWeb(t *testing.T, s *stack.Stack, id, person string) {
	t.Helper()
	b := newBrowser(t, s.WebURL)
	b.signIn(person)
	code, page := b.do(http.MethodGet, "/approvals/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("detail page of %s: %d\n%s", id, code, page)
	}
	if !strings.Contains(page, "rolling out the fix") {
		t.Errorf("the approver is not shown the agent's justification:\n%s", page)
	}
	code, body := b.do(http.MethodPost, "/approvals/"+id, url.Values{"csrf": {match(t, csrfRE, page)},
		"decision": {"approve"}, "actionDigest": {match(t, digestRE, page)}, "comment": {"window open, change reviewed"}})
	if code != http.StatusSeeOther {
		t.Fatalf("approve %s as %s: %d %s", id, person, code, body)
	}
}

// The acceptance path over MCP: an agent lists the tools, deploys
// to staging on its own, is denied production outside the window, waits for
// a person inside it, cannot approve by any door, and one idempotency key
// is one action.
func TestAgentGatewayMCP(t *testing.T) {
	s := stack.Start(t, stack.Options{AgentAPI: true})
	ctx := context.Background()
	key, err := s.Agents.Create(ctx, "deploy-bot", []string{"actions:propose", "actions:read", "actions:cancel"})
	if err != nil {
		t.Fatal(err)
	}
	cs := mcpSession(t, s, key)

	t.Run("tools", func(t *testing.T) {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range res.Tools {
			names = append(names, tl.Name)
			if tl.InputSchema == nil {
				t.Errorf("%s has no input schema", tl.Name)
			}
		}
		slices.Sort(names)
		want := []string{"cancel_action", "create_task", "escalation_start", "get_action", "get_task", "get_task_evidence", "list_actions", "propose_action", "start_vendor_payment", "wait_for_action"}
		if !slices.Equal(names, want) {
			t.Fatalf("tools = %v, want %v", names, want)
		}
	})

	t.Run("staging deploy runs autonomously and is verified healthy", func(t *testing.T) {
		var st agentaction.Status
		if text, isErr := tool(t, cs, "propose_action", deployProposal("staging", "1.5.0", "stg-1", 0.95), &st); isErr {
			t.Fatalf("propose: %s", text)
		}
		st = waitMCP(t, cs, st.ID, done)
		if st.Outcome != agentaction.OutcomeSucceeded || st.Verification == nil || !st.Verification.Verified || st.Verification.State != "healthy" {
			t.Fatalf("staging deploy = %+v", st)
		}
		if len(st.Approvals) != 0 || st.ApprovalRounds != 0 {
			t.Errorf("asked people for an autonomous deploy: %+v", st)
		}
		points := []string{}
		for _, g := range st.Gate {
			points = append(points, g.Point)
		}
		if !slices.Contains(points, agentaction.GateBeforeApproval) || !slices.Contains(points, agentaction.GateAtSideEffect) {
			t.Errorf("gate decisions %v, want one before approval and one at the side effect", points)
		}
		rs := releases(t, s, "staging")
		if len(rs) != 1 || rs[0].ID != st.Execution.Ref || rs[0].Status != deploy.StatusHealthy || rs[0].RequestedBy != "agent:deploy-bot" {
			t.Fatalf("staging releases = %+v, want exactly the agent's, healthy", rs)
		}
	})

	t.Run("the same idempotency key is one action", func(t *testing.T) {
		var again agentaction.Status
		if text, isErr := tool(t, cs, "propose_action", deployProposal("staging", "1.5.0", "stg-1", 0.95), &again); isErr {
			t.Fatalf("propose again: %s", text)
		}
		if again.ID != agentaction.WorkflowID("deploy-bot", "stg-1") || again.Outcome != agentaction.OutcomeSucceeded {
			t.Fatalf("second proposal = %+v, want the first action", again)
		}
		text, isErr := tool(t, cs, "propose_action", deployProposal("staging", "1.4.0", "stg-1", 0.95), nil)
		if !isErr || !strings.Contains(text, "idempotencyKey") {
			t.Fatalf("same key, other params: %q (error %v), want a refusal naming idempotencyKey", text, isErr)
		}
		if n := len(releases(t, s, "staging")); n != 1 {
			t.Fatalf("%d staging releases after re-proposing, want 1", n)
		}
	})

	t.Run("bad input names the field", func(t *testing.T) {
		for _, tc := range []struct {
			args  map[string]any
			field string
		}{
			{map[string]any{"kind": "rm.rf", "target": "staging", "justification": "x", "confidence": 1, "idempotencyKey": "k1"}, "kind"},
			{deployProposal("prod", "1.5.0", "k2", 1), "target"},
			{map[string]any{"kind": agentaction.KindDeploy, "target": "staging", "params": map[string]any{"service": "checkout", "versoin": "1"}, "justification": "x", "confidence": 1, "idempotencyKey": "k3"}, "params.versoin"},
			{deployProposal("staging", "9.9.9", "k4", 1), "params.version"},
		} {
			text, isErr := tool(t, cs, "propose_action", tc.args, nil)
			if isErr && strings.Contains(text, tc.field) {
				continue
			}
			// An unknown version is found only when the action resolves
			// against the registry: the action fails naming the field.
			var got agentaction.Status
			if !isErr {
				tool(t, cs, "get_action", map[string]any{"id": agentaction.WorkflowID("deploy-bot", tc.args["idempotencyKey"].(string))}, &got)
				got = waitMCP(t, cs, got.ID, done)
				if got.Outcome == agentaction.OutcomeFailed && strings.Contains(got.Reason, tc.field) {
					continue
				}
			}
			t.Errorf("proposal %v: %q (error %v, status %+v), want a refusal naming %s", tc.args, text, isErr, got, tc.field)
		}
	})

	t.Run("production outside the window is denied with the policy's reason", func(t *testing.T) {
		s.SetDeployWindow(t, false)
		var st agentaction.Status
		if text, isErr := tool(t, cs, "propose_action", deployProposal("production", "1.5.0", "prod-closed", 0.99), &st); isErr {
			t.Fatalf("propose: %s", text)
		}
		st = waitMCP(t, cs, st.ID, done)
		if st.Outcome != agentaction.OutcomeDenied || !strings.Contains(st.Reason, "maintenance window") {
			t.Fatalf("production outside the window = %+v", st)
		}
		if len(st.Gate) == 0 || !slices.ContainsFunc(st.Gate[len(st.Gate)-1].Decision.Reasons, func(r gate.Reason) bool { return r.PolicyID == "deploy.maintenance-window" }) {
			t.Errorf("gate decisions %+v lack deploy.maintenance-window", st.Gate)
		}
		if rs := releases(t, s, "production"); len(rs) != 0 {
			t.Fatalf("production releases %+v after a denial", rs)
		}
	})

	t.Run("production inside the window waits for a person; agents cannot approve", func(t *testing.T) {
		s.SetDeployWindow(t, true)
		var st agentaction.Status
		if text, isErr := tool(t, cs, "propose_action", deployProposal("production", "1.5.0", "prod-open", 0.99), &st); isErr {
			t.Fatalf("propose: %s", text)
		}
		st = waitMCP(t, cs, st.ID, awaitingApproval)
		if st.Outcome != "" || !slices.Equal(st.PendingApprovers, []string{"lee"}) || !strings.Contains(st.ApprovalReason, "release-manager") {
			t.Fatalf("production inside the window = %+v, want awaiting lee (release-manager)", st)
		}
		agentTriesToApprove(t, s, cs, key, st)

		approveInWeb(t, s, st.ID, "lee")
		st = waitMCP(t, cs, st.ID, done)
		if st.Outcome != agentaction.OutcomeSucceeded || !st.Verification.Verified || len(st.Approvals) != 1 || st.Approvals[0].Approver != "lee" {
			t.Fatalf("approved production deploy = %+v", st)
		}
		rs := releases(t, s, "production")
		if len(rs) != 1 || rs[0].Status != deploy.StatusHealthy {
			t.Fatalf("production releases = %+v, want one healthy", rs)
		}
		var act agentaction.DeployAction
		if err := json.Unmarshal(st.Action, &act); err != nil || rs[0].ArtifactDigest != act.ArtifactDigest {
			t.Fatalf("released artifact %s, approved action %+v (%v)", rs[0].ArtifactDigest, act, err)
		}
	})

	t.Run("a vendor payment runs through the vendor-payment process", func(t *testing.T) {
		var st agentaction.Status
		args := map[string]any{"invoiceId": sandbox.InvoiceHappyPath, "justification": "overdue, on the approved schedule", "confidence": 0.9, "idempotencyKey": "pay-1042"}
		if text, isErr := tool(t, cs, "start_vendor_payment", args, &st); isErr {
			t.Fatalf("start_vendor_payment: %s", text)
		}
		st = waitMCP(t, cs, st.ID, done)
		if st.Outcome != agentaction.OutcomeSucceeded || st.Verification == nil || st.Verification.State != "paid" {
			t.Fatalf("agent's vendor payment = %+v", st)
		}
		onePayment(t, s, sandbox.InvoiceHappyPath)
		vp, err := vendorpayment.QueryStatus(ctx, s.Temporal, vendorpayment.VendorPaymentID(sandbox.InvoiceHappyPath))
		if err != nil || vp.RequestedBy != "agent:deploy-bot" || !vp.RequesterVerified {
			t.Fatalf("vendor payment requester = %q verified %v (%v), want the agent, verified", vp.RequestedBy, vp.RequesterVerified, err)
		}
	})

	t.Run("an artifact re-pushed after approval is not released", func(t *testing.T) {
		var st agentaction.Status
		if text, isErr := tool(t, cs, "propose_action", deployProposal("production", "1.4.0", "prod-repush", 0.99), &st); isErr {
			t.Fatalf("propose: %s", text)
		}
		st = waitMCP(t, cs, st.ID, awaitingApproval)
		before := len(releases(t, s, "production"))
		if _, err := deploy.New(s.Sandbox.HTTPURL()).PushArtifact(ctx, "checkout", "1.4.0", "sha256:"+strings.Repeat("ab", 32)); err != nil {
			t.Fatal(err)
		}
		approveInWeb(t, s, st.ID, "lee")
		st = waitMCP(t, cs, st.ID, func(st agentaction.Status) bool {
			return st.Outcome != "" || st.ApprovalRounds >= 2 && st.Stage == agentaction.StageAwaitingApproval
		})
		if st.Outcome != "" || st.ApprovalRounds != 2 || len(st.Approvals) != 0 {
			t.Fatalf("after the artifact changed = %+v, want a new approval round with no approval carried over", st)
		}
		if n := len(releases(t, s, "production")); n != before {
			t.Fatalf("a release went out for a changed artifact: %d production releases, want %d", n, before)
		}
		if _, isErr := tool(t, cs, "cancel_action", map[string]any{"id": st.ID}, &st); isErr {
			t.Fatal("cancel refused")
		}
	})
}

// agentTriesToApprove tries every door an agent has to approve its own
// action: an MCP tool (when cs is given), a REST route, the Temporal Update and Signal under
// its own name or a person's, and the web app with its key.
func agentTriesToApprove(t *testing.T, s *stack.Stack, cs *mcp.ClientSession, key string, st agentaction.Status) {
	t.Helper()
	ctx := context.Background()
	if cs != nil {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "approve_action", Arguments: map[string]any{"id": st.ID}})
		if err == nil && !res.IsError {
			t.Errorf("approve_action answered as if it existed: %+v", res)
		}
	}
	for _, path := range []string{"/v1/actions/" + st.ID + "/approve", "/v1/actions/" + st.ID + "/approval"} {
		req, _ := http.NewRequest(http.MethodPost, s.AgentAPIURL+path, strings.NewReader(`{"decision":"approve"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d, want 404/405: agents have no approval route", path, resp.StatusCode)
		}
	}
	aps := approvalsOf(t, s, st.ID)
	// The gateway's key vouches for an agent's start; as an approval it is
	// refused, whoever it names.
	gw, err := proof.LoadSigner(s.KeysDir + "/agent-gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  approvals.Request
	}{
		{"as itself", approvals.Request{Decision: "approve", Approver: "agent:deploy-bot", ActionDigest: aps.ActionDigest, Proof: stack.Sign(t, gw, proof.MethodAgentKey, "agent:deploy-bot", "approve", aps)}},
		{"as lee with no proof", approvals.Request{Decision: "approve", Approver: "lee", ActionDigest: aps.ActionDigest}},
		{"as lee with the gateway's key", approvals.Request{Decision: "approve", Approver: "lee", ActionDigest: aps.ActionDigest, Proof: stack.Sign(t, gw, proof.MethodAgentKey, "lee", "approve", aps)}},
		{"as lee with a guessed code", approvals.Request{Decision: "approve", Approver: "lee", ActionDigest: aps.ActionDigest, Proof: "123456"}},
	} {
		err := client.Approve(ctx, s.Temporal, st.ID, tc.req)
		var refused *client.ApprovalRefusedError
		if !errors.As(err, &refused) {
			t.Errorf("Update %s: %v, want refused", tc.name, err)
		}
		signal(t, s, st.ID, tc.req)
	}
	refusedSignals(t, s, st.ID, 4)
	// The web app knows people by OIDC or the dev picker, never by bearer key.
	req, _ := http.NewRequest(http.MethodPost, s.WebURL+"/approvals/"+st.ID, strings.NewReader(url.Values{"decision": {"approve"}, "actionDigest": {aps.ActionDigest}}.Encode()))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 300 {
		t.Errorf("web app POST with an agent key = %d, want refused", resp.StatusCode)
	}
	if now := approvalsOf(t, s, st.ID); len(now.Approvals) != 0 {
		t.Fatalf("an agent's attempt was accepted: %+v", now.Approvals)
	}
}

// rest calls the REST API with key (empty: none) and decodes the answer.
func rest(t *testing.T, s *stack.Stack, method, path, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.AgentAPIURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

func waitREST(t *testing.T, s *stack.Stack, key, id string, until func(agentaction.Status) bool) agentaction.Status {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var st agentaction.Status
		if code := rest(t, s, http.MethodGet, "/v1/actions/"+id+"/wait?timeout=20s", key, nil, &st); code != http.StatusOK {
			t.Fatalf("wait %s: %d", id, code)
		}
		if until(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the expected state: %+v", id, st)
		}
	}
}

// The same cases over plain HTTP.
func TestAgentGatewayREST(t *testing.T) {
	s := stack.Start(t, stack.Options{AgentAPI: true})
	ctx := context.Background()
	key, err := s.Agents.Create(ctx, "release-bot", []string{"actions:propose", "actions:read"})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := s.Agents.Create(ctx, "auditor-bot", []string{"actions:read"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := s.Agents.Create(ctx, "old-bot", []string{"actions:propose", "actions:read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Agents.Revoke(ctx, "old-bot"); err != nil {
		t.Fatal(err)
	}

	t.Run("identity and input", func(t *testing.T) {
		var e struct{ Error, Field string }
		for _, tc := range []struct {
			name, key string
			body      any
			want      int
			field     string
		}{
			{"no key", "", deployProposal("staging", "1.5.0", "r0", 1), http.StatusUnauthorized, ""},
			{"revoked key", revoked, deployProposal("staging", "1.5.0", "r0", 1), http.StatusUnauthorized, ""},
			{"forged key", "eoa_" + strings.Repeat("A", 43), deployProposal("staging", "1.5.0", "r0", 1), http.StatusUnauthorized, ""},
			{"read-only key", reader, deployProposal("staging", "1.5.0", "r0", 1), http.StatusForbidden, ""},
			{"unknown kind", key, map[string]any{"kind": "db.drop", "target": "staging", "justification": "x", "confidence": 1, "idempotencyKey": "r1"}, http.StatusBadRequest, "kind"},
			{"malformed params", key, map[string]any{"kind": agentaction.KindDeploy, "target": "staging", "params": "v1.5", "justification": "x", "confidence": 1, "idempotencyKey": "r2"}, http.StatusBadRequest, "params"},
			{"confidence out of range", key, deployProposal("staging", "1.5.0", "r3", 7), http.StatusBadRequest, "confidence"},
			{"oversized", key, []byte(`{"kind":"email.send","justification":"` + strings.Repeat("x", 256<<10) + `"}`), http.StatusRequestEntityTooLarge, ""},
			{"not JSON", key, []byte(`{"kind":`), http.StatusBadRequest, ""},
		} {
			e.Error, e.Field = "", ""
			if code := rest(t, s, http.MethodPost, "/v1/actions", tc.key, tc.body, &e); code != tc.want || e.Field != tc.field {
				t.Errorf("%s: %d field %q (%s), want %d field %q", tc.name, code, e.Field, e.Error, tc.want, tc.field)
			}
		}
	})

	var staging agentaction.Status
	t.Run("staging deploy, idempotent", func(t *testing.T) {
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, deployProposal("staging", "1.4.0", "rest-stg", 0.9), &staging); code != http.StatusAccepted {
			t.Fatalf("propose: %d %+v", code, staging)
		}
		var again agentaction.Status
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, deployProposal("staging", "1.4.0", "rest-stg", 0.9), &again); code != http.StatusAccepted || again.ID != staging.ID {
			t.Fatalf("same key again: %d %s, want %s", code, again.ID, staging.ID)
		}
		var e struct{ Error, Field string }
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, deployProposal("staging", "1.5.0", "rest-stg", 0.9), &e); code != http.StatusConflict || e.Field != "idempotencyKey" {
			t.Fatalf("same key, other proposal: %d %+v, want 409 naming idempotencyKey", code, e)
		}
		staging = waitREST(t, s, key, staging.ID, done)
		if staging.Outcome != agentaction.OutcomeSucceeded || !staging.Verification.Verified {
			t.Fatalf("staging = %+v", staging)
		}
		if n := len(releases(t, s, "staging")); n != 1 {
			t.Fatalf("%d staging releases, want 1", n)
		}
	})

	t.Run("email to a colleague is sent and verified delivered", func(t *testing.T) {
		var st agentaction.Status
		body := map[string]any{"kind": agentaction.KindEmail, "target": "ops@example.com",
			"params":        map[string]any{"subject": "checkout 1.4.0 is on staging", "body": "Smoke tests passed."},
			"justification": "tell ops the release is staged", "confidence": 0.95, "idempotencyKey": "mail-1"}
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, body, &st); code != http.StatusAccepted {
			t.Fatalf("propose: %d", code)
		}
		st = waitREST(t, s, key, st.ID, done)
		if st.Outcome != agentaction.OutcomeSucceeded || st.Verification == nil || st.Verification.State != "delivered" {
			t.Fatalf("email = %+v", st)
		}
		msgs, err := email.New(s.Sandbox.SMTPAddr(), s.Sandbox.HTTPURL()).List(ctx, "ops@example.com")
		if err != nil || len(msgs) != 1 || msgs[0].Subject != "checkout 1.4.0 is on staging" {
			t.Fatalf("ops@example.com mailbox = %+v (%v), want the one message", msgs, err)
		}
	})

	t.Run("email outside the company waits for a comms lead", func(t *testing.T) {
		var st agentaction.Status
		body := map[string]any{"kind": agentaction.KindEmail, "target": "press@newspaper.test",
			"params":        map[string]any{"subject": "Statement", "body": "No comment."},
			"justification": "reply to a journalist", "confidence": 0.99, "idempotencyKey": "mail-2"}
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, body, &st); code != http.StatusAccepted {
			t.Fatalf("propose: %d", code)
		}
		st = waitREST(t, s, key, st.ID, awaitingApproval)
		if st.Outcome != "" || !slices.Equal(st.PendingApprovers, []string{"ines"}) {
			t.Fatalf("external email = %+v, want awaiting ines (comms-lead)", st)
		}
	})

	t.Run("another agent cannot read it", func(t *testing.T) {
		if code := rest(t, s, http.MethodGet, "/v1/actions/"+staging.ID, reader, nil, nil); code != http.StatusNotFound {
			t.Fatalf("auditor-bot reading release-bot's action: %d, want 404", code)
		}
		var list struct{ Actions []agentaction.Status }
		if code := rest(t, s, http.MethodGet, "/v1/actions", key, nil, &list); code != http.StatusOK || !slices.ContainsFunc(list.Actions, func(a agentaction.Status) bool { return a.ID == staging.ID }) {
			t.Fatalf("list: %d %+v", code, list)
		}
	})

	t.Run("production: denied outside the window, approved by a person inside", func(t *testing.T) {
		s.SetDeployWindow(t, false)
		var st agentaction.Status
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, deployProposal("production", "1.4.0", "rest-prod-1", 0.99), &st); code != http.StatusAccepted {
			t.Fatalf("propose: %d", code)
		}
		st = waitREST(t, s, key, st.ID, done)
		if st.Outcome != agentaction.OutcomeDenied || !strings.Contains(st.Reason, "maintenance window") {
			t.Fatalf("outside the window = %+v", st)
		}
		s.SetDeployWindow(t, true)
		if code := rest(t, s, http.MethodPost, "/v1/actions", key, deployProposal("production", "1.4.0", "rest-prod-2", 0.99), &st); code != http.StatusAccepted {
			t.Fatalf("propose: %d", code)
		}
		st = waitREST(t, s, key, st.ID, awaitingApproval)
		if !slices.Equal(st.PendingApprovers, []string{"lee"}) {
			t.Fatalf("inside the window = %+v, want awaiting lee", st)
		}
		agentTriesToApprove(t, s, nil, key, st)
		approveInWeb(t, s, st.ID, "lee")
		st = waitREST(t, s, key, st.ID, done)
		if st.Outcome != agentaction.OutcomeSucceeded || !st.Verification.Verified {
			t.Fatalf("approved = %+v", st)
		}
		if n := len(releases(t, s, "production")); n != 1 {
			t.Fatalf("%d production releases, want 1", n)
		}
	})
}
