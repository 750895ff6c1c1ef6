package gate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testlog"
)

// brokenPolicy has a syntax error (a missing comma) on line 7.
const brokenPolicy = `// 1
// 2
// 3
// 4
@id("broken")
forbid (
  principal action, resource
);
`

func rewrite(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out := edit(string(data))
	require.NotEqual(t, string(data), out, "edit changed nothing")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
}

func TestHotReload(t *testing.T) {
	// fresh: the rewrite keeps size and mtime, so only the re-hash of
	// recently modified files can notice it. old: stat alone must notice.
	for _, fresh := range []bool{true, false} {
		t.Run(fmt.Sprintf("fresh=%v", fresh), func(t *testing.T) {
			dir := copyPolicies(t, !fresh)
			var logs testlog.Buffer
			e, err := Open(DirSource(dir), fixedClock, testLogger(&logs))
			require.NoError(t, err)
			ctx := context.Background()

			d, err := e.Decide(ctx, releaseReq(releaseCtx()))
			require.NoError(t, err)
			require.True(t, d.Permit, d.String())
			before := d.PolicySetHash

			// Lower the limit of 5 000.00 to 3 000.00 (the threshold and the
			// daily cap share it); same number of bytes.
			path := filepath.Join(dir, "vendorpayment.cedar")
			info, err := os.Stat(path)
			require.NoError(t, err)
			rewrite(t, path, func(s string) string { return strings.ReplaceAll(s, "500000", "300000") })
			if fresh {
				// Worst case of a coarse mtime clock: same size, same mtime.
				require.NoError(t, os.Chtimes(path, info.ModTime(), info.ModTime()))
			} else {
				// Same size; a new mtime as any editor would leave.
				require.NoError(t, os.Chtimes(path, time.Now(), time.Now()))
			}

			d, err = e.Decide(ctx, releaseReq(releaseCtx()))
			require.NoError(t, err)
			assert.False(t, d.Permit)
			require.NotEmpty(t, d.Reasons)
			assert.Equal(t, "autonomy.threshold", d.Reasons[0].PolicyID)
			assert.True(t, d.NeedsApprovalOnly(), d.String())
			assert.NotEqual(t, before, d.PolicySetHash)
			assert.Equal(t, d.PolicySetHash, e.PolicySetHash())
			assert.Contains(t, logs.String(), "gate: policies reloaded")
			assert.Contains(t, logs.String(), "old_hash="+before+" new_hash="+d.PolicySetHash)
		})
	}
}

func TestUnchangedFilesAreOnlyStatted(t *testing.T) {
	dir := copyPolicies(t, true)
	cfs := &countingFS{fsys: os.DirFS(dir)}
	e, err := Open(FSSource(cfs), fixedClock, nil)
	require.NoError(t, err)
	loaded := cfs.reads.Load()
	require.Positive(t, loaded)

	for range 3 {
		_, err := e.Decide(context.Background(), releaseReq(releaseCtx()))
		require.NoError(t, err)
	}
	assert.Equal(t, loaded, cfs.reads.Load(), "unchanged, old files must not be re-read")

	// A new file is a change.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.cedar"),
		[]byte(`@id("extra") forbid (principal, action == Action::"x", resource);`), 0o644))
	_, err = e.Decide(context.Background(), releaseReq(releaseCtx()))
	require.NoError(t, err)
	assert.Greater(t, cfs.reads.Load(), loaded)
}

func TestRecentlyModifiedFilesAreRehashedNotReparsed(t *testing.T) {
	dir := copyPolicies(t, false)
	var logs testlog.Buffer
	e, err := Open(DirSource(dir), fixedClock, testLogger(&logs))
	require.NoError(t, err)
	hash := e.PolicySetHash()
	for range 3 {
		_, err := e.Decide(context.Background(), releaseReq(releaseCtx()))
		require.NoError(t, err)
	}
	assert.Equal(t, hash, e.PolicySetHash())
	assert.Equal(t, 1, strings.Count(logs.String(), "gate: policies loaded"))
	assert.NotContains(t, logs.String(), "reloaded")
}

func TestBrokenPolicyFailsClosed(t *testing.T) {
	ctx := context.Background()

	t.Run("at open", func(t *testing.T) {
		dir := copyPolicies(t, false)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.cedar"), []byte(brokenPolicy), 0o644))
		_, err := Open(DirSource(dir), fixedClock, nil)
		require.ErrorIs(t, err, ErrUndecidable)
		assert.Contains(t, err.Error(), "broken.cedar:7")
	})

	t.Run("on reload, and recovers", func(t *testing.T) {
		dir := copyPolicies(t, false)
		var logs testlog.Buffer
		e, err := Open(DirSource(dir), fixedClock, testLogger(&logs))
		require.NoError(t, err)
		good := e.PolicySetHash()

		path := filepath.Join(dir, "payment-window.cedar")
		require.NoError(t, os.WriteFile(path, []byte(brokenPolicy), 0o644))
		for range 2 { // stays broken: never the old set
			_, err = e.Decide(ctx, releaseReq(releaseCtx()))
			require.ErrorIs(t, err, ErrUndecidable)
			assert.Contains(t, err.Error(), "payment-window.cedar:7")
		}
		assert.NotEqual(t, good, e.PolicySetHash())
		assert.Contains(t, logs.String(), "do not load")

		// The test's own window: closed all day.
		require.NoError(t, os.WriteFile(path, []byte(
			`@id("payment.window") @message("closed") forbid (principal, action == Action::"vendor_payment.release", resource) when { context.minuteOfDayUTC >= 0 };`), 0o644))
		d, err := e.Decide(ctx, releaseReq(releaseCtx()))
		require.NoError(t, err)
		assert.Equal(t, "deny: payment.window (closed)", d.String())
	})
}

