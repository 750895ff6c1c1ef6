package proof

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	wf     = "vendor-payment-INV-1"
	run    = "run-1"
	digest = "sha256:aa"
)

type fixture struct {
	web, worker, alice, stranger *Signer
	trust                        Trust
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	mk := func() *Signer {
		_, priv, err := GenerateKey()
		require.NoError(t, err)
		return NewSigner(priv)
	}
	f := fixture{web: mk(), worker: mk(), alice: mk(), stranger: mk()}
	entry := func(s *Signer, issuer, person string) TrustedKey {
		k, err := NewTrustedKey(issuer, EncodePublicKey(s.Public()), person)
		require.NoError(t, err)
		return k
	}
	f.trust = Trust{Keys: []TrustedKey{
		entry(f.web, IssuerWeb, ""),
		entry(f.worker, IssuerWorker, ""),
		entry(f.alice, IssuerPerson, "alice"),
	}}
	return f
}

func approval(method string) Assertion {
	return Assertion{
		Kind: KindApproval, WorkflowID: wf, RunID: run, Slot: "finance", ActionDigest: digest,
		Decision: DecisionApprove, Subject: "alice", Method: method,
		IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour),
	}
}

func expectApproval() Expect {
	return Expect{Kind: KindApproval, WorkflowID: wf, RunID: run, Slot: "finance", ActionDigest: digest, Decision: DecisionApprove}
}

func mustSign(t testing.TB, s *Signer, a Assertion) string {
	t.Helper()
	tok, err := s.Sign(a)
	require.NoError(t, err)
	return tok
}

// signRaw signs arbitrary payload bytes, to build tokens Sign would refuse.
func signRaw(s *Signer, payload string) string {
	signed := "eo1." + b64.EncodeToString([]byte(payload))
	return signed + "." + b64.EncodeToString(ed25519.Sign(s.priv, []byte(signed)))
}

// payloadOf returns the canonical JSON of a token made by Sign.
func payloadOf(t testing.TB, tok string) string {
	t.Helper()
	raw, err := b64.DecodeString(strings.Split(tok, ".")[1])
	require.NoError(t, err)
	return string(raw)
}

