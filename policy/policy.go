// Package policy is the organisation directory: who the people are, what
// roles they hold, who stands in for whom, and which approval tier applies to
// a vendor payment of a given amount. It is loaded from YAML (org.yaml is the
// embedded default) and validated completely before use, so a workflow never
// discovers a broken escalation chain at 3 a.m.
package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/execution-orchestrator/orchestrator/proof"
)

//go:embed org.yaml
var defaultOrg []byte

// minorDigits is the number of decimal places directory amounts carry. Only
// two-digit currencies (EUR, USD, GBP, ...) are supported for now.
const minorDigits = 2

// Person is one member of the organisation.
type Person struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Manager  string   `json:"manager,omitempty"`
	Delegate string   `json:"delegate,omitempty"`
	Absent   bool     `json:"absent,omitempty"`
	// Keys are the person's own public keys ("ed25519:<base64>"): an
	// approval signed with one proves the person decided (orchestrator
	// approve --key).
	Keys []string `json:"keys,omitempty"`
	// Chat is the person's chat handle ("@eli"), lower case; acknowledgements
	// from chat are accepted only from a known handle (PersonByChat).
	Chat string `json:"chat,omitempty"`
}

// Candidate is a person who may fill an approval slot. Manager is the
// escalation target; Delegate is set only when the person is absent and names
// who decides in their place.
type Candidate struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Manager  string `json:"manager,omitempty"`
	Delegate string `json:"delegate,omitempty"`
}

// Slot is one approval that must be given by someone holding Role. Slots of a
// plan must be filled by distinct people.
type Slot struct {
	Role       string      `json:"role"`
	Candidates []Candidate `json:"candidates"`
}

// Plan says who must approve a payment and how long to wait for them.
type Plan struct {
	Tier          string        `json:"tier"`
	Autonomous    bool          `json:"autonomous"`
	Reason        string        `json:"reason"`
	Slots         []Slot        `json:"slots,omitempty"`
	ReminderAfter time.Duration `json:"reminderAfter,omitempty"`
	EscalateAfter time.Duration `json:"escalateAfter,omitempty"`
	ExpireAfter   time.Duration `json:"expireAfter,omitempty"`
	Validity      time.Duration `json:"validity,omitempty"`
}

// Tier is one validated approval tier.
type Tier struct {
	Name string
	// UpToMinor is the inclusive upper bound in minor units; Unbounded marks
	// the last tier, which has none.
	UpToMinor     int64
	Unbounded     bool
	Approvers     []string
	ReminderAfter time.Duration
	EscalateAfter time.Duration
	ExpireAfter   time.Duration
	Validity      time.Duration
}

// Directory is a validated organisation directory. It is immutable after
// loading and safe for concurrent use.
type Directory struct {
	currency string
	people   []Person // sorted by id
	byID     map[string]int
	tiers    []Tier
	// roleWaits are the waits of approvals asked by role alone (agent
	// actions), from roleApprovals.
	roleWaits Tier
	// teams by id, from the teams block (teams.go).
	teams map[string]Team
	// byChat maps a chat handle to its person's index in people.
	byChat map[string]int
}

// File layout of org.yaml.
type fileDoc struct {
	Currency         string       `yaml:"currency"`
	ApprovalValidity string       `yaml:"approvalValidity"`
	People           []filePerson `yaml:"people"`
	Tiers            []fileTier   `yaml:"tiers"`
	// RoleApprovals are the waits for approvals the gate asks by role alone
	// (actions that are not payments); optional.
	RoleApprovals fileRoleApprovals `yaml:"roleApprovals"`
	// Teams, their on-call rotations and escalation chains, by team id
	// (teams.go); optional.
	Teams map[string]fileTeam `yaml:"teams"`
}

type fileRoleApprovals struct {
	ReminderAfter string `yaml:"reminderAfter"`
	EscalateAfter string `yaml:"escalateAfter"`
	ExpireAfter   string `yaml:"expireAfter"`
	Validity      string `yaml:"validity"`
}

