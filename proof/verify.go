package proof

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"time"
)

// Verify checks token against trust and want at time now and returns the
// assertion it carries. It is pure (no I/O, clock or randomness), so it may
// run inside a Temporal Update validator. It does not remember nonces: the
// caller refuses a nonce it has already accepted.
func Verify(token string, trust Trust, want Expect, now time.Time) (Assertion, error) {
	if len(token) > MaxTokenLen {
		return Assertion{}, fail("token", ErrMalformed, "%d bytes exceeds %d", len(token), MaxTokenLen)
	}
	// Pasting into a dialog often adds a newline; whitespace is outside the
	// signed bytes, so dropping it changes nothing that was vouched for.
	token = strings.TrimSpace(token)
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != tokenPrefix {
		return Assertion{}, fail("token", ErrMalformed, "want %s.<payload>.<signature>", tokenPrefix)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return Assertion{}, fail("token", ErrMalformed, "payload is not base64url: %v", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Assertion{}, fail("signature", ErrMalformed, "not base64url: %v", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return Assertion{}, fail("signature", ErrMalformed, "%d bytes, want %d", len(sig), ed25519.SignatureSize)
	}

	var a Assertion
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Assertion{}, fail("token", ErrMalformed, "payload is not an assertion: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Assertion{}, fail("token", ErrMalformed, "payload has data after the assertion")
	}
	// One assertion, one encoding: compare with what Sign would produce, which
	// also refuses duplicate keys, case-folded names and explicit empty fields
	// that encoding/json would otherwise accept silently.
	canon, err := canonical(a)
	if err != nil || !bytes.Equal(canon, payload) {
		return Assertion{}, fail("token", ErrMalformed, "payload is not canonical JSON (RFC 8785)")
	}

	key, ok := trust.Find(a.KeyID)
	if !ok {
		return Assertion{}, fail("kid", ErrUnknownKey, "unknown key %q", a.KeyID)
	}
	pub, err := ParsePublicKey(key.Public)
	if err != nil {
		return Assertion{}, fail("kid", ErrUnknownKey, "trusted key %q is unusable: %v", a.KeyID, err)
	}
	if KeyID(pub) != key.KeyID {
		// A trust entry whose id does not belong to its key is a configuration
		// error; accepting it would let one key pass as another.
		return Assertion{}, fail("kid", ErrUnknownKey, "trusted key %q does not match its public key", a.KeyID)
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return Assertion{}, fail("signature", ErrBadSignature, "does not verify")
	}

	// Signed by a trusted key from here on; now check what it says.
	if err := validate(a); err != nil {
		return Assertion{}, err
	}
	for _, c := range []struct{ field, want, got string }{
		{"kind", want.Kind, a.Kind},
		{"workflowId", want.WorkflowID, a.WorkflowID},
		{"runId", want.RunID, a.RunID},
		{"slot", want.Slot, a.Slot},
		{"actionDigest", want.ActionDigest, a.ActionDigest},
		{"decision", want.Decision, a.Decision},
		{"sub", want.Subject, a.Subject},
	} {
		if c.want != "" && c.want != c.got {
			return Assertion{}, fail(c.field, ErrMismatch, "made for %q, not %q", c.got, c.want)
		}
	}
	if err := permitted(key, a); err != nil {
		return Assertion{}, err
	}
	if a.IssuedAt.After(now.Add(MaxClockSkew)) {
		return Assertion{}, fail("iat", ErrNotYetValid, "issued at %s, in the future of %s", a.IssuedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !a.ExpiresAt.After(now) {
		return Assertion{}, fail("exp", ErrExpired, "expired at %s", a.ExpiresAt.Format(time.RFC3339))
	}
	return a, nil
}

// permitted applies what the trust entry allows its key to vouch for.
func permitted(key TrustedKey, a Assertion) error {
	switch key.Issuer {
	case IssuerPerson:
		// A person's own key proves only that person, and only by possession.
		if key.Person == "" {
			return fail("kid", ErrUnknownKey, "trusted person key %q names no person", key.KeyID)
		}
		if a.Subject != key.Person {
			return fail("sub", ErrNotPermitted, "key %q belongs to %q and cannot sign for %q", key.KeyID, key.Person, a.Subject)
		}
		if a.Method != MethodKey {
			return fail("method", ErrNotPermitted, "person key %q may only claim %q, not %q", key.KeyID, MethodKey, a.Method)
		}
	case IssuerGateway:
		// The gateway authenticates agents, and agents only ask: a gateway
		// key that leaks still cannot approve anything or speak for a person.
		if a.Kind != KindStart || !strings.HasPrefix(a.Subject, "agent:") {
			return fail("kind", ErrNotPermitted, "gateway key %q may only vouch for an agent's start, not a %s for %q", key.KeyID, a.Kind, a.Subject)
		}
	case IssuerWeb, IssuerWorker:
	default:
		return fail("kid", ErrUnknownKey, "trusted key %q has unknown issuer %q", key.KeyID, key.Issuer)
	}
	methods := key.Methods
	if len(methods) == 0 {
		methods = DefaultMethods(key.Issuer)
	}
	if !slices.Contains(methods, a.Method) {
		return fail("method", ErrNotPermitted, "issuer %q (key %q) may not claim %q", key.Issuer, key.KeyID, a.Method)
	}
	return nil
}
