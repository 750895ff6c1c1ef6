package workforce

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tuesday is 3 March 2026, a Tuesday.
func tuesday(h, m int) time.Time { return time.Date(2026, 3, 3, h, m, 0, 0, time.UTC) }

func idVerification(level int, start, end time.Time) Requirement {
	return Requirement{Skills: []Skill{{Name: "id-verification", Level: level}}, Lat: LisbonLat, Lon: LisbonLon, Start: start, End: end}
}

func ids(cs []Candidate) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.WorkerID)
	}
	return out
}

func reasons(r Routing) map[string]string {
	out := map[string]string{}
	for _, e := range r.Excluded {
		out[e.WorkerID] = e.Reason
	}
	return out
}

func TestRouteDemoTuesdayMorning(t *testing.T) {
	r := Route(DemoWorkers(), idVerification(3, tuesday(10, 0), tuesday(11, 0)))

	// carla is the nearest but holds a task: 0.26 + 5 > ana's 1.65.
	assert.Equal(t, []Candidate{
		{WorkerID: "ana-field", Name: "Ana Ferreira", DistanceKm: 1.65, Load: 0, Score: 1.65,
			Reasons: []string{"has id-verification 4", "1.7 km away", "available", "load 0/3"}},
		{WorkerID: "carla-field", Name: "Carla Mendes", DistanceKm: 0.26, Load: 1, Score: 5.26,
			Reasons: []string{"has id-verification 5", "0.3 km away", "available", "load 1/3"}},
		{WorkerID: "bruno-field", Name: "Bruno Costa", DistanceKm: 22.76, Load: 1, Score: 27.76,
			Reasons: []string{"has id-verification 3", "22.8 km away", "available", "load 1/3"}},
	}, r.Candidates)
	assert.Equal(t, []Exclusion{
		{WorkerID: "dario-field", Reason: "lacks skill id-verification level 3 (has none)"},
		{WorkerID: "eva-field", Reason: "274.3 km away, serves 20 km"},
	}, r.Excluded)

	// Deterministic whatever the input order.
	shuffled := DemoWorkers()
	shuffled[0], shuffled[4] = shuffled[4], shuffled[0]
	shuffled[1], shuffled[3] = shuffled[3], shuffled[1]
	assert.Equal(t, r, Route(shuffled, idVerification(3, tuesday(10, 0), tuesday(11, 0))))
}

func TestRouteFilters(t *testing.T) {
	cases := []struct {
		name       string
		workers    func([]Worker) []Worker
		req        Requirement
		candidates []string
		excluded   map[string]string
	}{
		{
			name:       "Saturday: carla works weekdays only",
			req:        idVerification(3, time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 7, 11, 0, 0, 0, time.UTC)),
			candidates: []string{"ana-field", "bruno-field"},
			excluded: map[string]string{
				"carla-field": "not available Sat 10:00-11:00 UTC",
				"dario-field": "lacks skill id-verification level 3 (has none)",
				"eva-field":   "274.3 km away, serves 20 km",
			},
		},
		{
			name:       "the interval must fit the window: Tuesday 16:30-17:30",
			req:        idVerification(3, tuesday(16, 30), tuesday(17, 30)),
			candidates: []string{"ana-field", "bruno-field"},
			excluded: map[string]string{
				"carla-field": "not available Tue 16:30-17:30 UTC",
				"dario-field": "lacks skill id-verification level 3 (has none)",
				"eva-field":   "274.3 km away, serves 20 km",
			},
		},
		{
			name:       "up to the window's end is fine: Tuesday 16:00-17:00",
			req:        idVerification(3, tuesday(16, 0), tuesday(17, 0)),
			candidates: []string{"ana-field", "carla-field", "bruno-field"},
		},
		{
			name: "Exclude removes ana",
			req: func() Requirement {
				r := idVerification(3, tuesday(10, 0), tuesday(11, 0))
				r.Exclude = []string{"ana-field"}
				return r
			}(),
			candidates: []string{"carla-field", "bruno-field"},
			excluded:   map[string]string{"ana-field": "already offered"},
		},
		{
			name:       "level 4: bruno has 3",
			req:        idVerification(4, tuesday(10, 0), tuesday(11, 0)),
			candidates: []string{"ana-field", "carla-field"},
			excluded:   map[string]string{"bruno-field": "lacks skill id-verification level 4 (has 3)"},
		},
		{
			name: "at capacity",
			workers: func(ws []Worker) []Worker {
				ws[0].Load = 3 // ana
				return ws
			},
			req:        idVerification(3, tuesday(10, 0), tuesday(11, 0)),
			candidates: []string{"carla-field", "bruno-field"},
			excluded:   map[string]string{"ana-field": "at capacity 3/3"},
		},
		{
			name: "inactive",
			workers: func(ws []Worker) []Worker {
				ws[2].Active = false // carla
				return ws
			},
			req:        idVerification(3, tuesday(10, 0), tuesday(11, 0)),
			candidates: []string{"ana-field", "bruno-field"},
			excluded:   map[string]string{"carla-field": "inactive"},
		},
		{
			name: "too far for the radius",
			workers: func(ws []Worker) []Worker {
				ws[1].RadiusKm = 10 // bruno, 22.8 km away
				return ws
			},
			req:        idVerification(3, tuesday(10, 0), tuesday(11, 0)),
			candidates: []string{"ana-field", "carla-field"},
			excluded:   map[string]string{"bruno-field": "22.8 km away, serves 10 km"},
		},
		{
			name: "inactive comes before every other filter",
			workers: func(ws []Worker) []Worker {
				ws[4].Active = false // eva, also too far
				return ws
			},
			req:        idVerification(3, tuesday(10, 0), tuesday(11, 0)),
			candidates: []string{"ana-field", "carla-field", "bruno-field"},
			excluded:   map[string]string{"eva-field": "inactive"},
		},
		{
			name: "two skills: only ana has both",
			req: func() Requirement {
				r := idVerification(3, tuesday(10, 0), tuesday(11, 0))
				r.Skills = append(r.Skills, Skill{Name: "delivery", Level: 2})
				return r
			}(),
			candidates: []string{"ana-field"},
			excluded: map[string]string{
				"bruno-field": "lacks skill delivery level 2 (has none)",
				"carla-field": "lacks skill delivery level 2 (has none)",
			},
		},
		{
			name:       "an interval across midnight fits no window",
			req:        idVerification(3, tuesday(23, 30), tuesday(23, 30).Add(time.Hour)),
			candidates: []string{},
			excluded: map[string]string{
				"ana-field":   "not available Tue 23:30-Wed 00:30 UTC",
				"bruno-field": "not available Tue 23:30-Wed 00:30 UTC",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := DemoWorkers()
			if tc.workers != nil {
				ws = tc.workers(ws)
			}
			r := Route(ws, tc.req)
			assert.Equal(t, tc.candidates, ids(r.Candidates))
			got := reasons(r)
			for id, want := range tc.excluded {
				assert.Equal(t, want, got[id], id)
			}
			assert.Len(t, r.Candidates, len(ws)-len(r.Excluded), "every worker is a candidate or excluded")
		})
	}
}

