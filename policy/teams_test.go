package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// teamsDoc is validDoc with engineers, account owners and teams. kim and sam
// are absent. Lisbon changes to summer time on 2026-03-29 at 01:00 UTC and
// back on 2026-10-25 at 01:00 UTC.
const teamsDoc = `
currency: EUR
approvalValidity: 48h
people:
  - {id: ann, name: Ann, email: ann@example.com, roles: [fm], manager: bo}
  - {id: bo, name: Bo, email: bo@example.com, roles: [cfo], manager: cy}
  - {id: cy, name: Cy, email: cy@example.com, roles: [ceo], chat: "@cy"}
  - {id: eli, name: Eli, email: eli@example.com, roles: [engineer], manager: mo, chat: "@eli"}
  - {id: noor, name: Noor, email: noor@example.com, roles: [engineer], manager: mo, chat: "@noor"}
  - {id: kim, name: Kim, email: kim@example.com, roles: [engineer], manager: mo, absent: true, delegate: mo}
  - {id: mo, name: Mo, email: mo@example.com, roles: [em], manager: cy, chat: "@mo.x_1"}
  - {id: sam, name: Sam, email: sam@example.com, roles: [account-owner], manager: cy, absent: true, delegate: cy}
  - {id: al, name: Al, email: al@example.com, roles: [account-owner], manager: cy}
tiers:
  - {name: auto, upTo: "100"}
  - {name: top, approvers: [fm], expireAfter: 3h}
teams:
  daily:
    name: Daily
    members: [eli, noor]
    rotation: {timeZone: Europe/Lisbon, handoff: "09:00", every: 24h, start: "2026-03-27", order: [eli, noor]}
    chain: [{onCall: true}, {person: mo, after: 15m}, {person: cy, after: 30m}]
  weekly:
    name: Weekly
    members: [eli, noor, kim]
    lead: mo
    rotation:
      timeZone: Europe/Lisbon
      handoff: "09:00"
      every: 168h
      start: "2026-01-05"
      order: [eli, noor]
      overrides:
        - {from: "2026-02-03T12:00:00Z", until: "2026-02-04T12:00:00Z", person: noor, reason: dentist swap}
        - {from: "2026-02-10T00:00:00Z", until: "2026-02-11T00:00:00Z", person: kim}
        - {from: "2026-02-20T00:00:00+01:00", until: "2026-02-21T00:00:00+01:00", person: mo}
    chain: [{onCall: true}, {role: em, after: 15m}]
  night:
    name: Night
    members: [eli, noor]
    rotation: {timeZone: Europe/Lisbon, handoff: "22:00", every: 24h, start: "2026-01-05", order: [eli, noor]}
    chain: [{onCall: true}]
  skip:
    name: Skip
    members: [eli, kim, noor]
    rotation: {timeZone: UTC, handoff: "06:30", every: 24h, start: "2026-01-05", order: [eli, kim, noor]}
    chain: [{onCall: true}]
  sales:
    name: Sales
    members: [sam, al]
    chain: [{role: account-owner}, {person: sam, after: 1h}, {role: em, after: 2h}, {role: engineer, after: 3h}]
`

func teamsDir(t *testing.T) *Directory {
	t.Helper()
	d, err := ParseDirectory([]byte(teamsDoc))
	require.NoError(t, err)
	return d
}

func utc(s string) time.Time {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return v.UTC()
}

