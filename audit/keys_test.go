package audit_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/proof"
)

func TestAuditKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if keys, err := audit.LoadPublicKeys(dir); err != nil || len(keys) != 0 {
		t.Fatalf("no folder: %v, %v", keys, err)
	}
	priv, err := audit.EnsureKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, audit.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	again, err := audit.EnsureKey(dir)
	if err != nil || !again.Equal(priv) {
		t.Fatalf("second EnsureKey made another key (%v)", err)
	}
	// A rotated key, kept for its old checkpoints.
	oldPub, _, _ := proof.GenerateKey()
	rotated := "# rotated 2025-01\n# audit-checkpoint-key " + proof.EncodePublicKey(oldPub) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "audit-2025-01.pub"), []byte(rotated), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := audit.LoadPublicKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Equal(oldPub) && !keys[1].Equal(oldPub) {
		t.Errorf("keys = %v, want the current and the rotated one", keys)
	}
	found := false
	for _, k := range keys {
		found = found || k.Equal(priv.Public())
	}
	if !found {
		t.Error("the current key is not listed")
	}
	// The approval trust folder reads the same *.pub files: it must
	// neither fail on them nor trust an audit key for approvals.
	trust, err := proof.LoadTrustDir(dir)
	if err != nil || len(trust.Keys) != 0 {
		t.Errorf("proof.LoadTrustDir on the keys folder = %+v, %v; want no keys, no error", trust, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit-bad.pub"), []byte("# audit-checkpoint-key ed25519:nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.LoadPublicKeys(dir); err == nil || !strings.Contains(err.Error(), "audit-bad.pub:1") {
		t.Errorf("bad key line: %v", err)
	}
}

// Processes starting together (two workers, a worker and `audit
// checkpoint`) agree on one key, and none fails writing audit.pub.
func TestAuditKeysConcurrent(t *testing.T) {
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), "keys")
		const n = 8
		keys := make([]ed25519.PrivateKey, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { keys[i], errs[i] = audit.EnsureKey(dir) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: EnsureKey %d: %v", round, i, errs[i])
			}
			if !keys[i].Equal(keys[0]) {
				t.Fatalf("round %d: EnsureKey %d made another key", round, i)
			}
		}
		pubs, err := audit.LoadPublicKeys(dir)
		if err != nil || len(pubs) != 1 || !pubs[0].Equal(keys[0].Public()) {
			t.Fatalf("round %d: public keys = %v, %v", round, pubs, err)
		}
	}
}
