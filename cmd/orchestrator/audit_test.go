package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/audit/audittest"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// auditCLI runs "orchestrator audit ..." against one ledger.
type auditCLI struct {
	dataDir, databaseURL, sqlitePath string
}

func (c auditCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	args = append(append([]string{"audit"}, args...), "--data-dir", c.dataDir, "--database-url", c.databaseURL)
	err := run(context.Background(), args, &out, slog.New(slog.DiscardHandler))
	return out.String(), err
}

// fillAuditLedger appends a vendor payment's story, signed with the key
// the CLI finds in <data-dir>/keys, checkpointed every 4 entries.
func fillAuditLedger(t *testing.T, c auditCLI) {
	t.Helper()
	ctx := context.Background()
	key, err := audit.EnsureKey(filepath.Join(c.dataDir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, c.databaseURL, c.sqlitePath, audit.Options{Signer: key, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	add := func(key, wf string, kind audit.Kind, actor, summary string, data any, links ...string) {
		t.Helper()
		n++
		raw, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Append(ctx, audit.Event{ID: fmt.Sprintf("%s/run-1/%d", wf, n), Process: "vendor-payment", BusinessKey: key,
			WorkflowID: wf, RunID: "run-1", Kind: kind, Actor: actor, Summary: summary, At: at.Add(time.Duration(n) * time.Minute), Data: raw, Links: links})
		if err != nil {
			t.Fatal(err)
		}
	}
	wf := "vendor-payment-INV-1042"
	add("INV-1042", wf, audit.KindProposed, "agent:payables", "Pay invoice INV-1042 (12,500.00 EUR)",
		audit.ProposedData{ActionKind: "vendor_payment", Target: "INV-1042", RequestedBy: "agent:payables", RequesterVerified: true})
	add("INV-1042", wf, audit.KindGate, "system:gate", "Gate: approval required",
		audit.GateData{Where: "plan", PolicySetHash: "5f2b9c0e7a1d3f4b", Reasons: []audit.GateReason{{Policy: "amount-over-10k", Approval: true}}})
	add("INV-1042", wf, audit.KindApproval, "maria", "Approved by maria (finance-manager)",
		audit.ApprovalData{Decision: "approve", Slot: "finance-manager", Proof: audit.ProofData{Verified: true, Method: "oidc", KeyID: "ed25519-web0000000000001"}})
	add("INV-1042", wf, audit.KindSideEffect, "system", "Released the payment",
		audit.SideEffectData{System: "treasury", Operation: "release", Reference: "PAY-77"})
	add("INV-1042", wf, audit.KindOutcome, "system", "Outcome: paid", audit.OutcomeData{Outcome: "paid"})
	add("INV-2000", "vendor-payment-INV-2000", audit.KindProposed, "agent:payables", "Pay invoice INV-2000",
		audit.ProposedData{RequestedBy: "agent:payables"})
	add("INV-2000", "vendor-payment-INV-2000", audit.KindOutcome, "system", "Outcome: rejected", audit.OutcomeData{Outcome: "rejected"})
	add("INV-2000", "vendor-payment-INV-2000", audit.KindException, "system", "Exception (rejected)", audit.ExceptionData{Reason: "rejected"})
	add("INV-2000", "vendor-payment-INV-2000", audit.KindHandoff, "system", "Handed to finance-ops", audit.HandoffData{Why: "escalation", To: []string{"finance-ops"}})
}

func TestAuditCommands(t *testing.T) {
	for _, e := range testdb.Engines("cli_audit") {
		t.Run(e.Name, func(t *testing.T) {
			dbURL, _ := e.Locate(t, "unused.db")
			dataDir := t.TempDir()
			c := auditCLI{dataDir: dataDir, databaseURL: dbURL}
			if dbURL == "" {
				c.sqlitePath = filepath.Join(dataDir, "orchestrator.db")
				if _, err := c.run(t, "verify"); err == nil || !strings.Contains(err.Error(), "no audit ledger") {
					t.Errorf("verify without a ledger: %v", err)
				}
			}
			fillAuditLedger(t, c)

			out, err := c.run(t, "verify")
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
			if !strings.Contains(out, "live ledger: intact — 9 entries, 2 checkpoints") {
				t.Errorf("verify output:\n%s", out)
			}
			if out, err := c.run(t, "verify", "--checkpoint-every", "4"); err != nil {
				t.Errorf("verify at the ledger's interval: %v\n%s", err, out)
			}
			if out, err := c.run(t, "verify", "--checkpoint-every", "3"); err == nil || !strings.Contains(err.Error(), "entry 3: no checkpoint") {
				t.Errorf("verify expecting a checkpoint every 3 entries: %v\n%s", err, out)
			}

			out, err = c.run(t, "show", "INV-1042")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"History of INV-1042: 5 entries",
				"approve by maria · slot finance-manager · proof verified (method oidc, key ed25519-web0000000000001)",
				"DENY at plan · denied by amount-over-10k (approval may lift) · policy set 5f2b9c0e7a1d",
				"treasury/release · ref PAY-77",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("show: missing %q in\n%s", want, out)
				}
			}
			if strings.Contains(out, "INV-2000") {
				t.Errorf("show INV-1042 lists another invoice:\n%s", out)
			}
			out, err = c.run(t, "show", "vendor-payment-INV-2000", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var tl audit.Timeline
			if err := json.Unmarshal([]byte(out), &tl); err != nil || len(tl.Lines) != 4 || tl.Lines[3].Kind != audit.KindOutcome {
				t.Errorf("show --json: %v\n%s", err, out)
			}
			if _, err := c.run(t, "show", "INV-404"); err == nil || !strings.Contains(err.Error(), "no entries") {
				t.Errorf("show of an unknown key: %v", err)
			}

			out, err = c.run(t, "checkpoint")
			if err != nil || !strings.Contains(out, "checkpoint at entry 9") {
				t.Errorf("checkpoint: %v\n%s", err, out)
			}

			exportFile := filepath.Join(t.TempDir(), "ledger.jsonl")
			if out, err := c.run(t, "export", "--out", exportFile); err != nil || !strings.Contains(out, "head 9") {
				t.Fatalf("export: %v\n%s", err, out)
			}
			data, err := os.ReadFile(exportFile)
			if err != nil || bytes.Count(data, []byte("\n")) != 1+9+3 {
				t.Fatalf("export file (%v):\n%s", err, data)
			}
			stdout, err := c.run(t, "export")
			if err != nil || stdout != string(data) {
				t.Errorf("export to stdout differs from the file (%v)", err)
			}

			// The tail and its checkpoints cut: the database alone
			// looks fine, the exported copy does not.
			audittest.TruncateAfter(t, c.databaseURL, c.sqlitePath, 6)
			audittest.DeleteCheckpointsAfter(t, c.databaseURL, c.sqlitePath, 6)
			if out, err := c.run(t, "verify"); err != nil {
				t.Errorf("verify after a clean cut without the copy: %v\n%s", err, out)
			}
			out, err = c.run(t, "verify", "--export", exportFile)
			if err == nil || !strings.Contains(err.Error(), "ledger truncated: checkpoint at seq 9") || !strings.Contains(err.Error(), "ends at 6") {
				t.Errorf("verify --export after truncation: %v\n%s", err, out)
			}
			if !strings.Contains(out, "export ledger.jsonl: intact — 9 entries") {
				t.Errorf("verify --export output:\n%s", out)
			}

			audittest.UpdateSummary(t, c.databaseURL, c.sqlitePath, 3, "Approved by mallory")
			out, err = c.run(t, "verify")
			if err == nil || !strings.Contains(err.Error(), "entry 3: hash mismatch") {
				t.Errorf("verify after an edit: %v\n%s", err, out)
			}
			if !strings.Contains(out, "live ledger: FAILED") {
				t.Errorf("verify output after an edit:\n%s", out)
			}
		})
	}
}

func TestAuditVerifyExportOffline(t *testing.T) {
	// An auditor with only the copy and the public key.
	dataDir := t.TempDir()
	c := auditCLI{dataDir: dataDir, sqlitePath: filepath.Join(dataDir, "orchestrator.db")}
	fillAuditLedger(t, c)
	exportFile := filepath.Join(t.TempDir(), "copy.jsonl")
	if _, err := c.run(t, "export", "--out", exportFile); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.Mkdir(filepath.Join(elsewhere, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dataDir, "keys", audit.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "keys", audit.PublicKeyFile), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	offline := auditCLI{dataDir: elsewhere}
	out, err := offline.run(t, "verify", "--export", exportFile)
	if err != nil || !strings.Contains(out, "intact — 9 entries, 2 checkpoints") || !strings.Contains(out, "live ledger: not checked") {
		t.Errorf("offline verify: %v\n%s", err, out)
	}
	// Without the key, checkpoints cannot vouch.
	if err := os.Remove(filepath.Join(elsewhere, "keys", audit.PublicKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := offline.run(t, "verify", "--export", exportFile); err == nil || !strings.Contains(err.Error(), "not a trusted audit key") {
		t.Errorf("offline verify without the key: %v", err)
	}
}

func TestAuditUsage(t *testing.T) {
	c := auditCLI{dataDir: t.TempDir()}
	for _, args := range [][]string{{"frobnicate"}, {"show"}, {"show", "--json"}} {
		if _, err := c.run(t, args...); err == nil {
			t.Errorf("audit %v: no error", args)
		}
	}
}
