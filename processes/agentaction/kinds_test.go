package agentaction

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goodDeploy is a valid deploy.release proposal; tests edit copies of it.
func goodDeploy() Proposal {
	return Proposal{
		Kind: KindDeploy, Target: TargetStaging, Params: json.RawMessage(`{"service":"checkout","version":"1.4.2"}`),
		Justification: "fixes the checkout timeout", Confidence: 0.9, IdempotencyKey: "deploy-checkout-1.4.2",
	}
}

func goodEmail() Proposal {
	return Proposal{
		Kind: KindEmail, Target: "bob@example.com", Params: json.RawMessage(`{"subject":"Release notes","body":"Version 1.4.2 is out."}`),
		Justification: "customer asked", Confidence: 0.95, IdempotencyKey: "mail-1",
	}
}

func goodPayment() Proposal {
	return Proposal{
		Kind: KindVendorPayment, Target: "INV-1042", Justification: "overdue invoice", Confidence: 1, IdempotencyKey: "pay-INV-1042",
	}
}

func TestValidateProposalRefusesNamingTheField(t *testing.T) {
	edit := func(base func() Proposal, f func(p *Proposal)) Proposal {
		p := base()
		f(&p)
		return p
	}
	params := func(raw string) func(p *Proposal) { return func(p *Proposal) { p.Params = json.RawMessage(raw) } }
	tests := []struct {
		name      string
		p         Proposal
		wantField string
	}{
		{"kind missing", edit(goodDeploy, func(p *Proposal) { p.Kind = "" }), "kind"},
		{"kind unknown", edit(goodDeploy, func(p *Proposal) { p.Kind = "deploy.rollback" }), "kind"},
		{"kind in other case", edit(goodDeploy, func(p *Proposal) { p.Kind = "Deploy.Release" }), "kind"},
		{"idempotencyKey missing", edit(goodDeploy, func(p *Proposal) { p.IdempotencyKey = "" }), "idempotencyKey"},
		{"idempotencyKey too long", edit(goodDeploy, func(p *Proposal) { p.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKeyLen+1) }), "idempotencyKey"},
		{"idempotencyKey with space", edit(goodDeploy, func(p *Proposal) { p.IdempotencyKey = "two words" }), "idempotencyKey"},
		{"idempotencyKey with newline", edit(goodDeploy, func(p *Proposal) { p.IdempotencyKey = "key\n" }), "idempotencyKey"},
		{"idempotencyKey not ASCII", edit(goodDeploy, func(p *Proposal) { p.IdempotencyKey = "clé" }), "idempotencyKey"},
		{"confidence below 0", edit(goodDeploy, func(p *Proposal) { p.Confidence = -0.01 }), "confidence"},
		{"confidence above 1", edit(goodDeploy, func(p *Proposal) { p.Confidence = 1.01 }), "confidence"},
		{"confidence NaN", edit(goodDeploy, func(p *Proposal) { p.Confidence = math.NaN() }), "confidence"},
		{"confidence +Inf", edit(goodDeploy, func(p *Proposal) { p.Confidence = math.Inf(1) }), "confidence"},
		{"justification missing", edit(goodDeploy, func(p *Proposal) { p.Justification = "" }), "justification"},
		{"justification blank", edit(goodDeploy, func(p *Proposal) { p.Justification = " \t\n" }), "justification"},
		{"justification too long", edit(goodDeploy, func(p *Proposal) { p.Justification = strings.Repeat("j", MaxJustificationLen+1) }), "justification"},
		{"target missing", edit(goodDeploy, func(p *Proposal) { p.Target = "" }), "target"},
		{"target too long", edit(goodPayment, func(p *Proposal) { p.Target = strings.Repeat("t", MaxTargetLen+1) }), "target"},
		{"deploy target prod", edit(goodDeploy, func(p *Proposal) { p.Target = "prod" }), "target"},
		{"deploy target in other case", edit(goodDeploy, func(p *Proposal) { p.Target = "Production" }), "target"},
		{"params.service missing", edit(goodDeploy, params(`{"version":"1.4.2"}`)), "params.service"},
		{"params.service bad", edit(goodDeploy, params(`{"service":"Check_Out","version":"1.4.2"}`)), "params.service"},
		{"params.service not a string", edit(goodDeploy, params(`{"service":7,"version":"1.4.2"}`)), "params.service"},
		{"params.version missing", edit(goodDeploy, params(`{"service":"checkout"}`)), "params.version"},
		{"params.version bad", edit(goodDeploy, params(`{"service":"checkout","version":"1.4 beta"}`)), "params.version"},
		{"params.version starts with a dot", edit(goodDeploy, params(`{"service":"checkout","version":".1"}`)), "params.version"},
		{"params unknown field is named", edit(goodDeploy, params(`{"servce":"checkout","version":"1.4.2"}`)), "params.servce"},
		{"params null means no params", edit(goodDeploy, params(`null`)), "params.service"},
		{"params an array", edit(goodDeploy, params(`["checkout","1.4.2"]`)), "params"},
		{"params a string", edit(goodDeploy, params(`"checkout@1.4.2"`)), "params"},
		{"params two objects", edit(goodDeploy, params(`{"service":"checkout","version":"1.4.2"} {}`)), "params"},
		{"params oversized", edit(goodDeploy, params(`{"service":"checkout","version":"1.4.2","x":"`+strings.Repeat("a", MaxParamsBytes)+`"}`)), "params"},
		{"email target with display name", edit(goodEmail, func(p *Proposal) { p.Target = "Bob <b@x.com>" }), "target"},
		{"email target in angle brackets", edit(goodEmail, func(p *Proposal) { p.Target = "<b@x.com>" }), "target"},
		{"email target not an address", edit(goodEmail, func(p *Proposal) { p.Target = "bob" }), "target"},
		{"email target two addresses", edit(goodEmail, func(p *Proposal) { p.Target = "a@x.com, b@x.com" }), "target"},
		{"email subject with newline", edit(goodEmail, params(`{"subject":"Hi\nBcc: all@example.com","body":"x"}`)), "params.subject"},
		{"email subject with carriage return", edit(goodEmail, params(`{"subject":"Hi\r","body":"x"}`)), "params.subject"},
		{"email subject missing", edit(goodEmail, params(`{"body":"x"}`)), "params.subject"},
		{"email subject too long", edit(goodEmail, params(`{"subject":"`+strings.Repeat("s", MaxEmailSubjectLen+1)+`","body":"x"}`)), "params.subject"},
		{"email body missing", edit(goodEmail, params(`{"subject":"Hi"}`)), "params.body"},
		{"email body too long", edit(goodEmail, params(`{"subject":"Hi","body":"`+strings.Repeat("b", MaxEmailBodyLen+1)+`"}`)), "params.body"},
		{"email unknown field", edit(goodEmail, params(`{"subject":"Hi","body":"x","cc":"all@example.com"}`)), "params.cc"},
		{"vendor payment target with space", edit(goodPayment, func(p *Proposal) { p.Target = "INV 1042" }), "target"},
		{"vendor payment target with slash", edit(goodPayment, func(p *Proposal) { p.Target = "INV/1042" }), "target"},
		{"vendor payment takes no params", edit(goodPayment, params(`{"amount":100}`)), "params.amount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateProposal(tc.p)
			require.Error(t, err)
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "want *FieldError, got %T: %v", err, err)
			assert.Equal(t, tc.wantField, fe.Field, "error: %v", err)
			assert.NotEmpty(t, fe.Message)
			assert.True(t, strings.HasPrefix(err.Error(), tc.wantField+": "), "Error() names the field: %q", err.Error())
		})
	}
}

