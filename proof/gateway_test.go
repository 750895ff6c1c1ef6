package proof

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const agentWF = "agent-action-bot-0123456789abcdef0123"

// gatewayFixture is a trust holding a gateway key, a web key, a worker key
// and a person key (alice), as a deployment with the agent gateway has.
type gatewayFixture struct {
	gateway, web, worker, alice *Signer
	trust                       Trust
}

func newGatewayFixture(t testing.TB) gatewayFixture {
	t.Helper()
	mk := func() *Signer {
		_, priv, err := GenerateKey()
		require.NoError(t, err)
		return NewSigner(priv)
	}
	f := gatewayFixture{gateway: mk(), web: mk(), worker: mk(), alice: mk()}
	entry := func(s *Signer, issuer, person string) TrustedKey {
		k, err := NewTrustedKey(issuer, EncodePublicKey(s.Public()), person)
		require.NoError(t, err)
		return k
	}
	f.trust = Trust{Keys: []TrustedKey{
		entry(f.gateway, IssuerGateway, ""), entry(f.web, IssuerWeb, ""), entry(f.worker, IssuerWorker, ""), entry(f.alice, IssuerPerson, "alice"),
	}}
	return f
}

// agentStart is the gateway's assertion that agent:bot asked for agentWF.
func agentStart() Assertion {
	return Assertion{
		Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot", Method: MethodAgentKey,
		IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(9 * time.Minute),
	}
}

func TestGatewayKeyVouchesForAnAgentsStart(t *testing.T) {
	f := newGatewayFixture(t)
	tok := mustSign(t, f.gateway, agentStart())
	want := Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot"}

	a, err := Verify(tok, f.trust, want, now)
	require.NoError(t, err)
	assert.Equal(t, "agent:bot", a.Subject)
	assert.Equal(t, MethodAgentKey, a.Method)
	assert.Equal(t, f.gateway.KeyID(), a.KeyID)

	// Long after, as the side effect checks it: as issued, not as of now.
	a, err = VerifyAsIssued(tok, f.trust, want)
	require.NoError(t, err)
	assert.True(t, a.IssuedAt.Equal(now.Add(-time.Minute)))
	_, err = Verify(tok, f.trust, want, now.Add(time.Hour))
	assert.ErrorIs(t, err, ErrExpired)

	// It is still a start for this agent and action only.
	_, err = Verify(tok, f.trust, Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:other"}, now)
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = Verify(tok, f.trust, Expect{Kind: KindStart, WorkflowID: "agent-action-bot-ffff", Subject: "agent:bot"}, now)
	assert.ErrorIs(t, err, ErrMismatch)
}

// What a gateway key (or another key claiming the gateway's method) may not
// sign: Sign produces the token (the signer has no notion of its issuer),
// and every verifier refuses it as not permitted.
func TestGatewayKeyLimits(t *testing.T) {
	f := newGatewayFixture(t)
	tests := []struct {
		name      string
		signer    func(f gatewayFixture) *Signer
		a         func() Assertion
		want      Expect
		wantField string
	}{
		{name: "gateway signing an approval", signer: func(f gatewayFixture) *Signer { return f.gateway },
			a: func() Assertion {
				a := approval(MethodAgentKey)
				a.Subject = "agent:bot"
				return a
			}, want: expectApproval(), wantField: "kind"},
		{name: "gateway signing an approval for a person", signer: func(f gatewayFixture) *Signer { return f.gateway },
			a: func() Assertion { return approval(MethodAgentKey) }, want: expectApproval(), wantField: "kind"},
		{name: "gateway signing a person's start", signer: func(f gatewayFixture) *Signer { return f.gateway },
			a: func() Assertion {
				a := agentStart()
				a.Subject = "maria"
				return a
			}, want: Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "maria"}, wantField: "kind"},
		{name: "gateway signing for a subject that only looks like an agent", signer: func(f gatewayFixture) *Signer { return f.gateway },
			a: func() Assertion {
				a := agentStart()
				a.Subject = "Agent:bot"
				return a
			}, want: Expect{Kind: KindStart, WorkflowID: agentWF}, wantField: "kind"},
		{name: "gateway claiming oidc", signer: func(f gatewayFixture) *Signer { return f.gateway },
			a: func() Assertion {
				a := agentStart()
				a.Method = MethodOIDC
				return a
			}, want: Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot"}, wantField: "method"},
		{name: "gateway claiming service", signer: func(f gatewayFixture) *Signer { return f.gateway },
			a: func() Assertion {
				a := agentStart()
				a.Method = MethodService
				return a
			}, want: Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot"}, wantField: "method"},
		{name: "web key claiming agent-key", signer: func(f gatewayFixture) *Signer { return f.web },
			a: agentStart, want: Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot"}, wantField: "method"},
		{name: "worker key claiming agent-key", signer: func(f gatewayFixture) *Signer { return f.worker },
			a: agentStart, want: Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot"}, wantField: "method"},
		{name: "person key claiming agent-key for themselves", signer: func(f gatewayFixture) *Signer { return f.alice },
			a: func() Assertion {
				a := agentStart()
				a.Subject = "alice"
				return a
			}, want: Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "alice"}, wantField: "method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustSign(t, tc.signer(f), tc.a())
			_, err := Verify(tok, f.trust, tc.want, now)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotPermitted)
			var pe *Error
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, tc.wantField, pe.Field, "error: %v", err)
			// Verifying as issued applies the same limits.
			_, err = VerifyAsIssued(tok, f.trust, tc.want)
			assert.ErrorIs(t, err, ErrNotPermitted)
		})
	}
}

func TestGatewayTrustEntries(t *testing.T) {
	_, priv, err := GenerateKey()
	require.NoError(t, err)
	s := NewSigner(priv)
	pub := EncodePublicKey(s.Public())

	k, err := NewTrustedKey(IssuerGateway, pub, "")
	require.NoError(t, err)
	assert.Equal(t, IssuerGateway, k.Issuer)
	assert.Equal(t, s.KeyID(), k.KeyID)
	assert.Equal(t, []string{MethodAgentKey}, DefaultMethods(IssuerGateway))

	_, err = NewTrustedKey(IssuerGateway, pub, "maria")
	assert.Error(t, err, "a gateway key names no person")

	// A trust folder lists it like any other key.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gateway.pub"), []byte("# agent gateway\ngateway "+pub+"\n"), 0o644))
	trust, err := LoadTrustDir(dir)
	require.NoError(t, err)
	require.Len(t, trust.Keys, 1)
	assert.Equal(t, IssuerGateway, trust.Keys[0].Issuer)
	tok := mustSign(t, s, agentStart())
	_, err = Verify(tok, trust, Expect{Kind: KindStart, WorkflowID: agentWF, Subject: "agent:bot"}, now)
	assert.NoError(t, err)

	// EnsureSigner writes the same line for the gateway's own key.
	keys := t.TempDir()
	gw, err := EnsureSigner(keys, "gateway", IssuerGateway)
	require.NoError(t, err)
	trust, err = LoadTrustDir(keys)
	require.NoError(t, err)
	found, ok := trust.Find(gw.KeyID())
	require.True(t, ok)
	assert.Equal(t, IssuerGateway, found.Issuer)
}
