package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // rotations compute the same on every host, tzdata installed or not
)

// Teams, on-call rotations and escalation chains (the teams: block of
// org.yaml, docs/teams.md). Everything here is a pure function of the
// directory and the instant asked about: no clock is read, so a workflow may
// call it with workflow.Now and replay to the same answer.

// chatRE is the shape of a chat handle: "@" and 2-32 of a-z, 0-9, '.', '_', '-'.
var chatRE = regexp.MustCompile(`^@[a-z0-9][a-z0-9._-]{1,31}$`)

// clockRE is a local wall-clock time "HH:MM".
var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// Step kinds of an escalation chain.
const (
	StepOnCall = "on-call" // the team's current on-call person
	StepRole   = "role"    // a holder of a role (team members first)
	StepPerson = "person"  // a named person
)

// Team is one team of the directory.
type Team struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
	// Lead is the team's lead (optional); not necessarily a member.
	Lead string `json:"lead,omitempty"`
	// Rotation is the on-call schedule; nil when the team has none.
	Rotation *Rotation `json:"rotation,omitempty"`
	// Chain is the escalation chain, walked in order on an SLA breach.
	Chain []ChainRule `json:"chain"`
}

// Rotation is a validated on-call schedule. Shift k (k = 0, 1, ...) begins
// on the local date Start + k×Every at Handoff in TimeZone, and belongs to
// Order[k mod len(Order)]. Shifts change at the same wall-clock time all year,
// so a shift spanning a DST change is an hour shorter or longer.
type Rotation struct {
	TimeZone string `json:"timeZone"`
	// Handoff is the local time shifts change, "HH:MM".
	Handoff string `json:"handoff"`
	// Every is the shift length in whole days: 24h daily, 168h weekly.
	Every time.Duration `json:"every"`
	// Start is the local date ("2006-01-02") Order[0]'s first shift began.
	Start     string     `json:"start"`
	Order     []string   `json:"order"`
	Overrides []Override `json:"overrides,omitempty"`

	// calc is the parsed schedule, set by the loader; a Rotation decoded
	// from JSON parses its fields again on first use.
	calc *rotCalc
}

// rotCalc is a rotation's schedule parsed for arithmetic.
type rotCalc struct {
	loc          *time.Location
	start        time.Time // Start at 00:00 UTC: civil-date arithmetic only
	hour, minute int
	days         int
}

// Override puts Person on call from From (inclusive) until Until
// (exclusive), whatever the rotation says: a swap or a holiday cover.
// Overrides of a rotation never overlap.
type Override struct {
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
	Person string    `json:"person"`
	Reason string    `json:"reason,omitempty"`
}

// ChainRule is one step of a team's escalation chain as written: exactly
// one of OnCall, Role or Person. After is how long after the escalation
// began (the SLA breach) this step is reached; it increases along the chain.
type ChainRule struct {
	OnCall bool          `json:"onCall,omitempty"`
	Role   string        `json:"role,omitempty"`
	Person string        `json:"person,omitempty"`
	After  time.Duration `json:"after"`
}

// Kind is StepOnCall, StepRole or StepPerson.
func (c ChainRule) Kind() string {
	switch {
	case c.OnCall:
		return StepOnCall
	case c.Role != "":
		return StepRole
	default:
		return StepPerson
	}
}

// ChainStep is a chain rule resolved to the person to reach at an instant.
type ChainStep struct {
	// Step is the rule's index in the team's chain.
	Step int    `json:"step"`
	Kind string `json:"kind"`
	// Role is set for StepRole.
	Role   string        `json:"role,omitempty"`
	Person Person        `json:"person"`
	After  time.Duration `json:"after"`
	// Reason says why this person: the rotation shift, an override, an
	// absence and who stands in.
	Reason string `json:"reason"`
}

// Shift is who is on call for a team from From until Until: the person does
// not change inside the interval, and may change at Until (a handoff or an
// override starting or ending), so a workflow can sleep until Until.
type Shift struct {
	Team   string    `json:"team"`
	Person Person    `json:"person"`
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
	// Scheduled is whom the rotation names for the shift; it differs from
	// Person.ID under an override or when Scheduled is absent.
	Scheduled string `json:"scheduled"`
	Override  bool   `json:"override,omitempty"`
	Reason    string `json:"reason"`
}

// File layout of a team.
type fileTeam struct {
	Name     string          `yaml:"name"`
	Members  []string        `yaml:"members"`
	Lead     string          `yaml:"lead"`
	Rotation *fileRotation   `yaml:"rotation"`
	Chain    []fileChainRule `yaml:"chain"`
}