func TestShift(t *testing.T) {
	d := teamsDir(t)
	tests := []struct {
		name, team, at   string
		person           string
		from, until      string
		scheduled        string
		override         bool
		reason, notInWhy string
	}{
		// Daily, 09:00 Lisbon; winter time is UTC+0.
		{name: "first daily shift", team: "daily", at: "2026-03-27T09:00:00Z", person: "eli",
			from: "2026-03-27T09:00:00Z", until: "2026-03-28T09:00:00Z", scheduled: "eli",
			reason: "eli's daily shift on daily (shift 0, handoff 09:00 Europe/Lisbon)"},
		{name: "a minute before the handoff", team: "daily", at: "2026-03-28T08:59:00Z", person: "eli",
			from: "2026-03-27T09:00:00Z", until: "2026-03-28T09:00:00Z", scheduled: "eli"},
		// March: the shift of 28 March lasts 23 h; the handoff stays at 09:00 local.
		{name: "march DST: short shift", team: "daily", at: "2026-03-28T09:00:00Z", person: "noor",
			from: "2026-03-28T09:00:00Z", until: "2026-03-29T08:00:00Z", scheduled: "noor"},
		{name: "march DST: second before the summer handoff", team: "daily", at: "2026-03-29T07:59:59Z", person: "noor",
			from: "2026-03-28T09:00:00Z", until: "2026-03-29T08:00:00Z", scheduled: "noor"},
		{name: "march DST: 09:00 summer time", team: "daily", at: "2026-03-29T08:00:00Z", person: "eli",
			from: "2026-03-29T08:00:00Z", until: "2026-03-30T08:00:00Z", scheduled: "eli"},
		// October: shift 211 (odd: noor) lasts 25 h.
		{name: "october DST: long shift", team: "daily", at: "2026-10-25T08:30:00Z", person: "noor",
			from: "2026-10-24T08:00:00Z", until: "2026-10-25T09:00:00Z", scheduled: "noor",
			reason: "noor's daily shift on daily (shift 211, handoff 09:00 Europe/Lisbon)"},
		{name: "october DST: 09:00 winter time", team: "daily", at: "2026-10-25T09:00:00Z", person: "eli",
			from: "2026-10-25T09:00:00Z", until: "2026-10-26T09:00:00Z", scheduled: "eli"},
		// Weekly from Monday 5 January.
		{name: "weekly first week", team: "weekly", at: "2026-01-12T08:59:00Z", person: "eli",
			from: "2026-01-05T09:00:00Z", until: "2026-01-12T09:00:00Z", scheduled: "eli",
			reason: "eli's weekly shift on weekly (shift 0, handoff 09:00 Europe/Lisbon)"},
		{name: "weekly second week", team: "weekly", at: "2026-01-12T09:00:00Z", person: "noor",
			from: "2026-01-12T09:00:00Z", until: "2026-01-19T09:00:00Z", scheduled: "noor"},
		{name: "weekly across march DST (167 h)", team: "weekly", at: "2026-03-27T12:00:00Z", person: "noor",
			from: "2026-03-23T09:00:00Z", until: "2026-03-30T08:00:00Z", scheduled: "noor"},
		{name: "weekly across october DST (169 h)", team: "weekly", at: "2026-10-25T12:00:00Z", person: "noor",
			from: "2026-10-19T08:00:00Z", until: "2026-10-26T09:00:00Z", scheduled: "noor"},
		// Overrides: eli's week of 2 February, noor covers a day.
		{name: "before an override: until its start", team: "weekly", at: "2026-02-03T10:00:00Z", person: "eli",
			from: "2026-02-02T09:00:00Z", until: "2026-02-03T12:00:00Z", scheduled: "eli"},
		{name: "override wins", team: "weekly", at: "2026-02-03T12:00:00Z", person: "noor",
			from: "2026-02-03T12:00:00Z", until: "2026-02-04T12:00:00Z", scheduled: "eli", override: true,
			reason: "noor is on call by override: dentist swap (2026-02-03T12:00:00Z to 2026-02-04T12:00:00Z), in place of eli"},
		{name: "override until is exclusive", team: "weekly", at: "2026-02-04T12:00:00Z", person: "eli",
			from: "2026-02-04T12:00:00Z", until: "2026-02-09T09:00:00Z", scheduled: "eli"},
		{name: "override by someone outside the team", team: "weekly", at: "2026-02-20T12:00:00Z", person: "mo",
			from: "2026-02-19T23:00:00Z", until: "2026-02-20T23:00:00Z", scheduled: "eli", override: true},
		{name: "override of an absent person is ignored", team: "weekly", at: "2026-02-10T12:00:00Z", person: "noor",
			from: "2026-02-10T00:00:00Z", until: "2026-02-11T00:00:00Z", scheduled: "noor",
			reason: "; override for kim ignored: kim is absent"},
		// Across midnight: a 22:00 handoff; 01:00 the next day is still the evening's shift.
		{name: "after midnight is the evening's shift", team: "night", at: "2026-01-06T01:00:00Z", person: "eli",
			from: "2026-01-05T22:00:00Z", until: "2026-01-06T22:00:00Z", scheduled: "eli"},
		{name: "next evening", team: "night", at: "2026-01-06T22:00:00Z", person: "noor",
			from: "2026-01-06T22:00:00Z", until: "2026-01-07T22:00:00Z", scheduled: "noor"},
		// Absent kim's shift goes to the next in order.
		{name: "present", team: "skip", at: "2026-01-05T07:00:00Z", person: "eli",
			from: "2026-01-05T06:30:00Z", until: "2026-01-06T06:30:00Z", scheduled: "eli", notInWhy: "absent"},
		{name: "absent skipped", team: "skip", at: "2026-01-06T07:00:00Z", person: "noor",
			from: "2026-01-06T06:30:00Z", until: "2026-01-07T06:30:00Z", scheduled: "kim",
			reason: "kim's daily shift on skip (shift 1, handoff 06:30 UTC); absent: kim; next in order: noor"},
		{name: "after the absent", team: "skip", at: "2026-01-07T07:00:00Z", person: "noor", scheduled: "noor",
			from: "2026-01-07T06:30:00Z", until: "2026-01-08T06:30:00Z"},
		{name: "wraps around", team: "skip", at: "2026-01-08T07:00:00Z", person: "eli", scheduled: "eli",
			from: "2026-01-08T06:30:00Z", until: "2026-01-09T06:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := utc(tt.at)
			sh, err := d.Shift(tt.team, at)
			require.NoError(t, err)
			assert.Equal(t, tt.person, sh.Person.ID, sh.Reason)
			assert.Equal(t, tt.team, sh.Team)
			assert.Equal(t, utc(tt.from), sh.From, "from")
			assert.Equal(t, utc(tt.until), sh.Until, "until")
			assert.Equal(t, tt.scheduled, sh.Scheduled)
			assert.Equal(t, tt.override, sh.Override)
			assert.Contains(t, sh.Reason, tt.reason)
			if tt.notInWhy != "" {
				assert.NotContains(t, sh.Reason, tt.notInWhy)
			}
			assert.False(t, at.Before(sh.From))
			assert.True(t, at.Before(sh.Until))

			// OnCall agrees, and the zone of at does not matter.
			p, err := d.OnCall(tt.team, at.In(time.FixedZone("X", -7*3600)))
			require.NoError(t, err)
			assert.Equal(t, tt.person, p.ID)
		})
	}
}