type filePerson struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Email    string   `yaml:"email"`
	Roles    []string `yaml:"roles"`
	Manager  string   `yaml:"manager"`
	Delegate string   `yaml:"delegate"`
	Absent   bool     `yaml:"absent"`
	Keys     []string `yaml:"keys"`
	Chat     string   `yaml:"chat"`
}

type fileTier struct {
	Name          string   `yaml:"name"`
	UpTo          string   `yaml:"upTo"`
	Approvers     []string `yaml:"approvers"`
	ReminderAfter string   `yaml:"reminderAfter"`
	EscalateAfter string   `yaml:"escalateAfter"`
	ExpireAfter   string   `yaml:"expireAfter"`
	Validity      string   `yaml:"validity"`
}

// LoadDirectory reads and validates a directory file.
func LoadDirectory(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read org directory: %w", err)
	}
	d, err := ParseDirectory(data)
	if err != nil {
		return nil, fmt.Errorf("org directory %s: %w", path, err)
	}
	return d, nil
}

// DefaultDirectory returns the directory embedded from policy/org.yaml.
func DefaultDirectory() (*Directory, error) {
	d, err := ParseDirectory(defaultOrg)
	if err != nil {
		return nil, fmt.Errorf("embedded org directory: %w", err)
	}
	return d, nil
}

// ParseDirectory parses and validates a directory document. Errors name the
// offending key, e.g. `people[2].manager: unknown person "bob"`.
func ParseDirectory(data []byte) (*Directory, error) {
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key must not silently drop a rule
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	return build(doc)
}

