package agentaction

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/policy"
)

const policyDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// agentCtx is the context Activities.admit passes for an agent's action with
// no approvals: every key policy/agentaction.cedar lists, on a Wednesday at
// 10:00 UTC, the agent 90% confident and verified.
func agentCtx(target string, kv map[string]any) map[string]any {
	ctx := map[string]any{
		"confidencePercent":        int64(90),
		"digest":                   policyDigest,
		"target":                   target,
		"externalRecipient":        false,
		"approvalCount":            int64(0),
		"approvedDigests":          []string{},
		"approvedTargets":          []string{},
		"approverRoles":            []string{},
		"oldestApprovalAgeSeconds": int64(0),
		"minuteOfDayUTC":           int64(600),
		"weekdayUTC":               int64(3),
		"requesterVerified":        true,
	}
	maps.Copy(ctx, kv)
	return ctx
}

// inWindow is Saturday 03:00 UTC, inside production's maintenance window.
var inWindow = map[string]any{"weekdayUTC": int64(6), "minuteOfDayUTC": int64(180)}

// approvedByReleaseManager is one verified release-manager approval of this
// exact action for target, given an hour ago.
func approvedByReleaseManager(target string) map[string]any {
	return map[string]any{
		"approvalCount":            int64(1),
		"approvedDigests":          []string{policyDigest},
		"approvedTargets":          []string{target},
		"approverRoles":            []string{"release-manager"},
		"oldestApprovalAgeSeconds": int64(3600),
	}
}

