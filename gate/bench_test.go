package gate

import (
	"context"
	"testing"

	"github.com/execution-orchestrator/orchestrator/policy"
)

// BenchmarkDecide measures a decision including the per-call change check:
// a stat of every file for a directory, nothing for the embedded set.
func BenchmarkDecide(b *testing.B) {
	sources := []struct {
		name string
		src  func(b *testing.B) Source
	}{
		{"dir", func(b *testing.B) Source { return DirSource(copyPolicies(b, true)) }},
		{"embedded", func(*testing.B) Source { return FSSource(policy.DefaultPolicies()) }},
	}
	for _, s := range sources {
		b.Run(s.name, func(b *testing.B) {
			e, err := Open(s.src(b), fixedClock, nil)
			if err != nil {
				b.Fatal(err)
			}
			req := releaseReq(with(approvedBy(1, "finance-manager")))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