func build(doc fileDoc) (*Directory, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	d := &Directory{currency: strings.TrimSpace(doc.Currency), byID: map[string]int{}, byChat: map[string]int{}}
	if d.currency == "" {
		fail("currency: required")
	} else if !isCurrencyCode(d.currency) {
		fail("currency: %q is not a three-letter ISO 4217 code", d.currency)
	}
	validity, err := parseDuration(doc.ApprovalValidity)
	if err != nil {
		fail("approvalValidity: %v", err)
	}

	// People: ids first, so that references can be checked in one pass.
	if len(doc.People) == 0 {
		fail("people: at least one person is required")
	}
	index := map[string]int{}
	roles := map[string]bool{}
	chats := map[string]int{}
	for i, p := range doc.People {
		switch {
		case p.ID == "":
			fail("people[%d].id: required", i)
		case !isID(p.ID):
			fail("people[%d].id: %q may contain only a-z, 0-9, '-', '_' and '.'", i, p.ID)
		default:
			if j, dup := index[p.ID]; dup {
				fail("people[%d].id: duplicate id %q (also people[%d])", i, p.ID, j)
			} else {
				index[p.ID] = i
			}
		}
		if strings.TrimSpace(p.Name) == "" {
			fail("people[%d].name: required", i)
		}
		if !isEmail(p.Email) {
			fail("people[%d].email: %q is not an email address", i, p.Email)
		}
		if p.Chat != "" {
			if !validChat(p.Chat) {
				fail("people[%d].chat: %q must match %s", i, p.Chat, chatRE)
			} else if j, dup := chats[p.Chat]; dup {
				fail("people[%d].chat: duplicate handle %q (also people[%d])", i, p.Chat, j)
			} else {
				chats[p.Chat] = i
			}
		}
		for j, k := range p.Keys {
			if _, err := proof.ParsePublicKey(k); err != nil {
				fail("people[%d].keys[%d]: %v", i, j, err)
			}
		}
		for j, r := range p.Roles {
			if !isID(r) {
				fail("people[%d].roles[%d]: %q may contain only a-z, 0-9, '-', '_' and '.'", i, j, r)
				continue
			}
			roles[r] = true
		}
	}
	for i, p := range doc.People {
		if p.Manager != "" {
			if _, ok := index[p.Manager]; !ok {
				fail("people[%d].manager: unknown person %q", i, p.Manager)
			} else if p.Manager == p.ID {
				fail("people[%d].manager: %q cannot be their own manager", i, p.ID)
			}
		}
		if p.Delegate != "" {
			if j, ok := index[p.Delegate]; !ok {
				fail("people[%d].delegate: unknown person %q", i, p.Delegate)
			} else if p.Delegate == p.ID {
				fail("people[%d].delegate: %q cannot delegate to themselves", i, p.ID)
			} else if doc.People[j].Absent && p.Absent {
				// Chains of absent delegates would need resolving at run time
				// and could loop; require a present stand-in.
				fail("people[%d].delegate: %q is absent too", i, p.Delegate)
			}
		}
		if p.Absent && p.Delegate == "" {
			fail("people[%d].delegate: required because %q is absent", i, p.ID)
		}
	}
	if len(errs) == 0 {
		if cyc := managerCycle(doc.People, index); cyc != "" {
			fail("people: manager chain loops: %s", cyc)
		}
	}

	// Tiers.
	if len(doc.Tiers) == 0 {
		fail("tiers: at least one tier is required")
	}
	tierNames := map[string]int{}
	for i, ft := range doc.Tiers {
		t := Tier{Name: ft.Name, Approvers: slices.Clone(ft.Approvers), Validity: validity}
		last := i == len(doc.Tiers)-1
		if !isID(ft.Name) {
			fail("tiers[%d].name: %q must be non-empty and contain only a-z, 0-9, '-', '_' and '.'", i, ft.Name)
		} else if j, dup := tierNames[ft.Name]; dup {
			fail("tiers[%d].name: duplicate tier %q (also tiers[%d])", i, ft.Name, j)
		} else {
			tierNames[ft.Name] = i
		}
		switch {
		case ft.UpTo == "" && !last:
			fail("tiers[%d].upTo: required on every tier but the last", i)
		case ft.UpTo == "":
			t.Unbounded = true
		default:
			v, err := parseAmount(ft.UpTo)
			if err != nil {
				fail("tiers[%d].upTo: %v", i, err)
			}
			t.UpToMinor = v
			if err == nil && i > 0 && d.tiers[i-1].UpToMinor > 0 && v <= d.tiers[i-1].UpToMinor {
				fail("tiers[%d].upTo: must be greater than tiers[%d].upTo", i, i-1)
			}
		}
		// Repeating a role ("two finance managers") is allowed: slots are
		// filled by distinct people anyway.
		for j, r := range ft.Approvers {
			if !roles[r] {
				fail("tiers[%d].approvers[%d]: unknown role %q (no person holds it)", i, j, r)
			}
		}
		durs := []struct {
			key string
			raw string
			dst *time.Duration
		}{
			{"reminderAfter", ft.ReminderAfter, &t.ReminderAfter},
			{"escalateAfter", ft.EscalateAfter, &t.EscalateAfter},
			{"expireAfter", ft.ExpireAfter, &t.ExpireAfter},
			{"validity", ft.Validity, &t.Validity},
		}
		for _, x := range durs {
			if x.raw == "" {
				continue
			}
			v, err := parseDuration(x.raw)
			if err != nil {
				fail("tiers[%d].%s: %v", i, x.key, err)
				continue
			}
			*x.dst = v
		}
		if len(ft.Approvers) == 0 {
			if ft.ReminderAfter != "" || ft.EscalateAfter != "" || ft.ExpireAfter != "" {
				fail("tiers[%d]: reminderAfter, escalateAfter and expireAfter apply only to tiers with approvers", i)
			}
		} else {
			if t.ExpireAfter <= 0 {
				fail("tiers[%d].expireAfter: required and positive for a tier with approvers", i)
			}
			if t.Validity <= 0 {
				fail("tiers[%d].validity: approvals need a positive validity (set approvalValidity or tiers[%d].validity)", i, i)
			}
			// Slots are filled one after another, each within expireAfter; the
			// first approval must still be valid when the last slot is filled,
			// or a slow but timely chain could never pay.
			if need := time.Duration(len(ft.Approvers)) * t.ExpireAfter; t.Validity > 0 && t.Validity < need {
				fail("tiers[%d].validity: %s is shorter than %d slots × expireAfter %s = %s; the first approval would lapse before the last slot can be filled",
					i, t.Validity, len(ft.Approvers), t.ExpireAfter, need)
			}
			if t.ReminderAfter > 0 && t.EscalateAfter > 0 && t.ReminderAfter >= t.EscalateAfter {
				fail("tiers[%d].reminderAfter: must be shorter than escalateAfter", i)
			}
			if t.EscalateAfter > 0 && t.ExpireAfter > 0 && t.EscalateAfter >= t.ExpireAfter {
				fail("tiers[%d].escalateAfter: must be shorter than expireAfter", i)
			}
			if t.ReminderAfter > 0 && t.ExpireAfter > 0 && t.ReminderAfter >= t.ExpireAfter {
				fail("tiers[%d].reminderAfter: must be shorter than expireAfter", i)
			}
		}
		d.tiers = append(d.tiers, t)
	}
	d.roleWaits = roleWaits(doc.RoleApprovals, fail)
	d.teams = buildTeams(doc.Teams, doc.People, index, roles, fail)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for _, p := range doc.People {
		d.people = append(d.people, Person{
			ID: p.ID, Name: strings.TrimSpace(p.Name), Email: p.Email, Roles: slices.Clone(p.Roles),
			Manager: p.Manager, Delegate: p.Delegate, Absent: p.Absent, Keys: slices.Clone(p.Keys), Chat: p.Chat,
		})
	}
	slices.SortFunc(d.people, func(a, b Person) int { return strings.Compare(a.ID, b.ID) })
	for i, p := range d.people {
		d.byID[p.ID] = i
		if p.Chat != "" {
			d.byChat[p.Chat] = i
		}
	}

	// Checks that need the assembled directory: every slot can be filled by
	// distinct people, and everyone who can be asked has somewhere to escalate.
	for i, t := range d.tiers {
		if len(t.Approvers) == 0 {
			continue
		}
		if !d.fillable(t.Approvers) {
			fail("tiers[%d].approvers: %s cannot be filled by %d distinct people", i, strings.Join(t.Approvers, " then "), len(t.Approvers))
		}
		for j, r := range t.Approvers {
			for _, p := range d.holders(r) {
				if p.Manager == "" {
					fail("tiers[%d].approvers[%d]: %q holds %q but has no manager to escalate to", i, j, p.ID, r)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// managerCycle returns a description of a loop in the manager chain, or "".
func managerCycle(people []filePerson, index map[string]int) string {
	const (
		unvisited = iota
		onPath
		done
	)
	state := make([]int, len(people))
	for start := range people {
		var path []string
		i := start
		for state[i] == unvisited {
			state[i] = onPath
			path = append(path, people[i].ID)
			m := people[i].Manager
			if m == "" {
				break
			}
			i = index[m]
			if state[i] == onPath {
				return strings.Join(append(path, people[i].ID), " -> ")
			}
		}
		for _, id := range path {
			state[index[id]] = done
		}
	}
	return ""
}

// fillable reports whether every role can be taken by a different person
// (small bipartite matching by backtracking; tiers have a handful of slots).
func (d *Directory) fillable(roles []string) bool {
	used := map[string]bool{}
	var try func(k int) bool
	try = func(k int) bool {
		if k == len(roles) {
			return true
		}
		for _, p := range d.holders(roles[k]) {
			if used[p.ID] {
				continue
			}
			used[p.ID] = true
			if try(k + 1) {
				return true
			}
			delete(used, p.ID)
		}
		return false
	}
	return try(0)
}

// holders returns the people holding role, sorted by id.
func (d *Directory) holders(role string) []Person {
	var out []Person
	for _, p := range d.people {
		if slices.Contains(p.Roles, role) {
			out = append(out, p)
		}
	}
	return out
}

// Currency is the currency tier limits are expressed in.
func (d *Directory) Currency() string { return d.currency }

// Tiers returns the approval tiers, lowest first.
func (d *Directory) Tiers() []Tier {
	out := make([]Tier, len(d.tiers))
	for i, t := range d.tiers {
		t.Approvers = slices.Clone(t.Approvers)
		out[i] = t
	}
	return out
}

// Person looks a person up by id.
func (d *Directory) Person(id string) (Person, bool) {
	i, ok := d.byID[id]
	if !ok {
		return Person{}, false
	}
	p := d.people[i]
	p.Roles = slices.Clone(p.Roles)
	return p, true
}

// People returns everyone, sorted by id.
func (d *Directory) People() []Person {
	out := make([]Person, len(d.people))
	for i, p := range d.people {
		p.Roles = slices.Clone(p.Roles)
		out[i] = p
	}
	return out
}

// TrustedKeys lists the people's own keys as proof trust entries: each may
// sign only for its person, with method "key".
func (d *Directory) TrustedKeys() (proof.Trust, error) {
	var t proof.Trust
	for _, p := range d.people {
		for _, k := range p.Keys {
			tk, err := proof.NewTrustedKey(proof.IssuerPerson, k, p.ID)
			if err != nil {
				return proof.Trust{}, fmt.Errorf("people %s: keys: %w", p.ID, err)
			}
			t.Keys = append(t.Keys, tk)
		}
	}
	return t, nil
}

// HasRole reports whether the person exists and holds role.
func (d *Directory) HasRole(personID, role string) bool {
	i, ok := d.byID[personID]
	return ok && slices.Contains(d.people[i].Roles, role)
}

// Plan returns the approval plan for a vendor payment. It fails for a
// currency other than the directory's (no silent conversion) and for a
// non-positive amount.
func (d *Directory) Plan(amountMinor int64, currency string) (Plan, error) {
	if currency != d.currency {
		return Plan{}, fmt.Errorf("currency: %q is not supported (approval limits are in %s)", currency, d.currency)
	}
	if amountMinor <= 0 {
		return Plan{}, fmt.Errorf("amountMinor: must be positive, got %d", amountMinor)
	}
	i := 0
	for i < len(d.tiers)-1 && amountMinor > d.tiers[i].UpToMinor {
		i++
	}
	t := d.tiers[i]
	if !t.Unbounded && amountMinor > t.UpToMinor {
		// The last tier has an explicit ceiling: nobody may approve more.
		return Plan{}, fmt.Errorf("amountMinor: %s %s is above the highest approval limit of %s %s",
			FormatAmount(amountMinor), currency, FormatAmount(t.UpToMinor), currency)
	}
	amt := FormatAmount(amountMinor) + " " + currency
	p := Plan{
		Tier:          t.Name,
		Autonomous:    len(t.Approvers) == 0,
		ReminderAfter: t.ReminderAfter,
		EscalateAfter: t.EscalateAfter,
		ExpireAfter:   t.ExpireAfter,
	}
	who := "no approval needed"
	if !p.Autonomous {
		who = strings.Join(t.Approvers, " then ")
		p.Validity = t.Validity
	}
	if i == 0 {
		limit := "any amount"
		if !t.Unbounded {
			limit = "the " + t.Name + " limit of " + FormatAmount(t.UpToMinor) + " " + currency
		}
		p.Reason = fmt.Sprintf("%s is within %s: %s", amt, limit, who)
	} else {
		prev := d.tiers[i-1]
		p.Reason = fmt.Sprintf("%s is above the %s limit of %s %s: %s", amt, prev.Name, FormatAmount(prev.UpToMinor), currency, who)
	}
	p.Slots = d.slots(t.Approvers)
	return p, nil
}

// slots lists the approval slots for roles with their candidates.
func (d *Directory) slots(roles []string) []Slot {
	var out []Slot
	for _, role := range roles {
		s := Slot{Role: role}
		for _, h := range d.holders(role) {
			c := Candidate{ID: h.ID, Name: h.Name, Email: h.Email, Manager: h.Manager}
			if h.Absent {
				c.Delegate = h.Delegate
			}
			s.Candidates = append(s.Candidates, c)
		}
		out = append(out, s)
	}
	return out
}

// FormatAmount renders minor units the way people read them in the
// directory's reasons: "48 000.00" (space-grouped thousands, two decimals).
func FormatAmount(minor int64) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	units := strconv.FormatInt(minor/100, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	fmt.Fprintf(&b, ".%02d", minor%100)
	return b.String()
}

// parseAmount parses a non-negative decimal string with at most two decimals
// into minor units. Floats are avoided so limits are exact.
func parseAmount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > minorDigits)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a decimal amount like \"25000.00\"", s)
	}
	for len(frac) < minorDigits {
		frac += "0"
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return v, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like \"24h\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q must not be negative", s)
	}
	return v, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func isEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n<>,;\"")
}