type fileRotation struct {
	TimeZone  string         `yaml:"timeZone"`
	Handoff   string         `yaml:"handoff"`
	Every     string         `yaml:"every"`
	Start     string         `yaml:"start"`
	Order     []string       `yaml:"order"`
	Overrides []fileOverride `yaml:"overrides"`
}

type fileOverride struct {
	From   string `yaml:"from"`
	Until  string `yaml:"until"`
	Person string `yaml:"person"`
	Reason string `yaml:"reason"`
}

type fileChainRule struct {
	OnCall bool   `yaml:"onCall"`
	Role   string `yaml:"role"`
	Person string `yaml:"person"`
	After  string `yaml:"after"`
}

// validChat reports whether handle is a well-formed chat handle.
func validChat(handle string) bool { return chatRE.MatchString(handle) }

// buildTeams validates the teams block against the people; problems go to
// fail, naming the key ("teams.engineering.rotation.order[1]: ...").
func buildTeams(in map[string]fileTeam, people []filePerson, index map[string]int, roles map[string]bool, fail func(format string, args ...any)) map[string]Team {
	out := map[string]Team{}
	ids := make([]string, 0, len(in))
	for id := range in {
		ids = append(ids, id)
	}
	slices.Sort(ids) // errors in a stable order
	known := func(id string) bool { _, ok := index[id]; return ok }
	for _, id := range ids {
		ft := in[id]
		key := "teams." + id
		if !isID(id) {
			fail("%s: team id %q may contain only a-z, 0-9, '-', '_' and '.'", key, id)
		}
		t := Team{ID: id, Name: strings.TrimSpace(ft.Name), Members: slices.Clone(ft.Members), Lead: ft.Lead}
		if t.Name == "" {
			fail("%s.name: required", key)
		}
		if len(ft.Members) == 0 {
			fail("%s.members: at least one member is required", key)
		}
		for i, m := range ft.Members {
			switch {
			case !known(m):
				fail("%s.members[%d]: unknown person %q", key, i, m)
			case slices.Index(ft.Members, m) != i:
				fail("%s.members[%d]: %q listed twice", key, i, m)
			}
		}
		if ft.Lead != "" && !known(ft.Lead) {
			fail("%s.lead: unknown person %q", key, ft.Lead)
		}
		if ft.Rotation != nil {
			t.Rotation = buildRotation(key+".rotation", *ft.Rotation, ft.Members, people, index, fail)
		}
		if len(ft.Chain) == 0 {
			fail("%s.chain: at least one step is required", key)
		}
		for i, fc := range ft.Chain {
			k := fmt.Sprintf("%s.chain[%d]", key, i)
			c := ChainRule{OnCall: fc.OnCall, Role: fc.Role, Person: fc.Person}
			n := 0
			for _, set := range []bool{fc.OnCall, fc.Role != "", fc.Person != ""} {
				if set {
					n++
				}
			}
			switch {
			case n != 1:
				fail("%s: exactly one of onCall, role or person is required", k)
			case fc.OnCall && ft.Rotation == nil:
				fail("%s.onCall: the team has no rotation", k)
			case fc.Role != "" && !roles[fc.Role]:
				fail("%s.role: unknown role %q (no person holds it)", k, fc.Role)
			case fc.Person != "" && !known(fc.Person):
				fail("%s.person: unknown person %q", k, fc.Person)
			}
			v, err := parseDuration(fc.After)
			if err != nil {
				fail("%s.after: %v", k, err)
			} else if i > 0 && v <= t.Chain[i-1].After {
				fail("%s.after: %s must be later than chain[%d].after %s", k, v, i-1, t.Chain[i-1].After)
			}
			c.After = v
			t.Chain = append(t.Chain, c)
		}
		out[id] = t
	}
	return out
}