func TestVerifyHonest(t *testing.T) {
	f := newFixture(t)
	start := Assertion{Kind: KindStart, WorkflowID: wf, Subject: "bob", Method: MethodOIDC,
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	tests := []struct {
		name   string
		signer *Signer
		a      Assertion
		want   Expect
	}{
		{"web oidc", f.web, approval(MethodOIDC), expectApproval()},
		{"web link", f.web, approval(MethodLink), expectApproval()},
		{"worker totp", f.worker, approval(MethodTOTP), expectApproval()},
		{"person key", f.alice, approval(MethodKey), expectApproval()},
		{"reject decision", f.web, func() Assertion { a := approval(MethodOIDC); a.Decision = DecisionReject; return a }(), Expect{Decision: DecisionReject}},
		{"start", f.web, start, Expect{Kind: KindStart, WorkflowID: wf, Subject: "bob"}},
		{"iat within skew", f.web, func() Assertion { a := approval(MethodOIDC); a.IssuedAt = now.Add(MaxClockSkew); return a }(), expectApproval()},
		{"non-UTC times", f.web, func() Assertion {
			a := approval(MethodOIDC)
			a.IssuedAt = a.IssuedAt.In(time.FixedZone("X", 3600))
			return a
		}(), expectApproval()},
		{"no expectations", f.worker, approval(MethodTOTP), Expect{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustSign(t, tc.signer, tc.a)
			got, err := Verify(tok, f.trust, tc.want, now)
			require.NoError(t, err)
			assert.Equal(t, tc.signer.KeyID(), got.KeyID)
			assert.Equal(t, Version, got.Version)
			assert.Equal(t, tc.a.Subject, got.Subject)
			assert.True(t, tc.a.IssuedAt.Equal(got.IssuedAt))
			assert.NotEmpty(t, got.Nonce)
			// Pasted with a trailing newline: still the same token.
			_, err = Verify(tok+"\n", f.trust, tc.want, now)
			require.NoError(t, err)
		})
	}
}

func TestSignFillsNonceUniquely(t *testing.T) {
	f := newFixture(t)
	a1, err := Verify(mustSign(t, f.web, approval(MethodOIDC)), f.trust, Expect{}, now)
	require.NoError(t, err)
	a2, err := Verify(mustSign(t, f.web, approval(MethodOIDC)), f.trust, Expect{}, now)
	require.NoError(t, err)
	assert.NotEqual(t, a1.Nonce, a2.Nonce)
	n, err := b64.DecodeString(a1.Nonce)
	require.NoError(t, err)
	assert.Len(t, n, NonceBytes)
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	good := mustSign(t, f.web, approval(MethodOIDC))
	goodPayload := payloadOf(t, good)
	with := func(mut func(*Assertion)) Assertion { a := approval(MethodOIDC); mut(&a); return a }
	flip := func(tok string, i int) string {
		b := []byte(tok)
		// Flip a bit inside the decoded bytes, not the base64 padding bits.
		c, _ := b64.DecodeString(strings.Split(tok, ".")[2])
		c[i] ^= 1
		parts := strings.Split(string(b), ".")
		return parts[0] + "." + parts[1] + "." + b64.EncodeToString(c)
	}

	tests := []struct {
		name   string
		token  string
		want   Expect
		now    time.Time
		trust  *Trust
		reason error
		prefix string
	}{
		{name: "signature bit flip", token: flip(good, 0), reason: ErrBadSignature, prefix: "proof.signature: does not verify"},
		{name: "payload altered", token: func() string {
			p := strings.Replace(goodPayload, `"sub":"alice"`, `"sub":"mallory"`, 1)
			return "eo1." + b64.EncodeToString([]byte(p)) + "." + strings.Split(good, ".")[2]
		}(), reason: ErrBadSignature, prefix: "proof.signature:"},
		{name: "wrong key for kid", token: func() string {
			// A stranger signs a payload naming the web key's kid.
			return signRaw(f.stranger, goodPayload)
		}(), reason: ErrBadSignature, prefix: "proof.signature:"},
		{name: "unknown kid", token: mustSign(t, f.stranger, approval(MethodOIDC)), reason: ErrUnknownKey, prefix: `proof.kid: unknown key "` + f.stranger.KeyID() + `"`},
		{name: "expired", token: good, now: now.Add(time.Hour), reason: ErrExpired, prefix: "proof.exp: expired at 2026-03-01T13:00:00Z"},
		{name: "issued in the future", token: mustSign(t, f.web, with(func(a *Assertion) {
			a.IssuedAt = now.Add(MaxClockSkew + time.Second)
			a.ExpiresAt = now.Add(time.Hour)
		})), reason: ErrNotYetValid, prefix: "proof.iat:"},
		{name: "another run", token: good, want: Expect{RunID: "run-2"}, reason: ErrMismatch, prefix: `proof.runId: made for "run-1", not "run-2"`},
		{name: "another workflow", token: good, want: Expect{WorkflowID: "wf-2"}, reason: ErrMismatch, prefix: "proof.workflowId:"},
		{name: "another digest", token: good, want: Expect{ActionDigest: "sha256:bb"}, reason: ErrMismatch, prefix: `proof.actionDigest: made for "sha256:aa", not "sha256:bb"`},
		{name: "another slot", token: good, want: Expect{Slot: "ceo"}, reason: ErrMismatch, prefix: "proof.slot:"},
		{name: "another decision", token: good, want: Expect{Decision: DecisionReject}, reason: ErrMismatch, prefix: "proof.decision:"},
		{name: "another kind", token: good, want: Expect{Kind: KindStart}, reason: ErrMismatch, prefix: "proof.kind:"},
		{name: "another subject", token: good, want: Expect{Subject: "bob"}, reason: ErrMismatch, prefix: "proof.sub:"},
		{name: "person key for someone else", token: mustSign(t, f.alice, with(func(a *Assertion) {
			a.Subject = "bob"
			a.Method = MethodKey
		})), reason: ErrNotPermitted, prefix: "proof.sub:"},
		{name: "person key claiming oidc", token: mustSign(t, f.alice, approval(MethodOIDC)), reason: ErrNotPermitted, prefix: "proof.method:"},
		{name: "worker claiming oidc", token: mustSign(t, f.worker, approval(MethodOIDC)), reason: ErrNotPermitted, prefix: "proof.method:"},
		{name: "web claiming key", token: mustSign(t, f.web, approval(MethodKey)), reason: ErrNotPermitted, prefix: "proof.method:"},
		{name: "oversized", token: "eo1." + strings.Repeat("A", MaxTokenLen), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "empty", token: "", reason: ErrMalformed, prefix: "proof.token:"},
		{name: "wrong prefix", token: "eo2" + good[3:], reason: ErrMalformed, prefix: "proof.token:"},
		{name: "four parts", token: good + ".x", reason: ErrMalformed, prefix: "proof.token:"},
		{name: "payload not base64", token: "eo1.!!!." + strings.Split(good, ".")[2], reason: ErrMalformed, prefix: "proof.token:"},
		{name: "payload padded base64", token: "eo1." + b64.EncodeToString([]byte(goodPayload)) + "==." + strings.Split(good, ".")[2], reason: ErrMalformed, prefix: "proof.token:"},
		{name: "signature not base64", token: "eo1." + strings.Split(good, ".")[1] + ".***", reason: ErrMalformed, prefix: "proof.signature:"},
		{name: "signature short", token: "eo1." + strings.Split(good, ".")[1] + ".AAAA", reason: ErrMalformed, prefix: "proof.signature:"},
		{name: "payload not JSON", token: signRaw(f.web, "not json"), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "payload JSON array", token: signRaw(f.web, "[]"), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "extra field", token: signRaw(f.web, strings.Replace(goodPayload, `{`, `{"admin":true,`, 1)), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "trailing data", token: signRaw(f.web, goodPayload+"{}"), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "non-canonical whitespace", token: signRaw(f.web, strings.Replace(goodPayload, `,`, `, `, 1)), reason: ErrMalformed, prefix: "proof.token: payload is not canonical"},
		{name: "non-canonical key order", token: signRaw(f.web,
			`{"v":1,`+strings.TrimPrefix(strings.Replace(goodPayload, `,"v":1`, "", 1), "{")), reason: ErrMalformed, prefix: "proof.token: payload is not canonical"},
		{name: "duplicate key", token: signRaw(f.web, strings.Replace(goodPayload, `"sub":"alice"`, `"sub":"alice","sub":"bob"`, 1)), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "case-folded key", token: signRaw(f.web, strings.Replace(goodPayload, `"sub":`, `"SUB":`, 1)), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "explicit empty optional", token: signRaw(f.web, strings.Replace(goodPayload, `"runId":"run-1"`, `"runId":""`, 1)), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "empty nonce", token: signRaw(f.web, setField(t, goodPayload, "nonce", "")), reason: ErrMalformed, prefix: "proof.nonce: required"},
		{name: "absent nonce", token: signRaw(f.web, removeField(t, goodPayload, "nonce")), reason: ErrMalformed, prefix: "proof.token:"},
		{name: "short nonce", token: signRaw(f.web, setField(t, goodPayload, "nonce", "AAAA")), reason: ErrMalformed, prefix: "proof.nonce:"},
		{name: "version 2", token: signRaw(f.web, setField(t, goodPayload, "v", 2)), reason: ErrMalformed, prefix: "proof.v:"},
		{name: "approval without runId", token: signRaw(f.web, removeField(t, goodPayload, "runId")), reason: ErrMalformed, prefix: "proof.runId: required"},
		{name: "lifetime too long", token: signRaw(f.web, setField(t, goodPayload, "exp", now.Add(MaxLifetime))), reason: ErrMalformed, prefix: "proof.exp: lifetime"},
		{name: "trust entry kid does not match key", token: good, trust: &Trust{Keys: []TrustedKey{{
			KeyID: f.web.KeyID(), Public: EncodePublicKey(f.stranger.Public()), Issuer: IssuerWeb,
		}}}, reason: ErrUnknownKey, prefix: "proof.kid:"},
		{name: "trust entry with unknown issuer", token: good, trust: &Trust{Keys: []TrustedKey{{
			KeyID: f.web.KeyID(), Public: EncodePublicKey(f.web.Public()), Issuer: "admin",
		}}}, reason: ErrUnknownKey, prefix: "proof.kid:"},
		{name: "trust entry narrows methods", token: good, trust: &Trust{Keys: []TrustedKey{{
			KeyID: f.web.KeyID(), Public: EncodePublicKey(f.web.Public()), Issuer: IssuerWeb, Methods: []string{MethodLink},
		}}}, reason: ErrNotPermitted, prefix: "proof.method:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.now
			if at.IsZero() {
				at = now
			}
			trust := f.trust
			if tc.trust != nil {
				trust = *tc.trust
			}
			a, err := Verify(tc.token, trust, tc.want, at)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.reason)
			assert.True(t, strings.HasPrefix(err.Error(), tc.prefix), "error %q does not start with %q", err, tc.prefix)
			var pe *Error
			require.True(t, errors.As(err, &pe), "error %T is not *proof.Error", err)
			assert.Equal(t, Assertion{}, a)
		})
	}
}

