package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// benchLedger opens a ledger on engine e that signs a checkpoint every 100
// entries, as the worker does.
func benchLedger(b *testing.B, e testdb.Engine) *Ledger {
	b.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	url, path := e.Locate(b, "bench.db")
	l, err := Open(context.Background(), url, path, Options{Signer: priv, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func benchEvent(i int) Event {
	data, _ := json.Marshal(GateData{Where: "plan", Permit: false, PolicySetHash: "sha256:0f1e2d", ActionDigest: "sha256:abcdef",
		Reasons: []GateReason{{Policy: "autonomy.threshold", Message: "above the autonomous limit", Approval: true}}})
	return Event{ID: fmt.Sprintf("vendor-payment-INV-%d/run/%d", i/10, i), Process: "vendor-payment", BusinessKey: fmt.Sprintf("INV-%d", i/10),
		WorkflowID: fmt.Sprintf("vendor-payment-INV-%d", i/10), RunID: "run", Kind: KindGate, Actor: "system:gate",
		Summary: "Gate: deny: autonomy.threshold", At: time.Now().UTC(), Data: data}
}

// BenchmarkAppend is what one recorded event costs the workflow's local
// activity: a serialized read of the head, a hash and an insert (and a
// signed checkpoint every 100th).
func BenchmarkAppend(b *testing.B) {
	for _, e := range testdb.Engines("auditbench") {
		b.Run(e.Name, func(b *testing.B) {
			l := benchLedger(b, e)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := l.Append(ctx, benchEvent(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkVerify is `audit verify` over a ledger of 2 000 entries (20
// checkpoints), per run; divide by 2 000 for a per-entry figure.
func BenchmarkVerify(b *testing.B) {
	for _, e := range testdb.Engines("auditbench") {
		b.Run(e.Name, func(b *testing.B) {
			l := benchLedger(b, e)
			ctx := context.Background()
			for i := range 2000 {
				if _, err := l.Append(ctx, benchEvent(i)); err != nil {
					b.Fatal(err)
				}
			}
			keys := []ed25519.PublicKey{l.signer.Public().(ed25519.PublicKey)}
			for b.Loop() {
				rep, err := Verify(ctx, l, VerifyOptions{PublicKeys: keys})
				if err != nil || !rep.OK {
					b.Fatalf("verify: %v %+v", err, rep.Problems)
				}
			}
		})
	}
}