func buildRotation(key string, fr fileRotation, members []string, people []filePerson, index map[string]int, fail func(format string, args ...any)) *Rotation {
	r := &Rotation{TimeZone: fr.TimeZone, Handoff: fr.Handoff, Start: fr.Start, Order: slices.Clone(fr.Order)}
	c := &rotCalc{}
	r.calc = c
	switch {
	case fr.TimeZone == "":
		fail("%s.timeZone: required: an IANA time zone such as Europe/Lisbon or UTC", key)
	case fr.TimeZone == "Local":
		fail(`%s.timeZone: "Local" depends on the host; name the zone, e.g. Europe/Lisbon`, key)
	default:
		loc, err := time.LoadLocation(fr.TimeZone)
		if err != nil {
			fail("%s.timeZone: %q is not an IANA time zone (e.g. Europe/Lisbon, UTC)", key, fr.TimeZone)
		}
		c.loc = loc
	}
	if !clockRE.MatchString(fr.Handoff) {
		fail(`%s.handoff: %q is not a local time like "09:00"`, key, fr.Handoff)
	} else {
		c.hour, c.minute = clock(fr.Handoff)
	}
	every, err := parseDuration(fr.Every)
	switch {
	case err != nil:
		fail("%s.every: %v", key, err)
	case every <= 0:
		fail(`%s.every: must be positive: a whole number of days ("24h" daily, "168h" weekly)`, key)
	case every%(24*time.Hour) != 0:
		fail(`%s.every: %s is not a whole number of days ("24h" daily, "168h" weekly)`, key, every)
	}
	r.Every = every
	c.days = int(every / (24 * time.Hour))
	if d, err := time.Parse(time.DateOnly, fr.Start); err != nil {
		fail(`%s.start: %q is not a date like "2026-01-05"`, key, fr.Start)
	} else {
		c.start = d
	}
	if len(fr.Order) == 0 {
		fail("%s.order: at least one person is required", key)
	}
	allAbsent := len(fr.Order) > 0
	for i, p := range fr.Order {
		j, known := index[p]
		switch {
		case !known:
			fail("%s.order[%d]: unknown person %q", key, i, p)
			allAbsent = false
		case !slices.Contains(members, p):
			fail("%s.order[%d]: %q is not a member of the team", key, i, p)
		}
		if known && !people[j].Absent {
			allAbsent = false
		}
	}
	if allAbsent {
		fail("%s.order: everyone in the rotation is absent; nobody could be on call", key)
	}
	for i, fo := range fr.Overrides {
		k := fmt.Sprintf("%s.overrides[%d]", key, i)
		o := Override{Person: fo.Person, Reason: strings.TrimSpace(fo.Reason)}
		from, err1 := time.Parse(time.RFC3339, fo.From)
		if err1 != nil {
			fail(`%s.from: %q is not an RFC 3339 time like "2026-03-02T09:00:00Z"`, k, fo.From)
		}
		until, err2 := time.Parse(time.RFC3339, fo.Until)
		if err2 != nil {
			fail(`%s.until: %q is not an RFC 3339 time like "2026-03-02T09:00:00Z"`, k, fo.Until)
		}
		if _, known := index[fo.Person]; !known {
			fail("%s.person: unknown person %q", k, fo.Person)
		}
		o.From, o.Until = from.UTC(), until.UTC()
		if err1 == nil && err2 == nil {
			if !until.After(from) {
				fail("%s.until: must be after from (%s)", k, fo.From)
			} else {
				for j, prev := range r.Overrides {
					if !prev.From.IsZero() && !prev.Until.IsZero() && o.From.Before(prev.Until) && prev.From.Before(o.Until) {
						fail("%s: overlaps overrides[%d]", k, j)
					}
				}
			}
		}
		r.Overrides = append(r.Overrides, o)
	}
	return r
}

// clock splits a validated "HH:MM".
func clock(s string) (hour, minute int) {
	return int(s[0]-'0')*10 + int(s[1]-'0'), int(s[3]-'0')*10 + int(s[4]-'0')
}

// schedule returns the parsed schedule, parsing the exported fields when the
// rotation did not come from the loader (e.g. decoded from JSON).
func (r Rotation) schedule() (*rotCalc, error) {
	if r.calc != nil {
		return r.calc, nil
	}
	c := &rotCalc{}
	var err error
	if r.TimeZone == "" || r.TimeZone == "Local" {
		return nil, fmt.Errorf("rotation: timeZone %q: name an IANA zone", r.TimeZone)
	}
	if c.loc, err = time.LoadLocation(r.TimeZone); err != nil {
		return nil, fmt.Errorf("rotation: timeZone %q: %w", r.TimeZone, err)
	}
	if !clockRE.MatchString(r.Handoff) {
		return nil, fmt.Errorf("rotation: handoff %q is not a local time like \"09:00\"", r.Handoff)
	}
	c.hour, c.minute = clock(r.Handoff)
	if r.Every <= 0 || r.Every%(24*time.Hour) != 0 {
		return nil, fmt.Errorf("rotation: every %s is not a positive whole number of days", r.Every)
	}
	c.days = int(r.Every / (24 * time.Hour))
	if c.start, err = time.Parse(time.DateOnly, r.Start); err != nil {
		return nil, fmt.Errorf("rotation: start %q is not a date like \"2026-01-05\"", r.Start)
	}
	if len(r.Order) == 0 {
		return nil, errors.New("rotation: order is empty")
	}
	return c, nil
}