func removeField(t testing.TB, payload, field string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(payload), &m))
	delete(m, field)
	return canonicalMap(t, m)
}

func setField(t testing.TB, payload, field string, v any) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(payload), &m))
	m[field] = v
	return canonicalMap(t, m)
}

// canonicalMap is canonical because encoding/json sorts map keys and the
// values here are plain strings and small integers.
func canonicalMap(t testing.TB, m map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return string(raw)
}

func TestSignRefusesIncomplete(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		mut   func(*Assertion)
		field string
	}{
		{"no kind", func(a *Assertion) { a.Kind = "" }, "proof.kind:"},
		{"unknown kind", func(a *Assertion) { a.Kind = "vote" }, "proof.kind:"},
		{"no workflow", func(a *Assertion) { a.WorkflowID = "" }, "proof.workflowId:"},
		{"no run", func(a *Assertion) { a.RunID = "" }, "proof.runId:"},
		{"no slot", func(a *Assertion) { a.Slot = "" }, "proof.slot:"},
		{"no digest", func(a *Assertion) { a.ActionDigest = "" }, "proof.actionDigest:"},
		{"bad decision", func(a *Assertion) { a.Decision = "maybe" }, "proof.decision:"},
		{"decision on start", func(a *Assertion) { a.Kind = KindStart }, "proof.decision:"},
		{"no subject", func(a *Assertion) { a.Subject = "" }, "proof.sub:"},
		{"no method", func(a *Assertion) { a.Method = "" }, "proof.method:"},
		{"unknown method", func(a *Assertion) { a.Method = "sms" }, "proof.method:"},
		{"no iat", func(a *Assertion) { a.IssuedAt = time.Time{} }, "proof.iat:"},
		{"no exp", func(a *Assertion) { a.ExpiresAt = time.Time{} }, "proof.exp:"},
		{"exp before iat", func(a *Assertion) { a.ExpiresAt = a.IssuedAt }, "proof.exp:"},
		{"too long", func(a *Assertion) { a.ExpiresAt = a.IssuedAt.Add(MaxLifetime + time.Second) }, "proof.exp:"},
		{"weak nonce", func(a *Assertion) { a.Nonce = "abc" }, "proof.nonce:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := approval(MethodOIDC)
			tc.mut(&a)
			_, err := f.web.Sign(a)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.True(t, strings.HasPrefix(err.Error(), tc.field), "error %q does not start with %q", err, tc.field)
		})
	}
	_, err := NewSigner(nil).Sign(approval(MethodOIDC))
	assert.Error(t, err)
}

