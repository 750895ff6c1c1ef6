package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// What goes through the Temporal handler reaches /metrics in Prometheus
// names: counters with _total, timers in seconds with our buckets.
func TestMetricsServePrometheus(t *testing.T) {
	m, err := NewMetrics(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	srv, err := m.Listen("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() { _ = srv.Close(context.Background()) })

	h := m.TemporalHandler()
	h.WithTags(map[string]string{"process": "p"}).Counter("eo_things").Inc(2)
	h.Timer(ApprovalTimerName).Record(90 * time.Minute)
	h.Timer("temporal_some_latency").Record(20 * time.Millisecond)

	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	tests := []struct{ name, want string }{
		{"counter with _total and its label", `eo_things_total{process="p"} 2`},
		{"counter type", `# TYPE eo_things_total counter`},
		{"approval wait in seconds, our buckets", `eo_time_to_approval_seconds_bucket{le="3600"} 0`},
		{"approval wait counted in its bucket", `eo_time_to_approval_seconds_bucket{le="7200"} 1`},
		{"SDK latency in sub-second buckets", `temporal_some_latency_seconds_bucket{le="0.025"} 1`},
		{"Go runtime", `go_goroutines `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("/metrics lacks %q:\n%s", tc.want, grep(string(body), "eo_", "temporal_"))
			}
		})
	}
}

// A metrics address that is taken fails at once, naming it.
func TestMetricsListenTaken(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Listen("127.0.0.1:0", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(context.Background())
	if _, err := m.Listen(first.Addr(), slog.Default()); err == nil || !strings.Contains(err.Error(), first.Addr()) {
		t.Fatalf("second Listen on %s: err = %v, want one naming the address", first.Addr(), err)
	}
}

func grep(s string, prefixes ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}
