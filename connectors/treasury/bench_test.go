package treasury_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
)

// BenchmarkRelease measures one payment release through the connector over
// real HTTP into the sandbox store (SQLite, or PostgreSQL with DATABASE_URL):
// new keys, and the idempotent replay of an existing key.
func BenchmarkRelease(b *testing.B) {
	s := sandboxURL(b)
	c := treasury.New(s, quiet)
	ctx := context.Background()
	b.Run("new-key", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := c.ReleasePayment(ctx, fmt.Sprintf("bench-%d", i), request(int64(1000+i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replayed-key", func(b *testing.B) {
		if _, err := c.ReleasePayment(ctx, "bench-replay", request(999)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := c.ReleasePayment(ctx, "bench-replay", request(999)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