// Walking Shift from Until to Until visits every handoff exactly once and
// never goes backwards, across both DST changes.
func TestShiftWalk(t *testing.T) {
	d := teamsDir(t)
	for _, team := range []string{"daily", "weekly", "night", "skip"} {
		at := map[string]time.Time{
			"daily": utc("2026-03-27T09:00:00Z"), "weekly": utc("2026-01-05T09:00:00Z"),
			"night": utc("2026-01-05T22:00:00Z"), "skip": utc("2026-01-05T06:30:00Z"),
		}[team]
		for n := 0; at.Before(utc("2027-01-01T00:00:00Z")); n++ {
			sh, err := d.Shift(team, at)
			require.NoError(t, err, "%s at %s", team, at)
			require.Equal(t, at, sh.From, "%s: shift %d starts where the last ended", team, n)
			require.True(t, sh.Until.After(sh.From))
			require.LessOrEqual(t, sh.Until.Sub(sh.From), 169*time.Hour)
			if team == "daily" {
				// Every handoff at 09:00 local, summer or winter.
				assert.Equal(t, "09:00", sh.From.In(mustLoc(t, "Europe/Lisbon")).Format("15:04"))
			}
			at = sh.Until
		}
	}
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	require.NoError(t, err)
	return l
}

func TestShiftErrors(t *testing.T) {
	d := teamsDir(t)
	_, err := d.Shift("nope", utc("2026-03-28T00:00:00Z"))
	assert.EqualError(t, err, `team "nope": unknown team`)
	_, err = d.Shift("sales", utc("2026-03-28T00:00:00Z"))
	assert.EqualError(t, err, `team "sales": no on-call rotation`)
	_, err = d.OnCall("daily", utc("2026-03-27T08:59:59Z"))
	assert.EqualError(t, err, `team "daily": the rotation starts at 2026-03-27T09:00:00Z, after 2026-03-27T08:59:59Z`)
	_, err = d.Chain("daily", utc("2026-01-01T00:00:00Z"))
	assert.ErrorContains(t, err, `chain[0]: team "daily": the rotation starts at`)
	_, err = d.Chain("nope", time.Time{})
	assert.EqualError(t, err, `team "nope": unknown team`)
}