// shiftStart is when shift k begins: the local date start + k×days at the
// handoff time. time.Date normalises the day and resolves a handoff inside
// a DST gap or overlap.
func (c *rotCalc) shiftStart(k int) time.Time {
	y, m, d := c.start.Date()
	return time.Date(y, m, d+k*c.days, c.hour, c.minute, 0, 0, c.loc)
}

// RotationSlot is one shift of a rotation as scheduled, before overrides
// and absences: shift Index, the person Order names for it, and its bounds
// [From, Until) in UTC.
type RotationSlot struct {
	Index  int       `json:"index"`
	Person string    `json:"person"`
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
}

// SlotAt returns the scheduled shift at t, ignoring overrides and absences
// (Directory.Shift applies them). It is pure; it fails before the first
// shift and for a hand-built rotation with invalid fields.
func (r Rotation) SlotAt(t time.Time) (RotationSlot, error) {
	c, err := r.schedule()
	if err != nil {
		return RotationSlot{}, err
	}
	if first := c.shiftStart(0); t.Before(first) {
		return RotationSlot{}, fmt.Errorf("the rotation starts at %s, after %s", first.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	// Estimate from the civil date in the zone, then settle on the exact
	// boundaries shiftStart gives.
	y, m, d := t.In(c.loc).Date()
	day := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(c.start) / (24 * time.Hour))
	k := day / c.days
	for k > 0 && t.Before(c.shiftStart(k)) {
		k--
	}
	for !t.Before(c.shiftStart(k + 1)) {
		k++
	}
	return RotationSlot{Index: k, Person: r.Order[k%len(r.Order)], From: c.shiftStart(k).UTC(), Until: c.shiftStart(k + 1).UTC()}, nil
}

// Teams returns every team, sorted by id.
func (d *Directory) Teams() []Team {
	ids := make([]string, 0, len(d.teams))
	for id := range d.teams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Team, len(ids))
	for i, id := range ids {
		out[i], _ = d.Team(id)
	}
	return out
}

// Team looks a team up by id. The result is a copy.
func (d *Directory) Team(id string) (Team, bool) {
	t, ok := d.teams[id]
	if !ok {
		return Team{}, false
	}
	t.Members = slices.Clone(t.Members)
	t.Chain = slices.Clone(t.Chain)
	if t.Rotation != nil {
		r := *t.Rotation
		r.Order = slices.Clone(r.Order)
		r.Overrides = slices.Clone(r.Overrides)
		t.Rotation = &r
	}
	return t, true
}

// PersonByChat finds the person with a chat handle, ignoring case and
// surrounding space ("@Eli" finds @eli).
func (d *Directory) PersonByChat(handle string) (Person, bool) {
	i, ok := d.byChat[strings.ToLower(strings.TrimSpace(handle))]
	if !ok {
		return Person{}, false
	}
	return d.Person(d.people[i].ID)
}