func TestValidateProposalAccepts(t *testing.T) {
	edit := func(base func() Proposal, f func(p *Proposal)) Proposal {
		p := base()
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    Proposal
	}{
		{"deploy to staging", goodDeploy()},
		{"deploy to production", edit(goodDeploy, func(p *Proposal) { p.Target = TargetProduction })},
		{"deploy version with build metadata", edit(goodDeploy, func(p *Proposal) {
			p.Params = json.RawMessage(`{"service":"checkout","version":"1.4.2+build_7-rc.1"}`)
		})},
		{"deploy params with whitespace", edit(goodDeploy, func(p *Proposal) {
			p.Params = json.RawMessage(" {\n \"service\": \"checkout\", \"version\": \"2\" }\n")
		})},
		{"confidence 0", edit(goodDeploy, func(p *Proposal) { p.Confidence = 0 })},
		{"confidence 1", edit(goodDeploy, func(p *Proposal) { p.Confidence = 1 })},
		{"longest key", edit(goodDeploy, func(p *Proposal) { p.IdempotencyKey = strings.Repeat("~", MaxIdempotencyKeyLen) })},
		{"longest justification", edit(goodDeploy, func(p *Proposal) { p.Justification = strings.Repeat("j", MaxJustificationLen) })},
		{"email", goodEmail()},
		{"email external", edit(goodEmail, func(p *Proposal) { p.Target = "partner@other.example" })},
		{"vendor payment without params", goodPayment()},
		{"vendor payment with empty params", edit(goodPayment, func(p *Proposal) { p.Params = json.RawMessage(`{}`) })},
		{"vendor payment with null params", edit(goodPayment, func(p *Proposal) { p.Params = json.RawMessage(`null`) })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.NoError(t, ValidateProposal(tc.p))
		})
	}
}

