package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanForRolesOnTheDefaultDirectory(t *testing.T) {
	d, err := DefaultDirectory()
	require.NoError(t, err)
	lee := Slot{Role: "release-manager", Candidates: []Candidate{{ID: "lee", Name: "Lee Park", Email: "lee@example.com", Manager: "sofia"}}}
	ines := Slot{Role: "comms-lead", Candidates: []Candidate{{ID: "ines", Name: "Ines Duarte", Email: "ines@example.com", Manager: "sofia"}}}
	fm := Slot{Role: "finance-manager", Candidates: []Candidate{
		{ID: "maria", Name: "Maria Rossi", Email: "maria@example.com", Manager: "chen"},
		{ID: "omar", Name: "Omar Haddad", Email: "omar@example.com", Manager: "chen", Delegate: "maria"},
	}}
	waits := func(p Plan) Plan {
		p.ReminderAfter, p.EscalateAfter, p.ExpireAfter, p.Validity = time.Hour, 4*time.Hour, 24*time.Hour, 24*time.Hour
		return p
	}
	tests := []struct {
		name    string
		roles   []string
		want    Plan
		wantErr string
	}{
		{name: "no roles is autonomous", roles: nil,
			want: Plan{Tier: "autonomous", Autonomous: true, Reason: "the gate admits the action without people"}},
		{name: "empty roles is autonomous", roles: []string{},
			want: Plan{Tier: "autonomous", Autonomous: true, Reason: "the gate admits the action without people"}},
		{name: "a release manager", roles: []string{"release-manager"},
			want: waits(Plan{Tier: "release-manager", Reason: "why", Slots: []Slot{lee}})},
		{name: "two roles in the order given", roles: []string{"comms-lead", "release-manager"},
			want: waits(Plan{Tier: "comms-lead+release-manager", Reason: "why", Slots: []Slot{ines, lee}})},
		{name: "an absent holder is listed with the delegate", roles: []string{"finance-manager"},
			want: waits(Plan{Tier: "finance-manager", Reason: "why", Slots: []Slot{fm}})},
		{name: "a role nobody holds", roles: []string{"astronaut"}, wantErr: `roles[0]: nobody in the directory holds "astronaut"`},
		{name: "an empty role", roles: []string{""}, wantErr: `roles[0]: nobody in the directory holds ""`},
		{name: "a role nobody holds after a good one", roles: []string{"release-manager", "astronaut"}, wantErr: `roles[1]: nobody in the directory holds "astronaut"`},
		{name: "a role asked twice", roles: []string{"release-manager", "release-manager"}, wantErr: `roles[1]: "release-manager" asked twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.PlanForRoles(tc.roles, "why")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, Plan{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// roleDoc is a small directory where lee holds two roles, with roleApprovals
// replaced by %ROLES%.
const roleDoc = `
currency: EUR
approvalValidity: 48h
people:
  - {id: lee, name: Lee, email: lee@example.com, roles: [release-manager, comms-lead], manager: sofia}
  - {id: sofia, name: Sofia, email: sofia@example.com, roles: [ceo]}
tiers:
  - {name: auto}
%ROLES%
`

func roleDocWith(block string) []byte { return []byte(strings.Replace(roleDoc, "%ROLES%", block, 1)) }

func TestPlanForRolesNeedsDistinctPeople(t *testing.T) {
	d, err := ParseDirectory(roleDocWith(""))
	require.NoError(t, err)
	p, err := d.PlanForRoles([]string{"release-manager"}, "")
	require.NoError(t, err)
	require.Len(t, p.Slots, 1)

	_, err = d.PlanForRoles([]string{"release-manager", "comms-lead"}, "")
	require.Error(t, err, "lee alone cannot fill two slots")
	assert.Contains(t, err.Error(), "roles: release-manager then comms-lead cannot be filled by 2 distinct people")
}

func TestRoleApprovalsWaits(t *testing.T) {
	tests := []struct {
		name    string
		block   string
		want    [4]time.Duration // reminder, escalate, expire, validity
		wantErr string
	}{
		{name: "defaults without the block", block: "",
			want: [4]time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 24 * time.Hour}},
		{name: "all set", block: "roleApprovals: {reminderAfter: 30m, escalateAfter: 2h, expireAfter: 8h, validity: 12h}",
			want: [4]time.Duration{30 * time.Minute, 2 * time.Hour, 8 * time.Hour, 12 * time.Hour}},
		{name: "validity equal to expiry", block: "roleApprovals: {expireAfter: 8h, validity: 8h}",
			want: [4]time.Duration{time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour}},
		{name: "some set, the rest default", block: "roleApprovals: {validity: 48h}",
			want: [4]time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 48 * time.Hour}},
		{name: "reminder not before escalation", block: "roleApprovals: {reminderAfter: 4h, escalateAfter: 4h}",
			wantErr: "roleApprovals.reminderAfter: must be shorter than escalateAfter"},
		{name: "reminder after escalation by default", block: "roleApprovals: {reminderAfter: 5h}",
			wantErr: "roleApprovals.reminderAfter: must be shorter than escalateAfter"},
		{name: "escalation not before expiry", block: "roleApprovals: {escalateAfter: 24h}",
			wantErr: "roleApprovals.escalateAfter: must be shorter than expireAfter"},
		{name: "validity shorter than expiry", block: "roleApprovals: {validity: 12h}",
			wantErr: "roleApprovals.validity: 12h0m0s is shorter than expireAfter 24h0m0s"},
		{name: "validity shorter than a longer expiry", block: "roleApprovals: {expireAfter: 48h}",
			wantErr: "roleApprovals.validity: 24h0m0s is shorter than expireAfter 48h0m0s"},
		{name: "bad duration", block: "roleApprovals: {expireAfter: soon}",
			wantErr: `roleApprovals.expireAfter: "soon" is not a duration`},
		{name: "negative duration", block: "roleApprovals: {reminderAfter: -1h}",
			wantErr: `roleApprovals.reminderAfter: "-1h" must not be negative`},
		{name: "misspelt key", block: "roleApprovals: {expireAftr: 8h}",
			wantErr: "field expireAftr not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDirectory(roleDocWith(tc.block))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Nil(t, d)
				return
			}
			require.NoError(t, err)
			p, err := d.PlanForRoles([]string{"release-manager"}, "")
			require.NoError(t, err)
			assert.Equal(t, tc.want, [4]time.Duration{p.ReminderAfter, p.EscalateAfter, p.ExpireAfter, p.Validity})
		})
	}
}

// org.yaml's roleApprovals.validity is what agentaction.cedar's
// agent.approval.validity allows (86400 s).
func TestDefaultRoleApprovalValidityMatchesThePolicy(t *testing.T) {
	d, err := DefaultDirectory()
	require.NoError(t, err)
	p, err := d.PlanForRoles([]string{"comms-lead"}, "")
	require.NoError(t, err)
	assert.Equal(t, 86400*time.Second, p.Validity)
}
