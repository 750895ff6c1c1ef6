// Package connectortest is the sandbox setup the connector tests share.
package connectortest

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/sandbox/sandboxtest"
)

// Day0 is the fixed time the test sandbox runs at.
func Day0() time.Time { return time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC) }

// Quiet returns a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Start starts a seeded sandbox at Day0 with faults; its fault dice always
// roll 0, so any ErrorRate > 0 fires on every call. mutate, if not nil,
// adjusts the rest of the config.
func Start(t testing.TB, faults map[string]sandbox.Fault, mutate func(*sandbox.Config)) *sandbox.Server {
	t.Helper()
	return sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Now = Day0
		c.Rand = func() float64 { return 0 }
		c.Faults = faults
		if mutate != nil {
			mutate(c)
		}
	})
}