func TestDecodeReturnsCheckedParams(t *testing.T) {
	d, err := DecodeDeploy(goodDeploy())
	require.NoError(t, err)
	assert.Equal(t, DeployParams{Service: "checkout", Version: "1.4.2"}, d)

	e, err := DecodeEmail(goodEmail())
	require.NoError(t, err)
	assert.Equal(t, EmailParams{Subject: "Release notes", Body: "Version 1.4.2 is out."}, e)
}

func TestWorkflowID(t *testing.T) {
	id := WorkflowID("bot", "key-1")
	assert.Equal(t, id, WorkflowID("bot", "key-1"), "same agent and key: same action")
	assert.True(t, strings.HasPrefix(id, "agent-action-bot-"), id)
	assert.NotEqual(t, id, WorkflowID("other-bot", "key-1"), "another agent with the same key is another action")
	assert.NotEqual(t, id, WorkflowID("bot", "key-2"))

	// "a" + "b-c" and "a-b" + "c" must not collide, though both join to a-b-c.
	ab, a := WorkflowID("a-b", "c"), WorkflowID("a", "b-c")
	assert.NotEqual(t, ab, a)
	assert.True(t, owns("a-b", ab))
	assert.True(t, owns("a", a))
	assert.False(t, owns("a", ab), "agent a must not own agent a-b's action %s", ab)
	assert.False(t, owns("a-b", a))
	assert.False(t, owns("bot", WorkflowID("other", "key-1")))
	assert.False(t, owns("Bot", WorkflowID("bot", "key-1")), "an invalid agent name owns nothing")

	// The key's shape never reaches the id: it is hashed.
	weird := WorkflowID("bot", "../../x y\x00z")
	assert.NotContains(t, weird, "/")
	assert.NotContains(t, weird, " ")
	assert.Equal(t, len(id), len(weird))
}

func TestValidAgentName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"bot", true},
		{"a", true},
		{"0", true},
		{"payables-bot", true},
		{"bot-2", true},
		{strings.Repeat("a", 40), true},
		{strings.Repeat("a", 41), false},
		{"", false},
		{"-bot", false},
		{"Bot", false},
		{"bot_1", false},
		{"bot.1", false},
		{"bot 1", false},
		{"agent:bot", false},
		{"bot\n", false},
		{"bøt", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ValidAgentName(tc.name))
		})
	}
}

// confidencePercent is what Cedar compares against 80: a float like 0.29
// (28.999… in binary) must not fall below its percent.
func TestConfidencePercent(t *testing.T) {
	tests := []struct {
		c    float64
		want int64
	}{
		{0, 0}, {0.29, 29}, {0.57, 57}, {0.79, 79}, {0.799, 79}, {0.8, 80}, {0.9, 90}, {0.999, 99}, {1, 100},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, confidencePercent(tc.c), "confidence %v", tc.c)
	}
}