func TestChain(t *testing.T) {
	d := teamsDir(t)
	type step struct {
		kind, role, person string
		after              time.Duration
		reason             string
	}
	tests := []struct {
		name, team, at string
		want           []step
	}{
		{"on call then manager then ceo", "daily", "2026-03-28T10:00:00Z", []step{
			{StepOnCall, "", "noor", 0, "on call: noor's daily shift on daily"},
			{StepPerson, "", "mo", 15 * time.Minute, "mo is named in the chain"},
			{StepPerson, "", "cy", 30 * time.Minute, "cy is named in the chain"},
		}},
		{"on call under an override", "weekly", "2026-02-03T13:00:00Z", []step{
			{StepOnCall, "", "noor", 0, "on call: noor is on call by override"},
			{StepRole, "em", "mo", 15 * time.Minute, "mo holds em (directory)"},
		}},
		{"absent people stand aside", "sales", "2026-03-28T10:00:00Z", []step{
			// Members holding the role first; absent sam skipped.
			{StepRole, "account-owner", "al", 0, "al holds account-owner (team member); sam absent"},
			// Named but absent: the delegate.
			{StepPerson, "", "cy", time.Hour, "sam is named in the chain; sam is absent, delegate cy stands in"},
			// Nobody in the team holds em: anyone in the directory.
			{StepRole, "em", "mo", 2 * time.Hour, "mo holds em (directory)"},
			// Holders by id: eli (kim is absent but eli comes first anyway).
			{StepRole, "engineer", "eli", 3 * time.Hour, "eli holds engineer (directory)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Chain(tt.team, utc(tt.at))
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				g := got[i]
				assert.Equal(t, i, g.Step)
				assert.Equal(t, w.kind, g.Kind, "step %d", i)
				assert.Equal(t, w.role, g.Role, "step %d", i)
				assert.Equal(t, w.person, g.Person.ID, "step %d: %s", i, g.Reason)
				assert.Equal(t, w.after, g.After, "step %d", i)
				assert.Contains(t, g.Reason, w.reason, "step %d", i)
			}
		})
	}

	// A role whose holders are all absent falls to the first one's delegate
	// (team members in members order: sam, then al).
	doc := strings.Replace(teamsDoc, `{id: al, name: Al, email: al@example.com, roles: [account-owner], manager: cy}`,
		`{id: al, name: Al, email: al@example.com, roles: [account-owner], manager: cy, absent: true, delegate: bo}`, 1)
	d2, err := ParseDirectory([]byte(doc))
	require.NoError(t, err)
	got, err := d2.Chain("sales", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, "cy", got[0].Person.ID)
	assert.Equal(t, "every holder of account-owner (team member) is absent: sam, al; sam's delegate cy stands in", got[0].Reason)
}

