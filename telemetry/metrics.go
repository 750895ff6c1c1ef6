package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
)

// MeterName is the instrumentation scope of every metric we and the
// Temporal SDK record through a Metrics.
const MeterName = "execution-orchestrator"

// Approval waits are minutes to days, not the SDK's milliseconds, so the
// time-to-approval histogram has buckets of its own (seconds).
var (
	approvalBuckets = []float64{30, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600}
	latencyBuckets  = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// ApprovalTimerName is the histogram the approval wait records (seconds);
// named here because its buckets are chosen here.
const ApprovalTimerName = "eo_time_to_approval"

// Metrics is one OpenTelemetry metrics pipeline exported for Prometheus:
// a MeterProvider with its own registry (never the Prometheus default one,
// so two in a process, as in tests, do not collide). The Temporal client
// gets TemporalHandler as its MetricsHandler; the SDK's own metrics and
// ours (recorded through workflow.GetMetricsHandler and
// activity.GetMetricsHandler) then share it.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	handler  tclient.MetricsHandler
}

// NewMetrics builds the pipeline. Instrument errors are logged, never
// fatal: a metric must not stop a payment.
func NewMetrics(logger *slog.Logger) (*Metrics, error) {
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	// Process and Go runtime figures, as any Go service exposes them.
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register process collector: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	provider := NewMeterProvider(sdkmetric.WithReader(exp))
	return &Metrics{
		provider: provider,
		registry: reg,
		handler:  TemporalMetricsHandler(provider.Meter(MeterName), logger),
	}, nil
}

// NewMeterProvider is a MeterProvider with our histogram buckets; tests
// pass a ManualReader to read what was recorded.
func NewMeterProvider(opts ...sdkmetric.Option) *sdkmetric.MeterProvider {
	views := []sdkmetric.View{
		sdkmetric.NewView(sdkmetric.Instrument{Name: ApprovalTimerName},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: approvalBuckets}}),
		sdkmetric.NewView(sdkmetric.Instrument{Name: "temporal_*", Kind: sdkmetric.InstrumentKindHistogram},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}}),
	}
	return sdkmetric.NewMeterProvider(append(opts, sdkmetric.WithView(views...))...)
}

// TemporalMetricsHandler adapts meter to the Temporal SDK's MetricsHandler.
// Counters are monotonic, so Prometheus sees counters (with _total), not
// gauges.
func TemporalMetricsHandler(meter metric.Meter, logger *slog.Logger) tclient.MetricsHandler {
	return opentelemetry.NewMetricsHandler(opentelemetry.MetricsHandlerOptions{
		Meter:                meter,
		UseMonotonicCounters: true,
		OnError: func(err error) {
			logger.Warn("metric instrument", "error", err)
		},
	})
}

// TemporalHandler is the client option MetricsHandler for every client a
// worker serving these metrics uses.
func (m *Metrics) TemporalHandler() tclient.MetricsHandler { return m.handler }

// Handler serves the Prometheus text exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if err := m.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down meter provider: %w", err)
	}
	return nil
}

// MetricsServer serves /metrics on its own listener, apart from the web app:
// scraping needs no sign-in, and approvals must not be reachable where
// Prometheus is.
type MetricsServer struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen binds addr ("127.0.0.1:0" picks a free port) now, so a taken
// port fails the start instead of a background goroutine later.
func (m *Metrics) Listen(addr string, logger *slog.Logger) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return &MetricsServer{ln: ln, log: logger, srv: &http.Server{
		Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
	}}, nil
}

// Addr is the address the server listens on.
func (s *MetricsServer) Addr() string { return s.ln.Addr().String() }

// Serve serves until Close, in the background.
func (s *MetricsServer) Serve() {
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "addr", s.Addr(), "error", err)
		}
	}()
}

// Close stops serving (and releases a listener never served).
func (s *MetricsServer) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	_ = s.ln.Close()
	if err != nil {
		return fmt.Errorf("stop metrics server: %w", err)
	}
	return nil
}
