package approvals

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/proof"
)

var (
	fmSlot = Slot{Role: "finance-manager", Candidates: []Candidate{
		{ID: "maria", Name: "Maria Rossi", Email: "maria@example.com", Manager: "chen"},
		{ID: "omar", Name: "Omar Haddad", Email: "omar@example.com", Manager: "chen", Delegate: "lena"}, // absent
	}}
	cfoSlot = Slot{Role: "cfo", Candidates: []Candidate{
		{ID: "chen", Name: "Chen Wei", Email: "chen@example.com", Manager: "sofia"},
	}}
	testNow = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
)

func approve(who, digest string) Request {
	return Request{Decision: DecisionApprove, Approver: who, ActionDigest: digest}
}

func newSigner(t *testing.T) *proof.Signer {
	t.Helper()
	_, priv, err := proof.GenerateKey()
	require.NoError(t, err)
	return proof.NewSigner(priv)
}

func trusted(s *proof.Signer, issuer string) proof.TrustedKey {
	return proof.TrustedKey{KeyID: s.KeyID(), Public: proof.EncodePublicKey(s.Public()), Issuer: issuer}
}

func TestCheckApprovalRules(t *testing.T) {
	v := view{
		Stage: StageAwaitingApproval, Slot: "cfo", RequestedBy: "ana", ActionDigest: "sha256:aa",
		Awaited:   []awaitee{{ID: "chen"}, {ID: "sofia", OnBehalfOf: "chen"}},
		Approvals: []Approval{{Slot: "finance-manager", Approver: "maria", Decision: DecisionApprove}},
	}
	idle := v
	idle.Slot, idle.Awaited, idle.Stage = "", nil, "releasing"
	tests := []struct {
		name      string
		view      view
		req       Request
		wantErr   string
		wantBehal string
	}{
		{"candidate", v, approve("chen", "sha256:aa"), "", ""},
		{"escalation target", v, approve("sofia", "sha256:aa"), "", "chen"},
		{"reject by candidate", v, Request{Decision: DecisionReject, Approver: "chen", ActionDigest: "sha256:aa"}, "", ""},
		{"requester", v, approve("ana", "sha256:aa"), "requested this action", ""},
		{"agent, any case", v, approve("Agent:bot", "sha256:aa"), "is an agent", ""},
		{"stranger", v, approve("omar", "sha256:aa"), "may not decide", ""},
		{"second slot", v, approve("maria", "sha256:aa"), "one person cannot fill two slots", ""},
		{"wrong digest", v, approve("chen", "sha256:bb"), "actionDigest", ""},
		{"nothing awaited", idle, approve("chen", "sha256:aa"), "no decision is awaited", ""},
		{"bad decision", v, Request{Decision: "yes", Approver: "chen", ActionDigest: "sha256:aa"}, "decision", ""},
		{"blank approver", v, Request{Decision: DecisionApprove, Approver: "  ", ActionDigest: "sha256:aa"}, "approver: required", ""},
	}
	for _, tc := range tests {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", tc.name, strict), func(t *testing.T) {
				view := tc.view
				view.Rules = Rules{Strict: strict}
				got, err := check(tc.req, view)
				if tc.wantErr == "" {
					require.NoError(t, err)
					assert.Equal(t, tc.wantBehal, got.OnBehalfOf)
					assert.Nil(t, got.Proof, "no proof is required, none is kept")
					assert.False(t, got.NeedsCode)
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
			})
		}
	}
}

// The requester may not approve under another spelling of their identity.
// Under the rules of executions started before strict approvals the
// comparison stays exact, so their histories replay unchanged. Proven
// approvals imply the strict comparison.
func TestCheckApprovalRequesterIdentity(t *testing.T) {
	mk := func(requester string, rules Rules) view {
		return view{
			Stage: StageAwaitingApproval, Slot: "finance-manager", RequestedBy: requester, ActionDigest: "sha256:aa",
			Awaited: []awaitee{{ID: "maria"}, {ID: "omar"}}, Rules: rules,
		}
	}
	strict, old, proven := Rules{Strict: true}, Rules{}, Rules{RequireProof: true}
	tests := []struct {
		name      string
		requester string
		approver  string
		rules     Rules
		wantErr   string // "" = accepted
	}{
		{"cli prefix and case", "cli:Maria", "maria", strict, "requested this action"},
		{"case only", "Maria", "maria", strict, "requested this action"},
		{"user prefix", "user:maria", "maria", strict, "requested this action"},
		{"person prefix and spaces", " person:MARIA ", "maria", strict, "requested this action"},
		{"nested prefixes", "web:user:maria", "maria", strict, "requested this action"},
		{"exact match", "maria", "maria", strict, "requested this action"},
		{"agent of the same name is not maria", "agent:maria", "maria", strict, ""},
		{"someone else", "cli:omar", "maria", strict, ""},
		{"approver prefixed agent", "ana", "user:agent:bot", strict, "is an agent"},
		{"before the change: exact only", "cli:Maria", "maria", old, ""},
		{"before the change: exact match", "maria", "maria", old, "requested this action"},
		{"proven approvals compare strictly", "cli:Maria", "maria", proven, "requested this action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := approve(tc.approver, "sha256:aa")
			// A code passes the proof step without an activity, so only the
			// identity rules decide here.
			req.Proof = "123456"
			_, err := check(req, mk(tc.requester, tc.rules))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// Under proven approvals a decision counts only with a proof made for
// exactly this run, slot, action, decision and person, by a trusted key,
// with a nonce not used before in the run; or with a one-time code, which
// an activity must check first.
func TestCheckApprovalProof(t *testing.T) {
	web, stranger := newSigner(t), newSigner(t)
	trust := proof.Trust{Keys: []proof.TrustedKey{trusted(web, proof.IssuerWeb)}}
	base := view{
		Stage: StageAwaitingApproval, Slot: "finance-manager", RequestedBy: "ana", ActionDigest: "sha256:aa",
		Awaited: []awaitee{{ID: "maria"}, {ID: "lena", OnBehalfOf: "omar"}}, Rules: Rules{Strict: true, RequireProof: true},
		WorkflowID: "vendor-payment-INV-1", RunID: "run-1", Trust: trust, Now: testNow,
	}
	sign := func(s *proof.Signer, who, decision string, edit func(*proof.Assertion)) string {
		a := proof.Assertion{
			Kind: proof.KindApproval, WorkflowID: base.WorkflowID, RunID: base.RunID, Slot: base.Slot,
			ActionDigest: base.ActionDigest, Decision: decision, Subject: who, Method: proof.MethodOIDC,
			IssuedAt: testNow.Add(-time.Minute), ExpiresAt: testNow.Add(time.Hour),
		}
		if edit != nil {
			edit(&a)
		}
		token, err := s.Sign(a)
		require.NoError(t, err)
		return token
	}
	valid := sign(web, "maria", DecisionApprove, nil)
	validAs, err := proof.Verify(valid, trust, proof.Expect{}, testNow)
	require.NoError(t, err)
	with := func(who, decision, p string) Request {
		return Request{Decision: decision, Approver: who, ActionDigest: "sha256:aa", Proof: p}
	}
	used := base
	used.UsedNonces = []string{"other", validAs.Nonce}

	tests := []struct {
		name      string
		view      view
		req       Request
		wantErr   string // "" = accepted
		wantCode  bool
		wantProof bool
		wantBehal string
	}{
		{name: "valid token", view: base, req: with("maria", DecisionApprove, valid), wantProof: true},
		{name: "valid token with surrounding whitespace", view: base, req: with("maria", DecisionApprove, "\n"+valid+" "), wantProof: true},
		{name: "delegate's rejection", view: base, req: with("lena", DecisionReject, sign(web, "lena", DecisionReject, nil)), wantProof: true, wantBehal: "omar"},
		{name: "missing proof", view: base, req: with("maria", DecisionApprove, ""), wantErr: "proof: required"},
		{name: "blank proof", view: base, req: with("maria", DecisionApprove, "   "), wantErr: "proof: required"},
		{name: "one-time code", view: base, req: with("maria", DecisionApprove, "123456"), wantCode: true},
		{name: "one-time code for a delegate", view: base, req: with("lena", DecisionApprove, " 654321 "), wantCode: true, wantBehal: "omar"},
		{name: "five digits is no code", view: base, req: with("maria", DecisionApprove, "12345"), wantErr: "proof.token"},
		{name: "code checked after the rules", view: base, req: with("sofia", DecisionApprove, "123456"), wantErr: "may not decide"},
		{name: "reused nonce", view: used, req: with("maria", DecisionApprove, valid), wantErr: "proof.nonce"},
		{name: "untrusted key", view: base, req: with("maria", DecisionApprove, sign(stranger, "maria", DecisionApprove, nil)), wantErr: "proof.kid"},
		{name: "another run", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionApprove, func(a *proof.Assertion) { a.RunID = "run-0" })), wantErr: "proof.runId"},
		{name: "another workflow", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionApprove, func(a *proof.Assertion) { a.WorkflowID = "vendor-payment-INV-2" })), wantErr: "proof.workflowId"},
		{name: "another slot", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionApprove, func(a *proof.Assertion) { a.Slot = "cfo" })), wantErr: "proof.slot"},
		{name: "another digest", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionApprove, func(a *proof.Assertion) { a.ActionDigest = "sha256:bb" })), wantErr: "proof.actionDigest"},
		{name: "another decision", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionReject, nil)), wantErr: "proof.decision"},
		{name: "another approver", view: base, req: with("maria", DecisionApprove, sign(web, "omar", DecisionApprove, nil)), wantErr: "proof.sub"},
		{name: "expired", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionApprove, func(a *proof.Assertion) {
			a.IssuedAt, a.ExpiresAt = testNow.Add(-2*time.Hour), testNow
		})), wantErr: "proof.exp"},
		{name: "web key may not claim a code", view: base, req: with("maria", DecisionApprove, sign(web, "maria", DecisionApprove, func(a *proof.Assertion) { a.Method = proof.MethodTOTP })), wantErr: "proof.method"},
		{name: "nothing trusted", view: func() view { v := base; v.Trust = proof.Trust{}; return v }(), req: with("maria", DecisionApprove, valid), wantErr: "proof.kid"},
		{name: "before proven approvals a proof is not looked at", view: func() view { v := base; v.Rules = Rules{Strict: true}; return v }(),
			req: with("maria", DecisionApprove, "not a proof")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := check(tc.req, tc.view)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantCode, got.NeedsCode)
			assert.Equal(t, tc.wantBehal, got.OnBehalfOf)
			if !tc.wantProof {
				assert.Nil(t, got.Proof)
				return
			}
			require.NotNil(t, got.Proof)
			assert.Equal(t, proof.MethodOIDC, got.Proof.Method)
			assert.Equal(t, web.KeyID(), got.Proof.KeyID)
			assert.NotEmpty(t, got.Proof.Nonce)
			assert.Equal(t, strings.TrimSpace(tc.req.Proof), got.Proof.Token, "the token is kept as verified, for the release to verify again")
		})
	}
}

// The length caps came with proven approvals: executions before them
// accepted any length, and their histories must replay.
func TestCheckLengthCaps(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	longID := "p" + long(MaxApproverLen)
	longDigest := "sha256:" + long(MaxDigestLen)
	tests := []struct {
		name    string
		req     Request
		digest  string // the view's action digest; "" = sha256:aa
		wantErr string
	}{
		{name: "approver", req: Request{Decision: DecisionApprove, Approver: longID, ActionDigest: "sha256:aa", Proof: "123456"}, wantErr: "approver: longer than"},
		{name: "comment", req: Request{Decision: DecisionApprove, Approver: "maria", ActionDigest: "sha256:aa", Comment: long(MaxCommentLen + 1), Proof: "123456"}, wantErr: "comment: longer than"},
		{name: "action digest", req: Request{Decision: DecisionApprove, Approver: "maria", ActionDigest: longDigest, Proof: "123456"}, digest: longDigest, wantErr: "actionDigest: longer than"},
		{name: "proof", req: Request{Decision: DecisionApprove, Approver: "maria", ActionDigest: "sha256:aa", Proof: long(MaxProofLen + 1)}, wantErr: "proof: longer than"},
	}
	for _, tc := range tests {
		for _, rules := range []Rules{{Strict: true}, {RequireProof: true}} {
			t.Run(fmt.Sprintf("%s/proven=%v", tc.name, rules.RequireProof), func(t *testing.T) {
				digest := tc.digest
				if digest == "" {
					digest = "sha256:aa"
				}
				v := view{
					Stage: StageAwaitingApproval, Slot: "finance-manager", RequestedBy: "ana", ActionDigest: digest,
					Awaited: []awaitee{{ID: "maria"}, {ID: longID}}, Rules: rules, Now: testNow,
				}
				_, err := check(tc.req, v)
				if !rules.RequireProof {
					assert.NoError(t, err, "no cap before proven approvals")
					return
				}
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tc.wantErr), "error %q, want prefix %q", err, tc.wantErr)
				assert.Less(t, len(err.Error()), 200, "the refusal does not repeat the oversized field")
			})
		}
	}
	// Exactly at the caps is fine.
	v := view{
		Stage: StageAwaitingApproval, Slot: "finance-manager", RequestedBy: "ana", ActionDigest: "sha256:aa",
		Awaited: []awaitee{{ID: "maria"}}, Rules: Rules{RequireProof: true}, Now: testNow,
	}
	_, err := check(Request{Decision: DecisionApprove, Approver: "maria", ActionDigest: "sha256:aa", Comment: long(MaxCommentLen), Proof: "123456"}, v)
	require.NoError(t, err)
}

func TestIsOneTimeCode(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"123456", true},
		{"000000", true},
		{"12345", false},
		{"1234567", false},
		{"12345a", false},
		{" 12345", false},
		{"١٢٣٤٥٦", false}, // Arabic-Indic digits are not ASCII digits
		{"", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, IsOneTimeCode(tc.in), "IsOneTimeCode(%q)", tc.in)
	}
}

func TestPersonKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"maria", "maria"},
		{"Maria", "maria"},
		{"cli:Maria", "maria"},
		{"user: maria", "maria"},
		{"agent:Payables-Bot", "agent:payables-bot"},
		{"cli:agent:bot", "agent:bot"},
		{"1x:maria", "1x:maria"}, // not a scheme
		{"", ""},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, personKey(tc.in), "personKey(%q)", tc.in)
		assert.Equal(t, tc.want, PersonKey(tc.in), "PersonKey(%q)", tc.in)
	}
}

func TestAwaitedFor(t *testing.T) {
	ids := func(ws []awaitee) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.ID+"/"+w.OnBehalfOf)
		}
		return out
	}
	tests := []struct {
		name      string
		slot      Slot
		escalated bool
		requester string
		approvals []Approval
		strict    bool
		want      []string
	}{
		{"candidates and delegates", fmSlot, false, "ana", nil, true, []string{"maria/", "omar/", "lena/omar"}},
		{"escalated adds managers once", fmSlot, true, "ana", nil, true, []string{"maria/", "omar/", "lena/omar", "chen/maria"}},
		{"requester excluded", fmSlot, false, "maria", nil, true, []string{"omar/", "lena/omar"}},
		{"requester excluded under another spelling", fmSlot, false, "cli:Maria", nil, true, []string{"omar/", "lena/omar"}},
		{"before strict approvals: exact only", fmSlot, false, "cli:Maria", nil, false, []string{"maria/", "omar/", "lena/omar"}},
		{"slot filler excluded", cfoSlot, false, "ana", []Approval{{Approver: "chen", Slot: "finance-manager"}}, true, nil},
		{"escalation after exclusion", cfoSlot, true, "ana", []Approval{{Approver: "chen", Slot: "finance-manager"}}, true, []string{"sofia/chen"}},
		{"agents are never awaited", Slot{Role: "finance-manager", Candidates: []Candidate{{ID: "agent:bot", Delegate: "maria"}}}, false, "ana", nil, true, []string{"maria/agent:bot"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ids(awaitedFor(tc.slot, tc.escalated, tc.requester, tc.approvals, tc.strict)))
		})
	}
}

func TestFirstOpenSlot(t *testing.T) {
	plan := Plan{Slots: []Slot{fmSlot, cfoSlot}}
	twice := Plan{Slots: []Slot{fmSlot, fmSlot}}
	ok := func(slot, who string) Approval { return Approval{Slot: slot, Approver: who, Decision: DecisionApprove} }
	tests := []struct {
		name      string
		plan      Plan
		approvals []Approval
		want      int
	}{
		{"nothing approved", plan, nil, 0},
		{"first slot filled", plan, []Approval{ok("finance-manager", "maria")}, 1},
		{"all filled, any order", plan, []Approval{ok("cfo", "chen"), ok("finance-manager", "maria")}, -1},
		{"a rejection fills nothing", plan, []Approval{{Slot: "finance-manager", Approver: "maria", Decision: DecisionReject}}, 0},
		{"an approval fills one slot of a repeated role", twice, []Approval{ok("finance-manager", "maria")}, 1},
		{"two approvals fill a repeated role", twice, []Approval{ok("finance-manager", "maria"), ok("finance-manager", "omar")}, -1},
		{"an approval for another role fills nothing", plan, []Approval{ok("cfo", "chen")}, 0},
		{"no slots", Plan{Autonomous: true}, nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, FirstOpenSlot(tc.plan, tc.approvals))
		})
	}
}