func TestDefaultDirectoryTeams(t *testing.T) {
	d, err := DefaultDirectory()
	require.NoError(t, err)

	var ids []string
	for _, tm := range d.Teams() {
		ids = append(ids, tm.ID)
	}
	assert.Equal(t, []string{"customer-success", "engineering", "sales"}, ids)

	eng, ok := d.Team("engineering")
	require.True(t, ok)
	assert.Equal(t, "Engineering", eng.Name)
	assert.Equal(t, []string{"eli", "noor"}, eng.Members)
	assert.Equal(t, "mateo", eng.Lead)
	require.NotNil(t, eng.Rotation)
	assert.Equal(t, 168*time.Hour, eng.Rotation.Every)
	assert.Equal(t, []ChainRule{{OnCall: true}, {Person: "mateo", After: 15 * time.Minute}, {Person: "vera", After: 30 * time.Minute}}, eng.Chain)
	_, ok = d.Team("marketing")
	assert.False(t, ok)

	// Returned teams are copies.
	eng.Members[0] = "zed"
	eng.Rotation.Order[0] = "zed"
	eng.Chain[0].Person = "zed"
	again, _ := d.Team("engineering")
	assert.Equal(t, "eli", again.Members[0])
	assert.Equal(t, "eli", again.Rotation.Order[0])
	assert.True(t, again.Chain[0].OnCall)
	assert.Empty(t, again.Chain[0].Person)

	// Week of 2 March 2026 (k = 8): eli; the next Monday: noor.
	sh, err := d.Shift("engineering", utc("2026-03-04T15:00:00Z"))
	require.NoError(t, err)
	assert.Equal(t, "eli", sh.Person.ID)
	assert.Equal(t, utc("2026-03-09T09:00:00Z"), sh.Until)

	chain, err := d.Chain("engineering", utc("2026-03-10T15:00:00Z"))
	require.NoError(t, err)
	var who []string
	for _, s := range chain {
		who = append(who, s.Person.ID+"@"+s.After.String())
	}
	assert.Equal(t, []string{"noor@0s", "mateo@15m0s", "vera@30m0s"}, who)

	for team, want := range map[string]string{"sales": "sam", "customer-success": "clara"} {
		chain, err := d.Chain(team, time.Time{})
		require.NoError(t, err)
		require.Len(t, chain, 2)
		assert.Equal(t, want, chain[0].Person.ID)
		assert.Equal(t, "sofia", chain[1].Person.ID)
		assert.Equal(t, 4*time.Hour, chain[1].After)
	}

	// The demo people and their managers.
	for id, want := range map[string][2]string{
		"sam": {"account-owner", "sofia"}, "clara": {"csm", "sofia"}, "eli": {"engineer", "mateo"}, "noor": {"engineer", "mateo"},
		"mateo": {"engineering-manager", "vera"}, "vera": {"vp-engineering", "sofia"},
	} {
		p, ok := d.Person(id)
		require.True(t, ok, id)
		assert.True(t, d.HasRole(id, want[0]), id)
		assert.Equal(t, want[1], p.Manager, id)
		assert.Equal(t, "@"+id, p.Chat, id)
	}
}

