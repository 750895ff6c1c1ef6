package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/audit/audittest"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/proof"
)

func verify(t *testing.T, src audit.Source, opts audit.VerifyOptions) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func export(t *testing.T, l *audit.Ledger) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := l.Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readExport(t *testing.T, data []byte) *audit.Exported {
	t.Helper()
	x, err := audit.ReadExport(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestTamperMatrix fills a ledger of 12 entries, checkpointed at 5 and 10,
// tampers with it one way at a time, and wants Verify to name the entry.
func TestTamperMatrix(t *testing.T) {
	type ledgerCase struct {
		d       ledgerDB
		entries []audit.Entry
		copy    *audit.Exported // exported before tampering
	}
	forged := func(i int) audit.Event {
		ev := event(i)
		ev.ID, ev.Summary = "forged-"+ev.ID, "Approved by nobody"
		return ev
	}
	at := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// external: verify with the pre-tampering copy's checkpoints.
		external bool
		tamper   func(t *testing.T, c ledgerCase)
		wantSeq  int64
		want     string
	}{
		{"update summary", false, func(t *testing.T, c ledgerCase) {
			audittest.UpdateSummary(t, c.d.url, c.d.path, 7, "Approved by maria")
		}, 7, "entry 7: hash mismatch (content changed after it was written)"},
		{"delete middle entry", false, func(t *testing.T, c ledgerCase) {
			audittest.DeleteEntry(t, c.d.url, c.d.path, 7)
		}, 7, "entry 7: missing (sequence jumps from 6 to 8)"},
		{"forged entry at the end with a wrong link", false, func(t *testing.T, c ledgerCase) {
			audittest.InsertForged(t, c.d.url, c.d.path, audittest.Forge(t, 13, strings.Repeat("ab", 32), forged(13), at))
		}, 13, "entry 13: prevHash does not link to entry 12"},
		{"forged entry replacing a middle one", false, func(t *testing.T, c ledgerCase) {
			audittest.DeleteEntry(t, c.d.url, c.d.path, 7)
			audittest.InsertForged(t, c.d.url, c.d.path, audittest.Forge(t, 7, c.entries[5].Hash, forged(7), at))
		}, 8, "entry 8: prevHash does not link to entry 7"},
		{"forged entry with a stale hash", false, func(t *testing.T, c ledgerCase) {
			audittest.DeleteEntry(t, c.d.url, c.d.path, 7)
			e := audittest.Forge(t, 7, c.entries[5].Hash, forged(7), at)
			e.Hash = c.entries[6].Hash // the hash the next entry links to
			audittest.InsertForged(t, c.d.url, c.d.path, e)
		}, 7, "entry 7: hash mismatch"},
		{"chain rewritten from entry 3 on", false, func(t *testing.T, c ledgerCase) {
			audittest.TruncateAfter(t, c.d.url, c.d.path, 2)
			prev := c.entries[1].Hash
			for i := 3; i <= 12; i++ {
				e := audittest.Forge(t, int64(i), prev, forged(i), at)
				audittest.InsertForged(t, c.d.url, c.d.path, e)
				prev = e.Hash
			}
		}, 5, "entry 5: differs from the checkpoint at seq 5 signed by"},
		{"tail truncated past a checkpoint", false, func(t *testing.T, c ledgerCase) {
			audittest.TruncateAfter(t, c.d.url, c.d.path, 8)
		}, 9, "ledger truncated: checkpoint at seq 10 signed by " + proof.KeyID(nil) + " but the ledger ends at 8"},
		{"tail and its checkpoints removed, seen by an exported copy", true, func(t *testing.T, c ledgerCase) {
			audittest.TruncateAfter(t, c.d.url, c.d.path, 8)
			audittest.DeleteCheckpointsAfter(t, c.d.url, c.d.path, 8)
		}, 9, "ledger truncated: checkpoint at seq 10 signed by " + proof.KeyID(nil) + " but the ledger ends at 8"},
		{"checkpoint signature forged", false, func(t *testing.T, c ledgerCase) {
			audittest.Exec(t, c.d.url, c.d.path, `UPDATE audit_checkpoints SET hash = $1 WHERE seq = 5`, c.entries[5].Hash)
		}, 5, "checkpoint at seq 5: signature by"},
		{"checkpoint by an untrusted key", false, func(t *testing.T, c ledgerCase) {
			_, other, _ := proof.GenerateKey()
			cp, err := audit.SignCheckpoint(other, 12, c.entries[11].Hash, at)
			if err != nil {
				t.Fatal(err)
			}
			audittest.Exec(t, c.d.url, c.d.path, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`,
				cp.Seq, cp.Hash, "2025-03-02T00:00:00.000000000Z", cp.KeyID, cp.Signature)
		}, 12, "which is not a trusted audit key"},
	}
	for _, eng := range testdb.Engines("audit_tamper") {
		t.Run(eng.Name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					d := openLedger(t, eng, 5)
					c := ledgerCase{d: d, entries: fill(t, d.Ledger, 12)}
					c.copy = readExport(t, export(t, d.Ledger))
					keys := []ed25519.PublicKey{d.pub}
					if rep := verify(t, d.Ledger, audit.VerifyOptions{PublicKeys: keys}); !rep.OK || rep.Entries != 12 || rep.Checkpoints != 2 {
						t.Fatalf("fresh ledger: %+v", rep)
					}
					tc.tamper(t, c)
					opts := audit.VerifyOptions{PublicKeys: keys}
					if tc.external {
						// The database alone no longer shows it...
						if rep := verify(t, d.Ledger, opts); !rep.OK {
							t.Fatalf("without the copy: %+v", rep)
						}
						// ...the copy's checkpoints do.
						opts.External, _ = c.copy.Checkpoints(context.Background())
					}
					rep := verify(t, d.Ledger, opts)
					if rep.OK || len(rep.Problems) == 0 {
						t.Fatalf("tampering not detected: %+v", rep)
					}
					first := rep.Problems[0]
					want := strings.ReplaceAll(tc.want, proof.KeyID(nil), proof.KeyID(d.pub))
					if first.Seq != tc.wantSeq || !strings.Contains(first.Message, want) {
						t.Errorf("first problem = %d %q, want %d %q (all: %+v)", first.Seq, first.Message, tc.wantSeq, want, rep.Problems)
					}
					if !strings.HasPrefix(rep.FirstProblem(), first.Message) {
						t.Errorf("FirstProblem = %q", rep.FirstProblem())
					}
				})
			}
		})
	}
}

func TestExportRoundTripVerifies(t *testing.T) {
	for _, eng := range testdb.Engines("audit_export") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, 4)
			entries := fill(t, d.Ledger, 10)
			data := export(t, d.Ledger)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 1+10+2 {
				t.Fatalf("%d lines, want header, 10 entries, 2 checkpoints:\n%s", len(lines), data)
			}
			if want := `{"ledger":{"version":1,"publicKeys":["` + proof.EncodePublicKey(d.pub) + `"]}}`; lines[0] != want {
				t.Errorf("header %s, want %s", lines[0], want)
			}
			x := readExport(t, data)
			got, err := x.Entries(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(entries) {
				t.Fatalf("%d entries read back", len(got))
			}
			for i := range got {
				if !sameEntry(got[i], entries[i]) {
					t.Errorf("entry %d read back as %+v, want %+v", i+1, got[i], entries[i])
				}
			}
			keys := []ed25519.PublicKey{d.pub}
			if rep := verify(t, x, audit.VerifyOptions{PublicKeys: keys}); !rep.OK || rep.Entries != 10 || rep.Checkpoints != 2 || rep.HeadSeq != 10 {
				t.Errorf("export: %+v", rep)
			}
			// The copy's checkpoints agree with the live ledger.
			cps, _ := x.Checkpoints(ctx)
			if rep := verify(t, d.Ledger, audit.VerifyOptions{PublicKeys: keys, External: cps}); !rep.OK || rep.Checkpoints != 2 {
				t.Errorf("live with the copy's checkpoints: %+v", rep)
			}
			// A copy edited by hand fails like the database would.
			edited := strings.Replace(string(data), `"summary":"event 3 `, `"summary":"event three `, 1)
			if rep := verify(t, readExport(t, []byte(edited)), audit.VerifyOptions{PublicKeys: keys}); rep.OK || rep.Problems[0].Seq != 3 {
				t.Errorf("edited export: %+v", rep)
			}
			// Without trusted keys, checkpoints do not count as verified.
			if rep := verify(t, x, audit.VerifyOptions{}); rep.OK {
				t.Errorf("verified checkpoints without any trusted key: %+v", rep)
			}
		})
	}
}

func TestExportReadRejectsMalformed(t *testing.T) {
	hdr := `{"ledger":{"version":1,"publicKeys":[]}}` + "\n"
	for name, text := range map[string]string{
		"empty":          "",
		"no header":      `{"checkpoint":{"seq":1}}` + "\n",
		"two headers":    hdr + hdr,
		"unknown field":  hdr + `{"entry":{"seq":1},"extra":1}` + "\n",
		"two kinds":      hdr + `{"entry":{"seq":1},"checkpoint":{"seq":1}}` + "\n",
		"not JSON":       hdr + "seq 1\n",
		"future version": `{"ledger":{"version":2}}` + "\n",
	} {
		if _, err := audit.ReadExport(strings.NewReader(text)); err == nil {
			t.Errorf("%s: ReadExport accepted %q", name, text)
		}
	}
}

func TestVerifyEmptyAndOrderProblems(t *testing.T) {
	ctx := context.Background()
	d := openLedger(t, testdb.Engines("audit_order")[0], 0)
	if rep := verify(t, d.Ledger, audit.VerifyOptions{}); !rep.OK || rep.Entries != 0 || rep.HeadHash != audit.GenesisHash {
		t.Errorf("empty ledger: %+v", rep)
	}
	fill(t, d.Ledger, 3)
	data := export(t, d.Ledger)
	lines := strings.SplitAfter(string(data), "\n")
	// Entry 1 dropped from a copy: the ledger starts at 2.
	x := readExport(t, []byte(lines[0]+lines[2]+lines[3]))
	rep := verify(t, x, audit.VerifyOptions{})
	if rep.OK || rep.Problems[0].Message != "entry 1: missing (the ledger starts at 2)" {
		t.Errorf("copy without entry 1: %+v", rep)
	}
	// Entry 2 twice.
	x = readExport(t, []byte(lines[0]+lines[1]+lines[2]+lines[2]+lines[3]))
	if rep := verify(t, x, audit.VerifyOptions{}); rep.OK || !strings.Contains(rep.FirstProblem(), "entry 2: out of order or repeated") {
		t.Errorf("copy with entry 2 twice: %+v", rep)
	}
	_ = ctx
}

// TestVerifyChainRebuiltWithoutCheckpoints: whoever can write the database
// deletes every checkpoint and rebuilds the chain with new content and
// consistent hashes. The chain alone verifies; the checkpoint interval the
// ledger signs at gives it away.
func TestVerifyChainRebuiltWithoutCheckpoints(t *testing.T) {
	for _, eng := range testdb.Engines("audit_rebuilt") {
		t.Run(eng.Name, func(t *testing.T) {
			d := openLedger(t, eng, 5)
			entries := fill(t, d.Ledger, 12)
			at := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
			audittest.DeleteCheckpointsAfter(t, d.url, d.path, 0)
			audittest.TruncateAfter(t, d.url, d.path, 2)
			prev := entries[1].Hash
			for i := 3; i <= 12; i++ {
				ev := event(i)
				ev.Summary = "Approved by nobody"
				e := audittest.Forge(t, int64(i), prev, ev, at)
				audittest.InsertForged(t, d.url, d.path, e)
				prev = e.Hash
			}
			keys := []ed25519.PublicKey{d.pub}
			if rep := verify(t, d.Ledger, audit.VerifyOptions{PublicKeys: keys}); !rep.OK {
				t.Fatalf("without the interval the rebuilt chain was expected to pass: %+v", rep)
			}
			rep := verify(t, d.Ledger, audit.VerifyOptions{PublicKeys: keys, CheckpointEvery: 5})
			if rep.OK || rep.Problems[0].Seq != 5 || !strings.Contains(rep.Problems[0].Message, "entry 5: no checkpoint") {
				t.Errorf("rebuilt chain without checkpoints: %+v", rep)
			}
			// An intact ledger at the same interval has them all.
			fresh := openLedger(t, eng, 5)
			fill(t, fresh.Ledger, 12)
			if rep := verify(t, fresh.Ledger, audit.VerifyOptions{PublicKeys: []ed25519.PublicKey{fresh.pub}, CheckpointEvery: 5}); !rep.OK {
				t.Errorf("intact ledger: %+v", rep)
			}
		})
	}
}