// Shift returns who is on call for the team at t and from when until when.
// An override covering t wins (unless its person is absent); otherwise the
// rotation's person, or, when they are absent, the next present person in
// order. It fails for an unknown team, a team without a rotation, and an
// instant before the rotation's first shift.
func (d *Directory) Shift(teamID string, at time.Time) (Shift, error) {
	t, ok := d.teams[teamID]
	if !ok {
		return Shift{}, fmt.Errorf("team %q: unknown team", teamID)
	}
	r := t.Rotation
	if r == nil {
		return Shift{}, fmt.Errorf("team %q: no on-call rotation", teamID)
	}
	slot, err := r.SlotAt(at)
	if err != nil {
		return Shift{}, fmt.Errorf("team %q: %w", teamID, err)
	}
	k, scheduled, from, until := slot.Index, slot.Person, slot.From, slot.Until
	sh := Shift{Team: teamID, Scheduled: scheduled}
	var note string
	for _, o := range r.Overrides {
		if !at.Before(o.From) && at.Before(o.Until) {
			p, _ := d.Person(o.Person)
			if !p.Absent {
				why := "override"
				if o.Reason != "" {
					why += ": " + o.Reason
				}
				sh.Person, sh.From, sh.Until, sh.Override = p, o.From, o.Until, true
				sh.Reason = fmt.Sprintf("%s is on call by %s (%s to %s), in place of %s", p.ID, why,
					o.From.Format(time.RFC3339), o.Until.Format(time.RFC3339), scheduled)
				return sh, nil
			}
			// The override's person is away: the rotation applies inside the
			// override, so the override's bounds stay bounds.
			note = fmt.Sprintf("; override for %s ignored: %s is absent", o.Person, o.Person)
			from, until = later(from, o.From), earlier(until, o.Until)
			continue
		}
		// Overrides starting or ending around t bound the shift.
		if !o.Until.After(at) {
			from = later(from, o.Until)
		}
		if o.From.After(at) {
			until = earlier(until, o.From)
		}
	}
	sh.From, sh.Until = from, until
	period := "daily"
	if r.Every == 7*24*time.Hour {
		period = "weekly"
	} else if r.Every != 24*time.Hour {
		period = fmt.Sprintf("%d-day", r.Every/(24*time.Hour))
	}
	base := fmt.Sprintf("%s's %s shift on %s (shift %d, handoff %s %s)", scheduled, period, teamID, k, r.Handoff, r.TimeZone)
	for n := range len(r.Order) {
		id := r.Order[(k+n)%len(r.Order)]
		p, _ := d.Person(id)
		if p.Absent {
			continue
		}
		sh.Person, sh.Reason = p, base+note
		if n > 0 {
			var skipped []string
			for i := range n {
				skipped = append(skipped, r.Order[(k+i)%len(r.Order)])
			}
			sh.Reason = fmt.Sprintf("%s; absent: %s; next in order: %s%s", base, strings.Join(skipped, ", "), id, note)
		}
		return sh, nil
	}
	// The loader refuses a rotation whose people are all absent.
	return Shift{}, fmt.Errorf("team %q: everyone in the rotation is absent", teamID)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// OnCall returns the team's on-call person at t (see Shift).
func (d *Directory) OnCall(teamID string, at time.Time) (Person, error) {
	sh, err := d.Shift(teamID, at)
	if err != nil {
		return Person{}, err
	}
	return sh.Person, nil
}

// Chain resolves the team's escalation chain at t: each step to the person
// to reach, with its After delay. An on-call step is the Shift's person; a
// role step the first present holder among the team's members (in members
// order), else among everyone (by id); a person step that person. An absent
// person is replaced by their delegate (the loader guarantees one who is
// present), and the step's Reason says so.
func (d *Directory) Chain(teamID string, at time.Time) ([]ChainStep, error) {
	t, ok := d.teams[teamID]
	if !ok {
		return nil, fmt.Errorf("team %q: unknown team", teamID)
	}
	out := make([]ChainStep, 0, len(t.Chain))
	for i, c := range t.Chain {
		s := ChainStep{Step: i, Kind: c.Kind(), Role: c.Role, After: c.After}
		switch s.Kind {
		case StepOnCall:
			sh, err := d.Shift(teamID, at)
			if err != nil {
				return nil, fmt.Errorf("chain[%d]: %w", i, err)
			}
			s.Person, s.Reason = sh.Person, "on call: "+sh.Reason
		case StepRole:
			var cands []Person
			for _, m := range t.Members {
				if d.HasRole(m, c.Role) {
					p, _ := d.Person(m)
					cands = append(cands, p)
				}
			}
			where := "team member"
			if len(cands) == 0 {
				cands, where = d.holders(c.Role), "directory"
			}
			i := slices.IndexFunc(cands, func(p Person) bool { return !p.Absent })
			if i >= 0 {
				s.Person = cands[i]
				s.Reason = fmt.Sprintf("%s holds %s (%s)", s.Person.ID, c.Role, where)
				if i > 0 {
					s.Reason += fmt.Sprintf("; %s absent", joinIDs(cands[:i]))
				}
			} else {
				del, _ := d.Person(cands[0].Delegate)
				s.Person = del
				s.Reason = fmt.Sprintf("every holder of %s (%s) is absent: %s; %s's delegate %s stands in", c.Role, where, joinIDs(cands), cands[0].ID, del.ID)
			}
		case StepPerson:
			p, _ := d.Person(c.Person)
			s.Person, s.Reason = p, p.ID+" is named in the chain"
			if p.Absent {
				s.Person, _ = d.Person(p.Delegate)
				s.Reason += fmt.Sprintf("; %s is absent, delegate %s stands in", p.ID, p.Delegate)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func joinIDs(ps []Person) string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return strings.Join(ids, ", ")
}
