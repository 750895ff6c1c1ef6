package policy

import (
	"fmt"
	"slices"
	"strings"
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