func TestPersonByChat(t *testing.T) {
	d := teamsDir(t)
	tests := []struct {
		handle, want string
	}{
		{"@eli", "eli"},
		{"@ELI", "eli"},
		{" @Noor\t", "noor"},
		{"@mo.x_1", "mo"},
		{"@Mo.X_1", "mo"},
		{"eli", ""},
		{"@bo", ""}, // bo has no handle
		{"@nobody", ""},
		{"", ""},
		{"@", ""},
	}
	for _, tt := range tests {
		p, ok := d.PersonByChat(tt.handle)
		assert.Equal(t, tt.want != "", ok, tt.handle)
		assert.Equal(t, tt.want, p.ID, tt.handle)
	}
	p, _ := d.Person("eli")
	assert.Equal(t, "@eli", p.Chat)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"chat":"@eli"`)
}

func TestParseTeamsErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		// Chat handles.
		{"duplicate chat", r(`chat: "@noor"`, `chat: "@eli"`), `people[4].chat: duplicate handle "@eli" (also people[3])`},
		{"chat upper case", r(`chat: "@eli"`, `chat: "@Eli"`), `people[3].chat: "@Eli" must match ^@[a-z0-9][a-z0-9._-]{1,31}$`},
		{"chat without @", r(`chat: "@eli"`, `chat: eli`), `people[3].chat: "eli" must match`},
		{"chat too short", r(`chat: "@eli"`, `chat: "@e"`), `people[3].chat: "@e" must match`},
		{"chat too long", r(`chat: "@eli"`, `chat: "@`+strings.Repeat("e", 33)+`"`), `people[3].chat: "@eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" must match`},
		{"chat with a space", r(`chat: "@eli"`, `chat: "@el i"`), `people[3].chat: "@el i" must match`},
		// Teams and members.
		{"bad team id", r(`  night:`, `  Night:`), `teams.Night: team id "Night" may contain only`},
		{"team without name", r(`name: Night`, `name: " "`), `teams.night.name: required`},
		{"no members", r(`members: [sam, al]`, `members: []`), `teams.sales.members: at least one member is required`},
		{"unknown member", r(`members: [eli, noor]`, `members: [eli, zed]`), `teams.daily.members[1]: unknown person "zed"`},
		{"member twice", r(`members: [eli, noor]`, `members: [eli, eli, noor]`), `teams.daily.members[1]: "eli" listed twice`},
		{"unknown lead", r(`lead: mo`, `lead: mx`), `teams.weekly.lead: unknown person "mx"`},
		{"unknown team key", r(`lead: mo`, `leader: mo`), `field leader not found`},
		// Rotations.
		{"no order", r(`order: [eli, kim, noor]`, `order: []`), `teams.skip.rotation.order: at least one person is required`},
		{"unknown in order", r(`order: [eli, kim, noor]`, `order: [eli, kim, zed]`), `teams.skip.rotation.order[2]: unknown person "zed"`},
		{"order outside the team", r(`order: [eli, kim, noor]`, `order: [eli, kim, mo]`), `teams.skip.rotation.order[2]: "mo" is not a member of the team`},
		{"everyone absent", r(`order: [eli, kim, noor]`, `order: [kim]`), `teams.skip.rotation.order: everyone in the rotation is absent`},
		{"bad time zone", r(`timeZone: UTC`, `timeZone: Mars/Olympus`), `teams.skip.rotation.timeZone: "Mars/Olympus" is not an IANA time zone`},
		{"local time zone", r(`timeZone: UTC`, `timeZone: Local`), `teams.skip.rotation.timeZone: "Local" depends on the host`},
		{"no time zone", r(`timeZone: UTC, `, ``), `teams.skip.rotation.timeZone: required`},
		{"bad handoff", r(`handoff: "06:30"`, `handoff: "6:30am"`), `teams.skip.rotation.handoff: "6:30am" is not a local time like "09:00"`},
		{"handoff 24:00", r(`handoff: "06:30"`, `handoff: "24:00"`), `teams.skip.rotation.handoff: "24:00" is not a local time`},
		{"no handoff", r(`handoff: "06:30", `, ``), `teams.skip.rotation.handoff: "" is not a local time`},
		{"every zero", r(`every: 24h, start: "2026-01-05", order: [eli, kim`, `every: 0s, start: "2026-01-05", order: [eli, kim`), `teams.skip.rotation.every: must be positive`},
		{"every missing", r(`every: 24h, start: "2026-01-05", order: [eli, kim`, `start: "2026-01-05", order: [eli, kim`), `teams.skip.rotation.every: must be positive`},
		{"every negative", r(`every: 168h`, `every: -168h`), `teams.weekly.rotation.every: "-168h" must not be negative`},
		{"every not days", r(`every: 168h`, `every: 12h`), `teams.weekly.rotation.every: 12h0m0s is not a whole number of days`},
		{"bad start", r(`start: "2026-01-05"`, `start: "5 Jan 2026"`), `teams.weekly.rotation.start: "5 Jan 2026" is not a date like "2026-01-05"`},
		// Overrides.
		{"override until before from", r(`until: "2026-02-04T12:00:00Z"`, `until: "2026-02-02T12:00:00Z"`), `teams.weekly.rotation.overrides[0].until: must be after from (2026-02-03T12:00:00Z)`},
		{"override until equals from", r(`until: "2026-02-04T12:00:00Z"`, `until: "2026-02-03T12:00:00Z"`), `teams.weekly.rotation.overrides[0].until: must be after from`},
		{"override bad from", r(`from: "2026-02-03T12:00:00Z"`, `from: "2026-02-03"`), `teams.weekly.rotation.overrides[0].from: "2026-02-03" is not an RFC 3339 time`},
		{"override bad until", r(`until: "2026-02-04T12:00:00Z"`, `until: tomorrow`), `teams.weekly.rotation.overrides[0].until: "tomorrow" is not an RFC 3339 time`},
		{"override unknown person", r(`person: noor, reason`, `person: zed, reason`), `teams.weekly.rotation.overrides[0].person: unknown person "zed"`},
		{"overrides overlap", r(`from: "2026-02-10T00:00:00Z"`, `from: "2026-02-04T11:00:00Z"`), `teams.weekly.rotation.overrides[1]: overlaps overrides[0]`},
		// Chains.
		{"no chain", r(`chain: [{onCall: true}]
  skip:`, `chain: []
  skip:`), `teams.night.chain: at least one step is required`},
		{"after not increasing", r(`{person: cy, after: 30m}`, `{person: cy, after: 15m}`), `teams.daily.chain[2].after: 15m0s must be later than chain[1].after 15m0s`},
		{"after decreasing", r(`{person: cy, after: 30m}`, `{person: cy, after: 10m}`), `teams.daily.chain[2].after: 10m0s must be later than chain[1].after 15m0s`},
		{"second step without after", r(`{person: mo, after: 15m}`, `{person: mo}`), `teams.daily.chain[1].after: 0s must be later than chain[0].after 0s`},
		{"bad after", r(`{person: mo, after: 15m}`, `{person: mo, after: soon}`), `teams.daily.chain[1].after: "soon" is not a duration`},
		{"two kinds in a step", r(`{person: mo, after: 15m}`, `{person: mo, role: em, after: 15m}`), `teams.daily.chain[1]: exactly one of onCall, role or person is required`},
		{"empty step", r(`{person: mo, after: 15m}`, `{after: 15m}`), `teams.daily.chain[1]: exactly one of onCall, role or person is required`},
		{"unknown chain person", r(`{person: mo, after: 15m}`, `{person: mx, after: 15m}`), `teams.daily.chain[1].person: unknown person "mx"`},
		{"unknown chain role", r(`{role: account-owner}`, `{role: vp}`), `teams.sales.chain[0].role: unknown role "vp" (no person holds it)`},
		{"on call without rotation", r(`chain: [{role: account-owner}`, `chain: [{onCall: true}`), `teams.sales.chain[0].onCall: the team has no rotation`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.edit(teamsDoc)
			require.NotEqual(t, teamsDoc, doc, "edit did not change the document")
			_, err := ParseDirectory([]byte(doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// A directory without a teams block is still valid (teams are optional).
func TestNoTeams(t *testing.T) {
	d, err := ParseDirectory([]byte(validDoc))
	require.NoError(t, err)
	assert.Empty(t, d.Teams())
	_, err = d.OnCall("engineering", time.Now())
	assert.EqualError(t, err, `team "engineering": unknown team`)
}

// A rotation passed through JSON (an activity result) computes the same
// slots as the directory's; a hand-built one with bad fields is refused.
func TestRotationSlotAtAfterJSON(t *testing.T) {
	d := teamsDir(t)
	tm, ok := d.Team("daily")
	require.True(t, ok)
	raw, err := json.Marshal(tm)
	require.NoError(t, err)
	var back Team
	require.NoError(t, json.Unmarshal(raw, &back))
	require.NotNil(t, back.Rotation)
	for _, at := range []string{"2026-03-28T09:00:00Z", "2026-03-29T08:00:00Z", "2026-10-25T08:30:00Z"} {
		want, err := tm.Rotation.SlotAt(utc(at))
		require.NoError(t, err)
		got, err := back.Rotation.SlotAt(utc(at))
		require.NoError(t, err)
		assert.Equal(t, want, got, at)
	}
	got, err := back.Rotation.SlotAt(utc("2026-10-25T08:30:00Z"))
	require.NoError(t, err)
	assert.Equal(t, RotationSlot{Index: 211, Person: "noor", From: utc("2026-10-24T08:00:00Z"), Until: utc("2026-10-25T09:00:00Z")}, got)

	for _, bad := range []Rotation{
		{TimeZone: "Local", Handoff: "09:00", Every: 24 * time.Hour, Start: "2026-01-05", Order: []string{"a"}},
		{TimeZone: "UTC", Handoff: "9", Every: 24 * time.Hour, Start: "2026-01-05", Order: []string{"a"}},
		{TimeZone: "UTC", Handoff: "09:00", Every: time.Hour, Start: "2026-01-05", Order: []string{"a"}},
		{TimeZone: "UTC", Handoff: "09:00", Every: 24 * time.Hour, Start: "x", Order: []string{"a"}},
		{TimeZone: "UTC", Handoff: "09:00", Every: 24 * time.Hour, Start: "2026-01-05"},
	} {
		_, err := bad.SlotAt(utc("2026-03-01T00:00:00Z"))
		assert.ErrorContains(t, err, "rotation: ")
	}
}