// Availability is checked in the worker's own time zone.
func TestRouteTimeZone(t *testing.T) {
	w := DemoWorkers()[0] // ana, near the centre
	w.TimeZone = "Europe/Lisbon"
	w.Availability = []Window{{Days: []int{2}, Start: "09:00", End: "18:00"}}
	// 1 July 2025 is a Tuesday; Lisbon is UTC+1 in summer.
	summer := func(h int) time.Time { return time.Date(2025, 7, 1, h, 0, 0, 0, time.UTC) }

	r := Route([]Worker{w}, idVerification(3, summer(16), summer(17)))
	assert.Equal(t, []string{"ana-field"}, ids(r.Candidates), "17:00-18:00 Lisbon")

	r = Route([]Worker{w}, idVerification(3, summer(18), summer(19)))
	require.Len(t, r.Excluded, 1)
	assert.Equal(t, "not available Tue 19:00-20:00 Europe/Lisbon", r.Excluded[0].Reason)

	w.TimeZone = "Mars/Olympus"
	r = Route([]Worker{w}, idVerification(3, summer(10), summer(11)))
	require.Len(t, r.Excluded, 1)
	assert.Contains(t, r.Excluded[0].Reason, "time zone")
}

// A near idle person beats a nearer busy one; equal scores go by id.
func TestRouteScore(t *testing.T) {
	base := DemoWorkers()[0]
	near, idle, twin := base, base, base
	near.ID, near.Lat, near.Lon, near.Load = "near", LisbonLat, LisbonLon, 1
	idle.ID, idle.Load = "idle", 0
	twin.ID, twin.Load = "a-twin", 0
	r := Route([]Worker{near, idle, twin}, idVerification(3, tuesday(10, 0), tuesday(11, 0)))
	assert.Equal(t, []string{"a-twin", "idle", "near"}, ids(r.Candidates))
	assert.Equal(t, 5.0, r.Candidates[2].Score)
	assert.Empty(t, r.Excluded)

	empty := Route(nil, idVerification(3, tuesday(10, 0), tuesday(11, 0)))
	assert.NotNil(t, empty.Candidates, "candidates is [] in JSON, never null")
}

func TestDistanceKm(t *testing.T) {
	cases := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tolerance        float64
	}{
		{"same point", LisbonLat, LisbonLon, LisbonLat, LisbonLon, 0, 1e-9},
		{"Lisbon-Porto", LisbonLat, LisbonLon, 41.1579, -8.6291, 274, 2},
		{"one degree of latitude", 0, 0, 1, 0, 111.19, 0.05},
		{"one degree of longitude at the equator", 0, 0, 0, 1, 111.19, 0.05},
		{"London-Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.5, 1.5},
		{"antipodes", 0, 0, 0, 180, 20015, 5},
		{"symmetric", 41.1579, -8.6291, LisbonLat, LisbonLon, 274, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.InDelta(t, tc.want, DistanceKm(tc.lat1, tc.lon1, tc.lat2, tc.lon2), tc.tolerance)
		})
	}
}
