// Package metricstest reads what code recorded through a Temporal
// MetricsHandler, for tests: the handler is the one the worker uses
// (telemetry.TemporalMetricsHandler), backed by an OpenTelemetry
// ManualReader instead of the Prometheus exporter.
package metricstest

import (
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/telemetry"
)

// Recorder holds a handler and reads back what went through it.
type Recorder struct {
	reader  *sdkmetric.ManualReader
	handler tclient.MetricsHandler
}

// New returns a Recorder; pass Handler() to the code or test suite
// (testsuite.WorkflowTestSuite.SetMetricsHandler).
func New(t testing.TB) *Recorder {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := telemetry.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	return &Recorder{reader: reader, handler: telemetry.TemporalMetricsHandler(provider.Meter(telemetry.MeterName), slog.Default())}
}

// Handler is where code records.
func (r *Recorder) Handler() tclient.MetricsHandler { return r.handler }

// Counter sums counter name over the series whose labels include labels.
func (r *Recorder) Counter(t testing.TB, name string, labels map[string]string) int64 {
	t.Helper()
	var sum int64
	for _, m := range r.collect(t, name) {
		data, ok := m.Data.(metricdata.Sum[int64])
		if !ok {
			t.Fatalf("%s is %T, not an int64 counter", name, m.Data)
		}
		for _, dp := range data.DataPoints {
			if matches(dp.Attributes, labels) {
				sum += dp.Value
			}
		}
	}
	return sum
}

// Histogram returns the count and sum of histogram name over the series
// whose labels include labels.
func (r *Recorder) Histogram(t testing.TB, name string, labels map[string]string) (count uint64, sum float64) {
	t.Helper()
	for _, m := range r.collect(t, name) {
		data, ok := m.Data.(metricdata.Histogram[float64])
		if !ok {
			t.Fatalf("%s is %T, not a float64 histogram", name, m.Data)
		}
		for _, dp := range data.DataPoints {
			if matches(dp.Attributes, labels) {
				count += dp.Count
				sum += dp.Sum
			}
		}
	}
	return count, sum
}

// Labels lists the label sets recorded for name, to check cardinality.
func (r *Recorder) Labels(t testing.TB, name string) []map[string]string {
	t.Helper()
	var out []map[string]string
	add := func(set attribute.Set) {
		m := map[string]string{}
		for _, kv := range set.ToSlice() {
			m[string(kv.Key)] = kv.Value.Emit()
		}
		out = append(out, m)
	}
	for _, m := range r.collect(t, name) {
		switch data := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range data.DataPoints {
				add(dp.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, dp := range data.DataPoints {
				add(dp.Attributes)
			}
		}
	}
	return out
}

func (r *Recorder) collect(t testing.TB, name string) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				out = append(out, m)
			}
		}
	}
	return out
}

func matches(set attribute.Set, labels map[string]string) bool {
	for k, v := range labels {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.Emit() != v {
			return false
		}
	}
	return true
}
