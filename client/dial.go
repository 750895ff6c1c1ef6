// Package client holds the process-independent helpers for services and
// tools that talk to ExecutionOrchestrator through Temporal: dial with
// Temporal's standard environment configuration, send an approval decision,
// list a person's pending approvals. Process-specific helpers (start a vendor
// payment, read its status) live with the process in processes/<name>.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/telemetry"
)

// Dial connects using Temporal's environment configuration (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and
// the temporal.toml profiles), so the same binary reaches a dev server, a
// self-hosted cluster or Temporal Cloud. Calls are traced with OpenTelemetry
// (see package telemetry; a no-op unless an exporter is configured).
func Dial(ctx context.Context, logger *slog.Logger, options ...DialOption) (tclient.Client, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("load Temporal client configuration: %w", err)
	}
	if logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(logger)
	}
	for _, o := range options {
		o(&opts)
	}
	tracing, err := telemetry.TemporalInterceptor(nil)
	if err != nil {
		return nil, err
	}
	opts.Interceptors = append(opts.Interceptors, tracing)
	c, err := tclient.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial Temporal at %q: %w", opts.HostPort, err)
	}
	return c, nil
}

// ErrInvalidInput marks input that can never succeed; callers (activities)
// turn it into a non-retryable error.
var ErrInvalidInput = errors.New("invalid input")

// DialOption adjusts the client options Dial builds.
type DialOption func(*tclient.Options)

// WithMetrics records the SDK's metrics, and those workflows and activities
// of a worker on this client record, with h (telemetry.Metrics.TemporalHandler).
func WithMetrics(h tclient.MetricsHandler) DialOption {
	return func(o *tclient.Options) { o.MetricsHandler = h }
}

// WithCodec encrypts every payload the client and a worker on it send
// (inputs, results, signals, updates, queries, memos, summaries) and the
// messages and stack traces of failures, with ring's active key, and
// decrypts with any of ring's keys (package codec). Payloads written
// without encryption still decode.
func WithCodec(ring *codec.Keyring) DialOption {
	return func(o *tclient.Options) {
		dc := codec.DataConverter(ring)
		o.DataConverter, o.FailureConverter = dc, codec.FailureConverter(dc)
	}
}
