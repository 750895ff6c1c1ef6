package workforce

import (
	"slices"
	"testing"
	"time"
)

// The requirement's window is when the work may happen: someone free for
// the visit's length within it qualifies, even across midnight.
func TestRouteWindowNeedsTheVisitNotTheWholeWindow(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ids := func(rt Routing) []string {
		var out []string
		for _, c := range rt.Candidates {
			out = append(out, c.WorkerID)
		}
		return out
	}
	tests := []struct {
		name       string
		start, end string
		duration   time.Duration
		carla      bool // carla works Mon-Fri 09:00-17:00
	}{
		{"a day from Tuesday 06:00 holds her office hours", "2026-11-24T06:00:00Z", "2026-11-25T06:00:00Z", 0, true},
		{"a weekend window does not", "2026-11-28T10:00:00Z", "2026-11-29T10:00:00Z", 0, false},
		{"Tuesday 16:30-18:00 leaves her half an hour, not an hour", "2026-11-24T16:30:00Z", "2026-11-24T18:00:00Z", 0, false},
		{"a 20-minute visit fits in that half hour", "2026-11-24T16:30:00Z", "2026-11-24T18:00:00Z", 20 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := Route(DemoWorkers(), Requirement{Skills: []Skill{{Name: "id-verification", Level: 3}}, Lat: LisbonLat, Lon: LisbonLon,
				Start: at(tt.start), End: at(tt.end), Duration: tt.duration})
			if got := slices.Contains(ids(rt), "carla-field"); got != tt.carla {
				t.Fatalf("carla a candidate = %v, want %v (candidates %v, excluded %+v)", got, tt.carla, ids(rt), rt.Excluded)
			}
			if !slices.Contains(ids(rt), "ana-field") {
				t.Fatalf("ana (always available) missing: %v", ids(rt))
			}
		})
	}
	// Across midnight, an always-available worker qualifies.
	rt := Route(DemoWorkers(), Requirement{Skills: []Skill{{Name: "id-verification", Level: 3}}, Lat: LisbonLat, Lon: LisbonLon,
		Start: at("2026-11-24T23:30:00Z"), End: at("2026-11-25T02:00:00Z")})
	if !slices.Contains(ids(rt), "ana-field") {
		t.Fatalf("across midnight: %v, excluded %+v", ids(rt), rt.Excluded)
	}
}