func TestUndecidablePolicySets(t *testing.T) {
	permit := `@id("default-permit") permit (principal, action, resource);`
	tests := []struct {
		name    string
		files   map[string]string // nil: the directory does not exist
		wantMsg string
	}{
		{"no directory", nil, "list policy files"},
		{"empty directory", map[string]string{}, "no *.cedar files"},
		{"only other files", map[string]string{"org.yaml": "x: 1", "notes.cedar.bak": permit}, "no *.cedar files"},
		{"empty file", map[string]string{"a.cedar": ""}, "no permit policy"},
		{"forbids only", map[string]string{"a.cedar": `@id("f") forbid (principal, action, resource);`}, "no permit policy"},
		{"duplicate id across files", map[string]string{
			"a.cedar": permit,
			"b.cedar": "\n" + `@id("default-permit") permit (principal, action, resource);`,
		}, `policy id "default-permit" at a.cedar:1 and b.cedar:2`},
		{"lexer error", map[string]string{"a.cedar": permit + "\n\"unterminated"}, "a.cedar:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "policies")
			if tt.files != nil {
				require.NoError(t, os.Mkdir(dir, 0o755))
				for name, body := range tt.files {
					require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
				}
			}
			_, err := Open(DirSource(dir), fixedClock, nil)
			require.ErrorIs(t, err, ErrUndecidable)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestPolicyWithoutIDFallsBackToPosition(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.cedar"), []byte(
		"@id(\"default-permit\") permit (principal, action, resource);\n\nforbid (principal, action, resource);\n"), 0o644))
	e, err := Open(DirSource(dir), fixedClock, nil)
	require.NoError(t, err)
	d, err := e.Decide(context.Background(), releaseReq(nil))
	require.NoError(t, err)
	require.Len(t, d.Reasons, 1)
	assert.Equal(t, "policy1@a.cedar:3", d.Reasons[0].PolicyID)
}

func TestHashCoversNamesAndBytes(t *testing.T) {
	a := hashFiles([]policyFile{{"a.cedar", []byte("xy")}, {"b.cedar", []byte("z")}})
	tests := []struct {
		name  string
		files []policyFile
	}{
		{"content moved between files", []policyFile{{"a.cedar", []byte("x")}, {"b.cedar", []byte("yz")}}},
		{"renamed", []policyFile{{"a.cedar", []byte("xy")}, {"c.cedar", []byte("z")}}},
		{"byte changed", []policyFile{{"a.cedar", []byte("xy")}, {"b.cedar", []byte("Z")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NotEqual(t, a, hashFiles(tt.files))
		})
	}
	assert.Equal(t, a, hashFiles([]policyFile{{"a.cedar", []byte("xy")}, {"b.cedar", []byte("z")}}))
}

// TestConcurrentDecidesDuringEdits checks that a decision is always the
// verdict of the set its hash names, never a mix, while files change.
func TestConcurrentDecidesDuringEdits(t *testing.T) {
	dir := copyPolicies(t, false)
	e, err := Open(DirSource(dir), fixedClock, nil)
	require.NoError(t, err)
	path := filepath.Join(dir, "vendorpayment.cedar")
	open, err := os.ReadFile(path)
	require.NoError(t, err)
	lowered := bytes.ReplaceAll(open, []byte("500000"), []byte("300000"))

	var (
		mu      sync.Mutex
		verdict = map[string]bool{} // hash -> permit
		wg      sync.WaitGroup
		stop    = make(chan struct{})
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := e.Decide(context.Background(), releaseReq(releaseCtx()))
				if err != nil {
					// A half-written file may not parse: that must fail
					// closed, which is an error, never a decision.
					assert.ErrorIs(t, err, ErrUndecidable)
					continue
				}
				mu.Lock()
				if prev, ok := verdict[d.PolicySetHash]; ok {
					assert.Equal(t, prev, d.Permit, "hash %s decided both ways", d.PolicySetHash)
				}
				verdict[d.PolicySetHash] = d.Permit
				mu.Unlock()
			}
		})
	}
	for i := range 20 {
		data := open
		if i%2 == 0 {
			data = lowered
		}
		require.NoError(t, os.WriteFile(path, data, 0o644))
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
