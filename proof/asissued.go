package proof

import (
	"encoding/json"
	"strings"
	"time"
)

// VerifyAsIssued verifies token as of the moment it says it was issued:
// signature, key, issuer, kind and every Expect field, but not whether it
// has expired since. It is for checks made long after a short-lived
// assertion was accepted — the release re-verifying who approved and who
// requested, days later; how old a proof may be is a policy's to judge
// (the gate's approval.validity), from the IssuedAt this returns.
func VerifyAsIssued(token string, trust Trust, want Expect) (Assertion, error) {
	// Anything that does not decode is refused by Verify with its reason.
	if len(token) > MaxTokenLen {
		return Verify(token, trust, want, time.Time{})
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return Verify(token, trust, want, time.Time{})
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return Verify(token, trust, want, time.Time{})
	}
	var a Assertion
	if err := json.Unmarshal(payload, &a); err != nil {
		return Verify(token, trust, want, time.Time{})
	}
	// The claimed time is only used to evaluate the token as of then; the
	// signature over it is checked by Verify like everything else.
	return Verify(token, trust, want, a.IssuedAt)
}