func TestDecodeApprovalSignal(t *testing.T) {
	tests := []struct {
		name         string
		raw          string
		strict       bool
		wantErr      string // prefix; "" = decodes
		wantApprover string
	}{
		{"valid", `{"decision":"approve","approver":"maria","actionDigest":"sha256:aa","comment":"ok"}`, true, "", "maria"},
		{"valid with proof", `{"decision":"approve","approver":"maria","actionDigest":"sha256:aa","proof":"123456"}`, true, "", "maria"},
		{"number for decision", `{"decision":5,"approver":"maria","actionDigest":"sha256:aa"}`, true, "decision: must be a string, got a JSON number", "maria"},
		{"object for approver", `{"decision":"approve","approver":{"id":"maria"}}`, true, "approver: must be a string, got a JSON object", ""},
		{"number for proof", `{"decision":"approve","approver":"maria","proof":123456}`, true, "proof: must be a string, got a JSON number", "maria"},
		{"not an object", `"approve"`, true, "payload: must be a JSON object, got a JSON string", ""},
		{"not JSON", `{"decision":`, true, "payload: not valid JSON", ""},
		{"trailing data", `{"decision":"approve"} {}`, true, "payload: unexpected data after the JSON object", ""},
		{"empty", ``, true, "payload: empty", ""},
		{"blank", " \n", true, "payload: empty", ""},
		{"unknown field", `{"decision":"approve","aprover":"maria"}`, true, "aprover: unknown field", ""},
		{"unknown field before strict approvals", `{"decision":"approve","approver":"maria","extra":1}`, false, "", "maria"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeSignal(json.RawMessage(tc.raw), tc.strict)
			assert.Equal(t, tc.wantApprover, req.Approver)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.wantErr), "error %q, want prefix %q", err, tc.wantErr)
		})
	}
}

func TestSlotDeadlines(t *testing.T) {
	since := testNow
	plan := func(remind, escalate, expire time.Duration) Plan {
		return Plan{ReminderAfter: remind, EscalateAfter: escalate, ExpireAfter: expire}
	}
	tests := []struct {
		name      string
		plan      Plan
		escalated bool
		want      []string // kind@offset
	}{
		{"reminder, escalation, expiry", plan(4*time.Hour, 24*time.Hour, 72*time.Hour), false,
			[]string{"reminder@4h0m0s", "escalation@24h0m0s", "expire@72h0m0s"}},
		{"escalated already: no second escalation", plan(4*time.Hour, 24*time.Hour, 72*time.Hour), true,
			[]string{"reminder@4h0m0s", "expire@72h0m0s"}},
		{"reminder not before escalation is left out", plan(24*time.Hour, 24*time.Hour, 72*time.Hour), false,
			[]string{"escalation@24h0m0s", "expire@72h0m0s"}},
		{"nothing before expiry", plan(72*time.Hour, 80*time.Hour, 72*time.Hour), false,
			[]string{"expire@72h0m0s"}},
		{"no reminder or escalation configured", plan(0, 0, 72*time.Hour), false,
			[]string{"expire@72h0m0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, d := range slotDeadlines(tc.plan, since, tc.escalated) {
				got = append(got, d.kind+"@"+d.at.Sub(since).String())
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// After MaxCodeFailures wrong codes a person's codes are refused unchecked,
// so guessing costs neither more checks nor more history; other people and
// signed proofs are unaffected.
func TestCodesRefusedAfterFailures(t *testing.T) {
	v := view{
		Stage: StageAwaitingApproval, Slot: "finance-manager", RequestedBy: "ana", ActionDigest: "sha256:aa",
		Awaited: []awaitee{{ID: "maria"}, {ID: "lena"}}, Rules: Rules{Strict: true, RequireProof: true},
		WorkflowID: "vendor-payment-INV-1", RunID: "run-1", Now: testNow,
	}
	code := func(who string) Request {
		r := approve(who, "sha256:aa")
		r.Proof = "123456"
		return r
	}
	tests := []struct {
		name     string
		failures map[string]int
		who      string
		wantErr  string
	}{
		{"no failures", nil, "maria", ""},
		{"below the cap", map[string]int{"maria": MaxCodeFailures - 1}, "maria", ""},
		{"at the cap", map[string]int{"maria": MaxCodeFailures}, "maria", "wrong one-time codes"},
		{"someone else's failures", map[string]int{"lena": MaxCodeFailures}, "maria", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.CodeFailures = tt.failures
			got, err := check(code(tt.who), v)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.True(t, got.NeedsCode)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
