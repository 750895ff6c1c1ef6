package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/codec"
)

// codecClient waits until the keyring at path exists (a worker creates
// it) and returns c with its payload codec.
func codecClient(t *testing.T, c tclient.Client, path string) tclient.Client {
	t.Helper()
	var ring *codec.Keyring
	for deadline := time.Now().Add(30 * time.Second); ; {
		var err error
		if ring, err = codec.Load(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not create its keyring: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dc := codec.DataConverter(ring)
	cc, err := tclient.NewClientFromExisting(c, tclient.Options{Namespace: "default", DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Close)
	return cc
}

func codecCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"codec"}, args...), &out, slog.New(slog.DiscardHandler))
	return out.String(), err
}

func TestCodecCommands(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "keys", codec.FileName)
	flags := []string{"--data-dir", dataDir}

	if _, err := codecCLI(t, append([]string{"list"}, flags...)...); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("list without a keyring: %v, want an error naming %s", err, path)
	}
	out, err := codecCLI(t, append([]string{"keygen"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.ActiveID()
	if !strings.Contains(out, first) {
		t.Errorf("keygen output lacks the key id %s:\n%s", first, out)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := codecCLI(t, append([]string{"keygen"}, flags...)...); err == nil || !strings.Contains(err.Error(), "rotate") {
		t.Fatalf("keygen over a keyring: %v, want refused pointing at rotate", err)
	}

	if _, err := codecCLI(t, append([]string{"rotate"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	ring, err = codec.Load(path)
	if err != nil || ring.ActiveID() == first || !ring.Has(first) {
		t.Fatalf("after rotate: %v (%v), want a new active key and %s kept", ring.IDs(), err, first)
	}

	tokOut, err := codecCLI(t, append([]string{"token", "ops-cli"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	tokens := codec.OpenTokens(filepath.Join(dataDir, "keys", codec.TokensFileName))
	var token string
	for _, f := range strings.Fields(tokOut) {
		if strings.HasPrefix(f, "eoc_") {
			token = f
			break
		}
	}
	if token == "" || !tokens.Valid(token) {
		t.Fatalf("token output %q: no valid token", tokOut)
	}

	out, err = codecCLI(t, append([]string{"list"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, ring.ActiveID()+"  encrypt, decrypt (active)") || !strings.Contains(out, first+"  decrypt") || !strings.Contains(out, "ops-cli") {
		t.Errorf("list output:\n%s", out)
	}
	// Never key bytes, never the token.
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(line, "#") && strings.Contains(out, f[1]) {
			t.Fatalf("list printed key bytes:\n%s", out)
		}
	}
	if strings.Contains(out, token) {
		t.Fatal("list printed the token")
	}

	if _, err := codecCLI(t, append([]string{"token", "revoke", "ops-cli"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	if tokens.Valid(token) {
		t.Fatal("revoked token still valid")
	}
	if _, err := codecCLI(t, "shred"); err == nil {
		t.Error("unknown subcommand accepted")
	}
}

func TestCodecKeysEverywhere(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ORCH_CODEC_KEYS", "")
	t.Setenv("ORCH_KEYS_DIR", "")
	t.Setenv("ORCH_DATA_DIR", dir)
	if got, want := envCodecKeys(), filepath.Join(dir, "keys", codec.FileName); got != want {
		t.Errorf("envCodecKeys = %s, want %s", got, want)
	}
	t.Setenv("ORCH_KEYS_DIR", filepath.Join(dir, "k"))
	if got, want := envCodecKeys(), filepath.Join(dir, "k", codec.FileName); got != want {
		t.Errorf("envCodecKeys = %s, want %s", got, want)
	}
	t.Setenv("ORCH_CODEC_KEYS", filepath.Join(dir, "x.keys"))
	if got := envCodecKeys(); got != filepath.Join(dir, "x.keys") {
		t.Errorf("envCodecKeys = %s", got)
	}
	// Operator commands load the keyring before dialing, and say where it was looked for.
	for _, args := range [][]string{
		{"status", "vendor-payment-INV-1042"},
		{"result", "vendor-payment-INV-1042", "--codec-keys", filepath.Join(dir, "y.keys")},
		{"approve", "vendor-payment-INV-1042", "--as", "maria", "--code", "123456"},
		{"start", "vendor-payment", "--invoice", "INV-1042"},
		{"setup", "--data-dir", dir},
	} {
		err := run(context.Background(), args, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "codec keygen") {
			t.Errorf("%v: %v, want the missing keyring named", args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.keys")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("an operator command created a keyring")
	}
}