func merged(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

var (
	agentBot      = gate.Entity{Type: "Agent", ID: "bot"}
	unverifiedBot = gate.Entity{Type: "Unverified", ID: "agent:bot"}
)

// TestAgentActionRules decides, against the repository's policy files (the
// directory and the embedded copy), requests shaped as Activities.admit
// builds them.
func TestAgentActionRules(t *testing.T) {
	tests := []struct {
		name         string
		principal    gate.Entity // zero: agentBot
		kind         string
		target       string
		ctx          map[string]any
		want         []string // reason policy ids; nil = permit
		approvalOnly bool
		roles        []string
	}{
		{name: "staging deploy at 90%", kind: KindDeploy, target: TargetStaging, ctx: agentCtx(TargetStaging, nil)},
		{name: "staging deploy at exactly 80%", kind: KindDeploy, target: TargetStaging,
			ctx: agentCtx(TargetStaging, map[string]any{"confidencePercent": int64(80)})},
		{name: "staging deploy at 50% asks a release manager", kind: KindDeploy, target: TargetStaging,
			ctx:  agentCtx(TargetStaging, map[string]any{"confidencePercent": int64(50)}),
			want: []string{"agent.confidence"}, approvalOnly: true, roles: []string{"release-manager"}},
		{name: "staging deploy at 79% asks a release manager", kind: KindDeploy, target: TargetStaging,
			ctx:  agentCtx(TargetStaging, map[string]any{"confidencePercent": int64(79)}),
			want: []string{"agent.confidence"}, approvalOnly: true, roles: []string{"release-manager"}},
		{name: "staging deploy at 50% approved by a release manager", kind: KindDeploy, target: TargetStaging,
			ctx: agentCtx(TargetStaging, merged(map[string]any{"confidencePercent": int64(50)}, approvedByReleaseManager(TargetStaging)))},
		{name: "production outside the window is never approval-only", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, nil),
			want: []string{"deploy.maintenance-window", "deploy.production.approval"}, roles: []string{"release-manager"}},
		{name: "production outside the window, even approved", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, approvedByReleaseManager(TargetProduction)),
			want: []string{"deploy.maintenance-window"}},
		{name: "production inside the window asks a release manager", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, inWindow),
			want: []string{"deploy.production.approval"}, approvalOnly: true, roles: []string{"release-manager"}},
		{name: "window opens at 02:00", kind: KindDeploy, target: TargetProduction,
			ctx: agentCtx(TargetProduction, merged(approvedByReleaseManager(TargetProduction), map[string]any{"weekdayUTC": int64(6), "minuteOfDayUTC": int64(120)}))},
		{name: "window closes at 06:00", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(approvedByReleaseManager(TargetProduction), map[string]any{"weekdayUTC": int64(6), "minuteOfDayUTC": int64(360)})),
			want: []string{"deploy.maintenance-window"}},
		{name: "window is on Saturday only", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(approvedByReleaseManager(TargetProduction), map[string]any{"weekdayUTC": int64(0), "minuteOfDayUTC": int64(180)})),
			want: []string{"deploy.maintenance-window"}},
		{name: "production inside the window approved by a release manager", kind: KindDeploy, target: TargetProduction,
			ctx: agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction)))},
		{name: "an approval for staging never admits production", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetStaging))),
			want: []string{"agent.target.binding"}},
		{name: "approvals for production and staging", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction), map[string]any{"approvedTargets": []string{TargetProduction, TargetStaging}})),
			want: []string{"agent.target.binding"}},
		{name: "approval of another digest", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction), map[string]any{"approvedDigests": []string{"sha256:2222"}})),
			want: []string{"agent.digest.equality"}},
		{name: "approval older than 24h", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction), map[string]any{"oldestApprovalAgeSeconds": int64(90000)})),
			want: []string{"agent.approval.validity"}},
		{name: "approval exactly 24h old", kind: KindDeploy, target: TargetProduction,
			ctx: agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction), map[string]any{"oldestApprovalAgeSeconds": int64(86400)}))},
		{name: "approval by another role does not lift", kind: KindDeploy, target: TargetProduction,
			ctx:  agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction), map[string]any{"approverRoles": []string{"comms-lead"}})),
			want: []string{"deploy.production.approval"}, approvalOnly: true, roles: []string{"release-manager"}},
		{name: "unverified principal", principal: unverifiedBot, kind: KindDeploy, target: TargetStaging,
			ctx:  agentCtx(TargetStaging, map[string]any{"requesterVerified": false}),
			want: []string{"agent.verified"}},
		{name: "unverified principal whose context claims verification", principal: unverifiedBot, kind: KindDeploy, target: TargetStaging,
			ctx:  agentCtx(TargetStaging, nil),
			want: []string{"agent.verified"}},
		{name: "agent principal without verification", kind: KindDeploy, target: TargetStaging,
			ctx:  agentCtx(TargetStaging, map[string]any{"requesterVerified": false}),
			want: []string{"agent.verified"}},
		{name: "a person is not an agent", principal: gate.Entity{Type: "Person", ID: "lee"}, kind: KindDeploy, target: TargetStaging,
			ctx:  agentCtx(TargetStaging, nil),
			want: []string{"agent.verified"}},
		{name: "unverified email", principal: unverifiedBot, kind: KindEmail, target: "bob@example.com",
			ctx:  agentCtx("bob@example.com", map[string]any{"confidencePercent": int64(95), "requesterVerified": false}),
			want: []string{"agent.verified"}},
		{name: "email to an external recipient asks a comms lead", kind: KindEmail, target: "partner@other.example",
			ctx:  agentCtx("partner@other.example", map[string]any{"externalRecipient": true}),
			want: []string{"email.external"}, approvalOnly: true, roles: []string{"comms-lead"}},
		{name: "external email approved by a comms lead", kind: KindEmail, target: "partner@other.example",
			ctx: agentCtx("partner@other.example", map[string]any{
				"externalRecipient": true, "approvalCount": int64(1), "approvedDigests": []string{policyDigest},
				"approvedTargets": []string{"partner@other.example"}, "approverRoles": []string{"comms-lead"}, "oldestApprovalAgeSeconds": int64(60),
			})},
		{name: "external email approved by a release manager", kind: KindEmail, target: "partner@other.example",
			ctx: agentCtx("partner@other.example", map[string]any{
				"externalRecipient": true, "approvalCount": int64(1), "approvedDigests": []string{policyDigest},
				"approvedTargets": []string{"partner@other.example"}, "approverRoles": []string{"release-manager"}, "oldestApprovalAgeSeconds": int64(60),
			}),
			want: []string{"email.external"}, approvalOnly: true, roles: []string{"comms-lead"}},
		{name: "internal email at 95%", kind: KindEmail, target: "bob@example.com",
			ctx: agentCtx("bob@example.com", map[string]any{"confidencePercent": int64(95)})},
		{name: "internal email at 60% asks a comms lead", kind: KindEmail, target: "bob@example.com",
			ctx:  agentCtx("bob@example.com", map[string]any{"confidencePercent": int64(60)}),
			want: []string{"email.confidence"}, approvalOnly: true, roles: []string{"comms-lead"}},
		{name: "external email at 60%: one comms-lead approval lifts both", kind: KindEmail, target: "partner@other.example",
			ctx:  agentCtx("partner@other.example", map[string]any{"confidencePercent": int64(60), "externalRecipient": true}),
			want: []string{"email.confidence", "email.external"}, approvalOnly: true, roles: []string{"comms-lead"}},
		{name: "email is not held to the deploy window", kind: KindEmail, target: "bob@example.com",
			ctx: agentCtx("bob@example.com", map[string]any{"weekdayUTC": int64(1), "minuteOfDayUTC": int64(1439)})},
	}
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	sources := []struct {
		name string
		src  gate.Source
	}{
		{"directory", gate.DirSource("../../policy")},
		{"embedded", gate.FSSource(policy.DefaultPolicies())},
	}
	for _, s := range sources {
		eng, err := gate.Open(s.src, func() time.Time { return now }, nil)
		require.NoError(t, err, s.name)
		for _, tc := range tests {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				principal := tc.principal
				if principal == (gate.Entity{}) {
					principal = agentBot
				}
				d, err := eng.Decide(context.Background(), gate.Request{
					Principal: principal, Action: tc.kind, Resource: gate.Entity{Type: "Target", ID: tc.target}, Context: tc.ctx,
				})
				require.NoError(t, err)
				assert.Empty(t, d.Errors, "every context key the policies read is passed")
				var ids []string
				for _, r := range d.Reasons {
					ids = append(ids, r.PolicyID)
					assert.NotEmpty(t, r.Message, "rule %s explains itself", r.PolicyID)
				}
				assert.Equal(t, tc.want, ids, "decision: %s", d)
				assert.Equal(t, tc.want == nil, d.Permit, "decision: %s", d)
				assert.Equal(t, tc.approvalOnly, d.NeedsApprovalOnly(), "decision: %s", d)
				if tc.want != nil {
					assert.Equal(t, tc.roles, d.ApprovalRoles())
				}
				assert.NotEmpty(t, d.PolicySetHash)
			})
		}
	}
}

// A context missing a key the rules read is a deny with an evaluation
// error, never a permit: admit must pass every key.
func TestAgentActionRulesFailClosedOnMissingContext(t *testing.T) {
	eng, err := gate.Open(gate.FSSource(policy.DefaultPolicies()), time.Now, nil)
	require.NoError(t, err)
	for _, key := range slices.Sorted(maps.Keys(agentCtx(TargetStaging, nil))) {
		t.Run(key, func(t *testing.T) {
			ctx := agentCtx(TargetProduction, merged(inWindow, approvedByReleaseManager(TargetProduction)))
			delete(ctx, key)
			d, err := eng.Decide(context.Background(), gate.Request{
				Principal: agentBot, Action: KindDeploy, Resource: gate.Entity{Type: "Target", ID: TargetProduction}, Context: ctx,
			})
			require.NoError(t, err)
			if key == "externalRecipient" {
				// Only email rules read it.
				assert.True(t, d.Permit, "decision: %s", d)
				return
			}
			assert.False(t, d.Permit, "without %s the gate must not permit: %s", key, d)
			assert.False(t, d.NeedsApprovalOnly())
		})
	}
}
