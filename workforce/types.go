// Package workforce is the directory of people who do human tasks in the
// field (verify an identity, confirm a delivery): their skills, where they
// work, when they are available and how loaded they are; and the routing
// that picks who is offered a task, with the reasons recorded.
package workforce

import "time"

// Skill is a skill at a level from 1 (basic) to 5 (expert). In a
// Requirement, Level is the minimum.
type Skill struct {
	Name  string `json:"name"`
	Level int    `json:"level"`
}

// Window is a weekly availability window in the worker's time zone: on Days
// (1 = Monday .. 7 = Sunday), from Start to End ("08:00", "17:30"; End after
// Start, no overnight windows).
type Window struct {
	Days  []int  `json:"days"`
	Start string `json:"start"`
	End   string `json:"end"`
}

// Contact channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Worker is one person of the workforce.
type Worker struct {
	ID    string `json:"id"` // a-z, 0-9, '-', '_', '.'; also their sign-in id in the web app
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
	// Channel is how offers reach them: email or sms.
	Channel string  `json:"channel"`
	Skills  []Skill `json:"skills"`
	// Home location and the radius they serve around it.
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	RadiusKm float64 `json:"radiusKm"`
	// TimeZone is an IANA name ("Europe/Lisbon"); Availability is in it.
	TimeZone     string   `json:"timeZone"`
	Availability []Window `json:"availability"`
	// Load is the number of tasks they hold now; MaxLoad caps it.
	Load    int  `json:"load"`
	MaxLoad int  `json:"maxLoad"`
	Active  bool `json:"active"`
}

// Requirement is what a task needs of the person who does it.
type Requirement struct {
	Skills []Skill `json:"skills"`
	// The place of the work.
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// The work may happen between Start and End and takes Duration (0 =>
	// DefaultVisit, capped at End-Start): a person qualifies when free for
	// that long within the window.
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Duration time.Duration `json:"duration,omitempty"`
	// Exclude lists worker ids not to offer again (declined, timed out).
	Exclude []string `json:"exclude,omitempty"`
}

// Candidate is a person who passed every hard filter, with the score that
// ranked them (lower is better) and why.
type Candidate struct {
	WorkerID   string   `json:"workerId"`
	Name       string   `json:"name"`
	DistanceKm float64  `json:"distanceKm"`
	Load       int      `json:"load"`
	Score      float64  `json:"score"`
	Reasons    []string `json:"reasons"`
}

// Exclusion is a person a hard filter removed, and which one.
type Exclusion struct {
	WorkerID string `json:"workerId"`
	Reason   string `json:"reason"`
}

// Routing is the outcome of routing a requirement: candidates best first,
// and everyone excluded with the reason. Deterministic for the same input.
type Routing struct {
	Candidates []Candidate `json:"candidates"`
	Excluded   []Exclusion `json:"excluded,omitempty"`
}