func TestKeys(t *testing.T) {
	pub, priv, err := GenerateKey()
	require.NoError(t, err)
	kid := KeyID(pub)
	assert.Regexp(t, `^ed25519-[0-9a-f]{16}$`, kid)
	assert.Equal(t, kid, KeyID(pub), "stable")

	enc := EncodePublicKey(pub)
	assert.True(t, strings.HasPrefix(enc, "ed25519:"))
	back, err := ParsePublicKey(enc)
	require.NoError(t, err)
	assert.Equal(t, pub, back)
	for _, bad := range []string{"", "ed25519:", "rsa:" + enc[8:], "ed25519:!!", "ed25519:AAAA", enc + "AAAA"} {
		_, err := ParsePublicKey(bad)
		assert.Error(t, err, bad)
	}

	path := filepath.Join(t.TempDir(), "signer.key")
	require.NoError(t, WritePrivateKeyFile(path, priv))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	err = WritePrivateKeyFile(path, priv)
	assert.ErrorIs(t, err, fs.ErrExist, "must not overwrite an existing key")
	leftovers, err := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers)
	_, err = LoadSigner(filepath.Join(t.TempDir(), "missing.key"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "callers create a key on first start")

	s, err := LoadSigner(path)
	require.NoError(t, err)
	assert.Equal(t, kid, s.KeyID())
	assert.Equal(t, pub, s.Public())
	trust := Trust{Keys: []TrustedKey{{KeyID: kid, Public: enc, Issuer: IssuerWeb}}}
	_, err = Verify(mustSign(t, s, approval(MethodOIDC)), trust, expectApproval(), now)
	require.NoError(t, err)

	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.key": "hello",
		"cert.key":    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"broken.key":  "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		_, err := LoadSigner(p)
		assert.Error(t, err, name)
	}
	_, err = LoadSigner(filepath.Join(dir, "missing.key"))
	assert.Error(t, err)
}

func TestLoadTrustDir(t *testing.T) {
	f := newFixture(t)
	web, worker, alice := EncodePublicKey(f.web.Public()), EncodePublicKey(f.worker.Public()), EncodePublicKey(f.alice.Public())

	t.Run("ok", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.pub"), []byte("# services\n\nweb "+web+"\n  worker   "+worker+"  \n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "b.pub"), []byte("person "+alice+" alice\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "ignored.txt"), []byte("junk"), 0o644))
		trust, err := LoadTrustDir(dir)
		require.NoError(t, err)
		require.Len(t, trust.Keys, 3)
		k, ok := trust.Find(f.alice.KeyID())
		require.True(t, ok)
		assert.Equal(t, TrustedKey{KeyID: f.alice.KeyID(), Public: alice, Issuer: IssuerPerson, Person: "alice"}, k)
		// The loaded trust verifies what the fixture trust does, also after a
		// JSON round trip (it travels through Temporal history).
		raw, err := json.Marshal(trust)
		require.NoError(t, err)
		var back Trust
		require.NoError(t, json.Unmarshal(raw, &back))
		_, err = Verify(mustSign(t, f.alice, approval(MethodKey)), back, expectApproval(), now)
		require.NoError(t, err)
	})

	tests := []struct {
		name, content, want string
	}{
		{"unknown issuer", "# c\nadmin " + web + "\n", "keys.pub:2: issuer:"},
		{"bad key", "web ed25519:AAAA\n", "keys.pub:1: publicKey:"},
		{"one field", "web\n", "keys.pub:1:"},
		{"four fields", "person " + alice + " alice extra\n", "keys.pub:1:"},
		{"person without name", "\n\nperson " + alice + "\n", "keys.pub:3: person:"},
		{"web with person", "web " + web + " alice\n", "keys.pub:1: person:"},
		{"duplicate", "web " + web + "\nweb " + web + "\n", "keys.pub:2: key " + f.web.KeyID() + " already listed at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "keys.pub"), []byte(tc.content), 0o644))
			_, err := LoadTrustDir(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), filepath.Join(dir, tc.want))
		})
	}

	t.Run("missing dir", func(t *testing.T) {
		_, err := LoadTrustDir(filepath.Join(t.TempDir(), "nope"))
		assert.Error(t, err)
	})
}

func TestTrustMerge(t *testing.T) {
	a := Trust{Keys: []TrustedKey{{KeyID: "k1", Issuer: IssuerWeb, Methods: []string{MethodOIDC}}, {KeyID: "k2", Issuer: IssuerWorker}}}
	b := Trust{Keys: []TrustedKey{{KeyID: "k2", Issuer: IssuerPerson, Person: "x"}, {KeyID: "k3", Issuer: IssuerWeb}}}
	m := a.Merge(b)
	require.Len(t, m.Keys, 3)
	k2, ok := m.Find("k2")
	require.True(t, ok)
	assert.Equal(t, IssuerWorker, k2.Issuer, "receiver wins")
	_, ok = m.Find("k3")
	assert.True(t, ok)
	_, ok = m.Find("k4")
	assert.False(t, ok)
	m.Keys[0].Methods[0] = "changed"
	assert.Equal(t, MethodOIDC, a.Keys[0].Methods[0], "merge must not alias its inputs")
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	good := mustSign(f, fx.web, approval(MethodOIDC))
	f.Add(good)
	f.Add(mustSign(f, fx.alice, approval(MethodKey)))
	f.Add("eo1..")
	f.Add("eo1." + b64.EncodeToString([]byte(`{"v":1}`)) + ".AAAA")
	f.Add(strings.Replace(good, "eo1.", "eo1.e", 1))
	f.Fuzz(func(t *testing.T, token string) {
		a, err := Verify(token, fx.trust, Expect{}, now)
		if err == nil && a.KeyID == "" {
			t.Fatalf("accepted assertion without kid: %q", token)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "proof.") {
			t.Fatalf("error does not name a field: %v", err)
		}
	})
}

func TestVerifyAsIssued(t *testing.T) {
	f := newFixture(t)
	tok := mustSign(t, f.web, approval(MethodOIDC))
	// Long after it expired, the release can still check who signed what.
	a, err := VerifyAsIssued(tok, f.trust, expectApproval())
	if err != nil {
		t.Fatalf("VerifyAsIssued: %v", err)
	}
	if _, err := Verify(tok, f.trust, expectApproval(), a.ExpiresAt.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Verify after expiry = %v, want ErrExpired", err)
	}
	// Everything else is still checked.
	want := expectApproval()
	want.RunID = "another-run"
	if _, err := VerifyAsIssued(tok, f.trust, want); !errors.Is(err, ErrMismatch) {
		t.Fatalf("another run = %v, want ErrMismatch", err)
	}
	bad := tok[:len(tok)-4] + "AAAA"
	if _, err := VerifyAsIssued(bad, f.trust, expectApproval()); err == nil {
		t.Fatal("a tampered signature verified")
	}
	if _, err := VerifyAsIssued("junk", f.trust, expectApproval()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk = %v, want ErrMalformed", err)
	}
}
