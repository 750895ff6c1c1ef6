package gate

import (
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testlog"
)

// decisionTime is the injected clock of every test: a Monday, 10:00 UTC.
var decisionTime = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return decisionTime }

const (
	testDigest = "sha256:1111"
	testTarget = "V-100/DE89370400440532013000"
)

// releaseCtx is the context of an admissible autonomous release of 4 000.00
// EUR: no approvals, nothing else released today, 10:00 UTC on a Monday.
func releaseCtx() map[string]any {
	return map[string]any{
		"amountMinor":              int64(400000),
		"currency":                 "EUR",
		"digest":                   testDigest,
		"target":                   testTarget,
		"approvalCount":            0,
		"approvedDigests":          []string{},
		"approvedTargets":          []string{},
		"approverRoles":            []string{},
		"oldestApprovalAgeSeconds": 0,
		"minuteOfDayUTC":           600,
		"weekdayUTC":               1,
		"vendorReleasedTodayMinor": int64(0),
		"requesterVerified":        true,
	}
}

// with returns releaseCtx with the given keys replaced.
func with(kv map[string]any) map[string]any {
	ctx := releaseCtx()
	maps.Copy(ctx, kv)
	return ctx
}

// approvedBy is the context of n valid approvals for exactly this payment by
// holders of roles, given one hour ago.
func approvedBy(n int, roles ...string) map[string]any {
	return map[string]any{
		"approvalCount":            n,
		"approvedDigests":          []string{testDigest},
		"approvedTargets":          []string{testTarget},
		"approverRoles":            roles,
		"oldestApprovalAgeSeconds": 3600,
	}
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func releaseReq(ctx map[string]any) Request {
	return Request{
		Principal: Entity{Type: "Agent", ID: "payables-bot"},
		Action:    "vendor_payment.release",
		Resource:  Entity{Type: "Target", ID: testTarget},
		Context:   ctx,
	}
}

// copyPolicies copies the repository's policy files into a fresh directory.
// With old set, their mtimes are moved an hour back so stat alone proves them
// unchanged (see racyWindow).
func copyPolicies(t testing.TB, old bool) string {
	t.Helper()
	dir := t.TempDir()
	names, err := filepath.Glob("../policy/*.cedar")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for _, n := range names {
		data, err := os.ReadFile(n)
		require.NoError(t, err)
		dst := filepath.Join(dir, filepath.Base(n))
		require.NoError(t, os.WriteFile(dst, data, 0o644))
		if old {
			past := time.Now().Add(-time.Hour)
			require.NoError(t, os.Chtimes(dst, past, past))
		}
	}
	return dir
}

// countingFS counts file reads, to tell a stat-only check from a re-read.
type countingFS struct {
	fsys  fs.FS
	reads atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) { return c.fsys.Open(name) }
func (c *countingFS) Stat(name string) (fs.FileInfo, error) {
	return fs.Stat(c.fsys, name)
}
func (c *countingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return fs.ReadDir(c.fsys, name)
}
func (c *countingFS) ReadFile(name string) ([]byte, error) {
	c.reads.Add(1)
	return fs.ReadFile(c.fsys, name)
}

func testLogger(b *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
