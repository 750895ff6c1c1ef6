package workforce

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// LoadPenaltyKm is what each task a person already holds adds to their
// score, in kilometres. Score = distance + LoadPenaltyKm × load: an idle
// person a few kilometres further away beats a busy one next door, because
// a busy person's new task waits behind the ones they hold (and spreading
// work keeps anyone from being overloaded), while a few extra kilometres in
// town cost minutes. Five km per task means a task held is worth about a
// quarter of an hour of city driving.
const LoadPenaltyKm = 5

// earthRadiusKm is the mean Earth radius (IUGG).
const earthRadiusKm = 6371.0088

// DistanceKm is the great-circle (haversine) distance between two points
// given in decimal degrees, in kilometres.
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	dLat, dLon := rad(lat2-lat1), rad(lon2-lon1)
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(lat1))*math.Cos(rad(lat2))*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// Route picks who may be offered a task needing req. It is pure and
// deterministic: the same workers and requirement give the same Routing,
// so a workflow can record it and a reviewer can recompute it.
//
// Hard filters, in this order, each removing a worker with a reason:
// inactive; in req.Exclude (already offered); lacking a required skill or
// its level; the place farther from home than the radius they serve; not
// available for the whole of [req.Start, req.End] in their time zone (the
// interval must lie within one availability window on one local day); at
// or over MaxLoad. Those left are candidates, ranked by Score =
// distance km + LoadPenaltyKm × load (lower first, ties by id). Excluded
// workers are listed by id. Distances and scores are rounded to 10 m.
func Route(workers []Worker, req Requirement) Routing {
	out := Routing{Candidates: []Candidate{}}
	zones := map[string]*time.Location{}
	for _, w := range workers {
		c, reason := consider(w, req, zones)
		if reason != "" {
			out.Excluded = append(out.Excluded, Exclusion{WorkerID: w.ID, Reason: reason})
			continue
		}
		out.Candidates = append(out.Candidates, c)
	}
	slices.SortStableFunc(out.Candidates, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.Score, b.Score), cmp.Compare(a.WorkerID, b.WorkerID))
	})
	slices.SortStableFunc(out.Excluded, func(a, b Exclusion) int { return cmp.Compare(a.WorkerID, b.WorkerID) })
	return out
}

// consider runs the hard filters on w: a candidate, or the reason it is
// excluded.
func consider(w Worker, req Requirement, zones map[string]*time.Location) (Candidate, string) {
	if !w.Active {
		return Candidate{}, "inactive"
	}
	if slices.Contains(req.Exclude, w.ID) {
		return Candidate{}, "already offered"
	}
	var reasons []string
	for _, need := range req.Skills {
		i := slices.IndexFunc(w.Skills, func(s Skill) bool { return s.Name == need.Name })
		switch {
		case i < 0:
			return Candidate{}, fmt.Sprintf("lacks skill %s level %d (has none)", need.Name, need.Level)
		case w.Skills[i].Level < need.Level:
			return Candidate{}, fmt.Sprintf("lacks skill %s level %d (has %d)", need.Name, need.Level, w.Skills[i].Level)
		}
		reasons = append(reasons, fmt.Sprintf("has %s %d", need.Name, w.Skills[i].Level))
	}
	dist := DistanceKm(w.Lat, w.Lon, req.Lat, req.Lon)
	if !(dist <= w.RadiusKm) { // NaN (a worker never validated) is out too
		return Candidate{}, fmt.Sprintf("%s km away, serves %s km", km(dist), strconv.FormatFloat(w.RadiusKm, 'f', -1, 64))
	}
	reasons = append(reasons, km(dist)+" km away")
	if reason := unavailable(w, req.Start, req.End, req.Duration, zones); reason != "" {
		return Candidate{}, reason
	}
	reasons = append(reasons, "available")
	if w.Load >= w.MaxLoad {
		return Candidate{}, fmt.Sprintf("at capacity %d/%d", w.Load, w.MaxLoad)
	}
	reasons = append(reasons, fmt.Sprintf("load %d/%d", w.Load, w.MaxLoad))
	d := round2(dist)
	return Candidate{
		WorkerID:   w.ID,
		Name:       w.Name,
		DistanceKm: d,
		Load:       w.Load,
		Score:      round2(d + LoadPenaltyKm*float64(w.Load)),
		Reasons:    reasons,
	}, ""
}

// DefaultVisit is how long a visit takes when a Requirement names no
// Duration.
const DefaultVisit = time.Hour

// unavailable is "" when one of w's windows overlaps [start, end] for at
// least the visit's length (or the whole of [start, end] when it is
// shorter), else the reason. [start, end] is when the work may happen, not
// how long it takes: a day-long window needs someone free for an hour of it.
func unavailable(w Worker, start, end time.Time, need time.Duration, zones map[string]*time.Location) string {
	loc, ok := zones[w.TimeZone]
	if !ok {
		// "" and "Local" would load as UTC and the host's zone: refused
		// here as Validate refuses them.
		if w.TimeZone != "" && w.TimeZone != "Local" {
			if l, err := time.LoadLocation(w.TimeZone); err == nil {
				loc = l
			}
		}
		zones[w.TimeZone] = loc
	}
	if loc == nil {
		return fmt.Sprintf("time zone %q is unknown", w.TimeZone)
	}
	ls, le := start.In(loc), end.In(loc)
	notAvailable := func() string {
		span := ls.Format("Mon 15:04") + "-" + le.Format("15:04")
		if !sameDay(ls, le) {
			span = ls.Format("Mon 15:04") + "-" + le.Format("Mon 15:04")
		}
		return "not available " + span + " " + w.TimeZone
	}
	if !end.After(start) {
		return notAvailable()
	}
	if need <= 0 {
		need = DefaultVisit
	}
	need = min(need, end.Sub(start))
	// Each local day the window touches (bounded: a fortnight at most).
	day0 := time.Date(ls.Year(), ls.Month(), ls.Day(), 0, 0, 0, 0, loc)
	for d := 0; d < 15; d++ {
		midnight := day0.AddDate(0, 0, d)
		if midnight.After(le) {
			break
		}
		wd := int(midnight.Weekday())
		if wd == 0 {
			wd = 7 // Sunday
		}
		for _, win := range w.Availability {
			ws, ok1 := clockSeconds(win.Start)
			we, ok2 := clockSeconds(win.End)
			if !ok1 || !ok2 || !slices.Contains(win.Days, wd) {
				continue
			}
			// Wall-clock times of that day, so a DST change is honoured.
			from := time.Date(midnight.Year(), midnight.Month(), midnight.Day(), ws/3600, ws%3600/60, ws%60, 0, loc)
			to := time.Date(midnight.Year(), midnight.Month(), midnight.Day(), we/3600, we%3600/60, we%60, 0, loc)
			lo, hi := maxTime(from, start), minTime(to, end)
			if hi.Sub(lo) >= need {
				return ""
			}
		}
	}
	return notAvailable()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// secondOfDay counts from local midnight by the wall clock, so a DST change
// earlier that day does not shift it.
func secondOfDay(t time.Time) int { return t.Hour()*3600 + t.Minute()*60 + t.Second() }

// km formats kilometres with one decimal, as reasons show them.
func km(v float64) string { return fmt.Sprintf("%.1f", v) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }
