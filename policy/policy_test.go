package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultDirectoryPlan(t *testing.T) {
	d, err := DefaultDirectory()
	require.NoError(t, err)

	fm := Slot{Role: "finance-manager", Candidates: []Candidate{
		{ID: "maria", Name: "Maria Rossi", Email: "maria@example.com", Manager: "chen"},
		{ID: "omar", Name: "Omar Haddad", Email: "omar@example.com", Manager: "chen", Delegate: "maria"},
	}}
	cfo := Slot{Role: "cfo", Candidates: []Candidate{
		{ID: "chen", Name: "Chen Wei", Email: "chen@example.com", Manager: "sofia"},
	}}
	tests := []struct {
		name     string
		amount   int64
		currency string
		want     Plan
		wantErr  string
	}{
		{name: "small is autonomous", amount: 320000, currency: "EUR", want: Plan{
			Tier: "autonomous", Autonomous: true,
			Reason: "3 200.00 EUR is within the autonomous limit of 5 000.00 EUR: no approval needed",
		}},
		{name: "autonomous limit is inclusive", amount: 500000, currency: "EUR", want: Plan{
			Tier: "autonomous", Autonomous: true,
			Reason: "5 000.00 EUR is within the autonomous limit of 5 000.00 EUR: no approval needed",
		}},
		{name: "one cent above autonomous", amount: 500001, currency: "EUR", want: Plan{
			Tier:   "finance-manager",
			Reason: "5 000.01 EUR is above the autonomous limit of 5 000.00 EUR: finance-manager",
			Slots:  []Slot{fm}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour,
			Validity: 168 * time.Hour,
		}},
		{name: "finance manager limit is inclusive", amount: 2500000, currency: "EUR", want: Plan{
			Tier:   "finance-manager",
			Reason: "25 000.00 EUR is above the autonomous limit of 5 000.00 EUR: finance-manager",
			Slots:  []Slot{fm}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour,
			Validity: 168 * time.Hour,
		}},
		{name: "large needs finance manager then cfo", amount: 4800000, currency: "EUR", want: Plan{
			Tier:   "cfo",
			Reason: "48 000.00 EUR is above the finance-manager limit of 25 000.00 EUR: finance-manager then cfo",
			Slots:  []Slot{fm, cfo}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour,
			Validity: 168 * time.Hour,
		}},
		{name: "unsupported currency", amount: 100, currency: "USD", wantErr: `currency: "USD" is not supported`},
		{name: "empty currency", amount: 100, currency: "", wantErr: `currency: "" is not supported`},
		{name: "zero amount", amount: 0, currency: "EUR", wantErr: "amountMinor: must be positive"},
		{name: "negative amount", amount: -5, currency: "EUR", wantErr: "amountMinor: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Plan(tt.amount, tt.currency)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPlanJSONIsCamelCase(t *testing.T) {
	d, err := DefaultDirectory()
	require.NoError(t, err)
	p, err := d.Plan(4800000, "EUR")
	require.NoError(t, err)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	for _, key := range []string{`"tier"`, `"autonomous"`, `"reason"`, `"slots"`, `"role"`, `"candidates"`, `"reminderAfter"`, `"escalateAfter"`, `"expireAfter"`, `"validity"`} {
		assert.Contains(t, string(raw), key)
	}
	var back Plan
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, p, back)
}

func TestDirectoryLookups(t *testing.T) {
	d, err := DefaultDirectory()
	require.NoError(t, err)

	var ids []string
	for _, p := range d.People() {
		ids = append(ids, p.ID)
	}
	assert.Equal(t, []string{"ana", "chen", "clara", "eli", "fatima", "ines", "lee", "maria", "mateo", "noor", "omar", "sam", "sofia", "vera"}, ids)

	omar, ok := d.Person("omar")
	require.True(t, ok)
	assert.Equal(t, Person{ID: "omar", Name: "Omar Haddad", Email: "omar@example.com", Roles: []string{"finance-manager"}, Manager: "chen", Delegate: "maria", Absent: true}, omar)
	_, ok = d.Person("bob")
	assert.False(t, ok)

	// Callers must not be able to change the directory through returned slices.
	omar.Roles[0] = "cfo"
	assert.False(t, d.HasRole("omar", "cfo"))

	tests := []struct {
		person, role string
		want         bool
	}{
		{"maria", "finance-manager", true},
		{"chen", "cfo", true},
		{"maria", "cfo", false},
		{"bob", "cfo", false},
		{"ana", "", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, d.HasRole(tt.person, tt.role), "%s/%s", tt.person, tt.role)
	}
	assert.Equal(t, "EUR", d.Currency())
	assert.Len(t, d.Tiers(), 3)
}

const validDoc = `
currency: EUR
approvalValidity: 48h
people:
  - {id: ann, name: Ann, email: ann@example.com, roles: [fm], manager: bo}
  - {id: bo, name: Bo, email: bo@example.com, roles: [cfo], manager: cy}
  - {id: cy, name: Cy, email: cy@example.com, roles: [ceo]}
tiers:
  - {name: auto, upTo: "100"}
  - {name: fm, upTo: "1000.5", approvers: [fm], expireAfter: 10h}
  - {name: top, approvers: [fm, cfo], reminderAfter: 1h, escalateAfter: 2h, expireAfter: 3h}
`

func TestParseDirectoryValid(t *testing.T) {
	d, err := ParseDirectory([]byte(validDoc))
	require.NoError(t, err)
	tiers := d.Tiers()
	assert.Equal(t, int64(10000), tiers[0].UpToMinor)
	assert.Equal(t, int64(100050), tiers[1].UpToMinor)
	assert.True(t, tiers[2].Unbounded)

	p, err := d.Plan(100051, "EUR")
	require.NoError(t, err)
	assert.Equal(t, "top", p.Tier)
	assert.Equal(t, 48*time.Hour, p.Validity)
	assert.Equal(t, "1 000.51 EUR is above the fm limit of 1 000.50 EUR: fm then cfo", p.Reason)
}

func TestParseDirectoryErrors(t *testing.T) {
	tests := []struct {
		name string
		// edit turns validDoc into the broken document.
		edit    func(string) string
		wantErr string
	}{
		{"unknown manager", r(`manager: bo}`, `manager: bob}`), `people[0].manager: unknown person "bob"`},
		{"unknown delegate", r(`roles: [ceo]}`, `roles: [ceo], delegate: zed}`), `people[2].delegate: unknown person "zed"`},
		{"self manager", r(`manager: cy}`, `manager: bo}`), `people[1].manager: "bo" cannot be their own manager`},
		{"manager loop", r(`roles: [ceo]}`, `roles: [ceo], manager: ann}`), `people: manager chain loops: ann -> bo -> cy -> ann`},
		{"duplicate id", r(`{id: bo,`, `{id: ann,`), `people[1].id: duplicate id "ann" (also people[0])`},
		{"missing id", r(`{id: cy, `, `{`), `people[2].id: required`},
		{"bad id", r(`{id: cy,`, `{id: "C Y",`), `people[2].id: "C Y" may contain only`},
		{"bad email", r(`cy@example.com`, `cy`), `people[2].email: "cy" is not an email address`},
		{"missing name", r(`name: Cy, `, ``), `people[2].name: required`},
		{"absent without delegate", r(`roles: [ceo]}`, `roles: [ceo], absent: true}`), `people[2].delegate: required because "cy" is absent`},
		{"absent delegate chain", func(s string) string {
			s = r(`roles: [fm], manager: bo}`, `roles: [fm], manager: bo, absent: true, delegate: cy}`)(s)
			return r(`roles: [ceo]}`, `roles: [ceo], absent: true, delegate: ann}`)(s)
		}, `people[0].delegate: "cy" is absent too`},
		{"tiers not increasing", r(`upTo: "1000.5"`, `upTo: "99.99"`), `tiers[1].upTo: must be greater than tiers[0].upTo`},
		{"equal tiers", r(`upTo: "1000.5"`, `upTo: "100.00"`), `tiers[1].upTo: must be greater than tiers[0].upTo`},
		{"bad amount", r(`upTo: "100"`, `upTo: "1e5"`), `tiers[0].upTo: "1e5" is not a decimal amount`},
		{"three decimals", r(`upTo: "100"`, `upTo: "100.001"`), `tiers[0].upTo: "100.001" is not a decimal amount`},
		{"negative amount", r(`upTo: "100"`, `upTo: "-100"`), `tiers[0].upTo: "-100" is not a decimal amount`},
		{"missing upTo", r(`, upTo: "1000.5"`, ``), `tiers[1].upTo: required on every tier but the last`},
		{"unknown role", r(`approvers: [fm, cfo]`, `approvers: [fm, cto]`), `tiers[2].approvers[1]: unknown role "cto" (no person holds it)`},
		{"not enough distinct people", r(`approvers: [fm, cfo]`, `approvers: [fm, fm]`), `tiers[2].approvers: fm then fm cannot be filled by 2 distinct people`},
		{"no escalation target", r(`roles: [cfo], manager: cy}`, `roles: [cfo]}`), `tiers[2].approvers[1]: "bo" holds "cfo" but has no manager to escalate to`},
		{"negative duration", r(`reminderAfter: 1h`, `reminderAfter: -1h`), `tiers[2].reminderAfter: "-1h" must not be negative`},
		{"bad duration", r(`approvalValidity: 48h`, `approvalValidity: 2 days`), `approvalValidity: "2 days" is not a duration`},
		{"reminder after escalation", r(`reminderAfter: 1h`, `reminderAfter: 2h`), `tiers[2].reminderAfter: must be shorter than escalateAfter`},
		{"escalation after expiry", r(`escalateAfter: 2h`, `escalateAfter: 3h`), `tiers[2].escalateAfter: must be shorter than expireAfter`},
		{"validity shorter than the slots' waits", r(`approvalValidity: 48h`, `approvalValidity: 4h`), `tiers[2].validity: 4h0m0s is shorter than 2 slots × expireAfter`},
		{"missing expiry", r(`, expireAfter: 10h`, ``), `tiers[1].expireAfter: required and positive`},
		{"no validity", r(`approvalValidity: 48h`, ``), `tiers[1].validity: approvals need a positive validity`},
		{"timers on autonomous tier", r(`upTo: "100"}`, `upTo: "100", expireAfter: 1h}`), `tiers[0]: reminderAfter, escalateAfter and expireAfter apply only to tiers with approvers`},
		{"duplicate tier", r(`{name: fm,`, `{name: auto,`), `tiers[1].name: duplicate tier "auto" (also tiers[0])`},
		{"bad currency", r(`currency: EUR`, `currency: euro`), `currency: "euro" is not a three-letter ISO 4217 code`},
		{"missing currency", r(`currency: EUR`, ``), `currency: required`},
		{"unknown key", r(`approvalValidity:`, `approvalValidty:`), `field approvalValidty not found`},
		{"no tiers", func(s string) string { return s[:strings.Index(s, "tiers:")] }, `tiers: at least one tier is required`},
		{"empty", func(string) string { return "" }, `empty document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.edit(validDoc)
			require.NotEqual(t, validDoc, doc, "edit did not change the document")
			_, err := ParseDirectory([]byte(doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// r returns an edit replacing the first old with new.
func r(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "org.yaml")
	require.NoError(t, os.WriteFile(good, []byte(validDoc), 0o600))
	d, err := LoadDirectory(good)
	require.NoError(t, err)
	assert.Len(t, d.People(), 3)

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(validDoc, "manager: bo}", "manager: bob}", 1)), 0o600))
	_, err = LoadDirectory(bad)
	require.ErrorContains(t, err, bad)
	require.ErrorContains(t, err, `people[0].manager: unknown person "bob"`)

	_, err = LoadDirectory(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "read org directory")
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0.00"}, {5, "0.05"}, {100, "1.00"}, {99999, "999.99"}, {100000, "1 000.00"},
		{4800000, "48 000.00"}, {123456789, "1 234 567.89"}, {-250, "-2.50"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, FormatAmount(tt.in))
	}
}
