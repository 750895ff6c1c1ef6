package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// PlanWithRoles is Plan for an action the gate says needs approvals of
// roles: when the amount's tier asks for fewer, the plan is the lowest tier
// at or above it whose approvers include every role. The gate decides
// whether people are needed (policy/*.cedar); the directory says who they
// are and how long to wait for them.
func (d *Directory) PlanWithRoles(amountMinor int64, currency string, roles []string) (Plan, error) {
	p, err := d.Plan(amountMinor, currency)
	if err != nil || len(roles) == 0 {
		return p, err
	}
	start := slices.IndexFunc(d.tiers, func(t Tier) bool { return t.Name == p.Tier })
	for i := start; i >= 0 && i < len(d.tiers); i++ {
		t := d.tiers[i]
		if !containsAll(t.Approvers, roles) {
			continue
		}
		if i == start {
			return p, nil
		}
		q, err := d.planForTier(i, amountMinor, currency)
		if err != nil {
			return Plan{}, err
		}
		q.Reason = fmt.Sprintf("%s %s: the gate asks for %s approval; tier %s: %s",
			FormatAmount(amountMinor), currency, strings.Join(roles, " and "), t.Name, strings.Join(t.Approvers, " then "))
		return q, nil
	}
	return Plan{}, fmt.Errorf("roles: no approval tier at or above %s asks for %s", p.Tier, strings.Join(roles, ", "))
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// planForTier builds the plan of tier i.
func (d *Directory) planForTier(i int, amountMinor int64, currency string) (Plan, error) {
	t := d.tiers[i]
	if len(t.Approvers) == 0 {
		return Plan{}, fmt.Errorf("tier %s has no approvers", t.Name)
	}
	p := Plan{Tier: t.Name, ReminderAfter: t.ReminderAfter, EscalateAfter: t.EscalateAfter, ExpireAfter: t.ExpireAfter, Validity: t.Validity}
	p.Slots = d.slots(t.Approvers)
	return p, nil
}

// Default waits for approvals asked by role alone, when org.yaml has no
// roleApprovals block.
const (
	defaultRoleReminder = time.Hour
	defaultRoleEscalate = 4 * time.Hour
	defaultRoleExpire   = 24 * time.Hour
)

// roleWaits reads the roleApprovals block; problems go to fail, naming the key.
func roleWaits(f fileRoleApprovals, fail func(format string, args ...any)) Tier {
	t := Tier{Name: "role", ReminderAfter: defaultRoleReminder, EscalateAfter: defaultRoleEscalate, ExpireAfter: defaultRoleExpire, Validity: defaultRoleExpire}
	for _, x := range []struct {
		key, val string
		dst      *time.Duration
	}{
		{"reminderAfter", f.ReminderAfter, &t.ReminderAfter},
		{"escalateAfter", f.EscalateAfter, &t.EscalateAfter},
		{"expireAfter", f.ExpireAfter, &t.ExpireAfter},
		{"validity", f.Validity, &t.Validity},
	} {
		if x.val == "" {
			continue
		}
		v, err := parseDuration(x.val)
		if err != nil {
			fail("roleApprovals.%s: %v", x.key, err)
			continue
		}
		*x.dst = v
	}
	switch {
	case t.ReminderAfter >= t.EscalateAfter:
		fail("roleApprovals.reminderAfter: must be shorter than escalateAfter")
	case t.EscalateAfter >= t.ExpireAfter:
		fail("roleApprovals.escalateAfter: must be shorter than expireAfter")
	case t.Validity < t.ExpireAfter:
		fail("roleApprovals.validity: %s is shorter than expireAfter %s; an approval would lapse while the slot still waits", t.Validity, t.ExpireAfter)
	}
	return t
}

// PlanForRoles is the plan for an action that is not a payment (an agent's
// deploy or email): one slot per role the gate asks for, in the order given,
// with the roleApprovals waits. No roles means autonomous.
func (d *Directory) PlanForRoles(roles []string, reason string) (Plan, error) {
	if len(roles) == 0 {
		return Plan{Tier: "autonomous", Autonomous: true, Reason: "the gate admits the action without people"}, nil
	}
	for i, r := range roles {
		if len(d.holders(r)) == 0 {
			return Plan{}, fmt.Errorf("roles[%d]: nobody in the directory holds %q", i, r)
		}
		if slices.Index(roles, r) != i {
			return Plan{}, fmt.Errorf("roles[%d]: %q asked twice", i, r)
		}
	}
	if !d.fillable(roles) {
		return Plan{}, fmt.Errorf("roles: %s cannot be filled by %d distinct people", strings.Join(roles, " then "), len(roles))
	}
	w := d.roleWaits
	return Plan{
		Tier: strings.Join(roles, "+"), Reason: reason, Slots: d.slots(roles),
		ReminderAfter: w.ReminderAfter, EscalateAfter: w.EscalateAfter, ExpireAfter: w.ExpireAfter, Validity: w.Validity,
	}, nil
}
