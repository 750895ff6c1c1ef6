package proof

import "testing"

// BenchmarkVerify measures what an Update validator spends on one approval
// proof: decode, canonical check, Ed25519 verification, binding checks.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	tok := mustSign(b, f.web, approval(MethodOIDC))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, f.trust, expectApproval(), now); err != nil {
			b.Fatal(err)
		}
	}
}
