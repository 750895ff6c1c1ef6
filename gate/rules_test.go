package gate

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/policy"
)

// TestVendorPaymentRules runs the repository's real policy files, from the
// directory and from the embedded copy, through every rule's edges.
func TestVendorPaymentRules(t *testing.T) {
	tests := []struct {
		name         string
		action       string // default vendor_payment.release
		ctx          map[string]any
		want         []string // reason policy ids; nil means permit
		approvalOnly bool
		roles        []string
		errors       bool // evaluation errors expected
	}{
		{name: "autonomous 4 000.00", ctx: releaseCtx()},
		{name: "exactly the threshold is autonomous", ctx: with(map[string]any{"amountMinor": 500000})},
		{
			name: "5 000.01 without approval", ctx: with(map[string]any{"amountMinor": 500001}),
			// The daily cap also fires: the payment alone exceeds it.
			want: []string{"autonomy.threshold", "vendor.daily-cap"}, approvalOnly: true, roles: []string{"finance-manager"},
		},
		{name: "6 000.00 approved by a finance manager", ctx: with(merge(map[string]any{"amountMinor": 600000}, approvedBy(1, "finance-manager")))},
		{
			name: "6 000.00 approved by a controller only", ctx: with(merge(map[string]any{"amountMinor": 600000}, approvedBy(1, "controller"))),
			want: []string{"autonomy.threshold"}, approvalOnly: true, roles: []string{"finance-manager"},
		},
		{
			name: "30 000.00 without approval", ctx: with(map[string]any{"amountMinor": 3000000}),
			want: []string{"autonomy.threshold", "tier.cfo", "vendor.daily-cap"}, approvalOnly: true, roles: []string{"cfo", "finance-manager"},
		},
		{
			name: "30 000.00 approved by a finance manager only", ctx: with(merge(map[string]any{"amountMinor": 3000000}, approvedBy(1, "finance-manager"))),
			want: []string{"tier.cfo"}, approvalOnly: true, roles: []string{"cfo"},
		},
		{name: "30 000.00 approved by finance manager and CFO", ctx: with(merge(map[string]any{"amountMinor": 3000000}, approvedBy(2, "finance-manager", "cfo")))},
		{name: "exactly 25 000.00 needs no CFO", ctx: with(merge(map[string]any{"amountMinor": 2500000}, approvedBy(1, "finance-manager")))},
		{
			name: "approval just older than 168h", ctx: with(merge(map[string]any{"amountMinor": 600000}, approvedBy(1, "finance-manager"), map[string]any{"oldestApprovalAgeSeconds": 604801})),
			want: []string{"approval.validity"},
		},
		{name: "approval exactly 168h old", ctx: with(merge(map[string]any{"amountMinor": 600000}, approvedBy(1, "finance-manager"), map[string]any{"oldestApprovalAgeSeconds": 604800}))},
		{
			name: "approval for another digest", ctx: with(merge(approvedBy(1, "finance-manager"), map[string]any{"approvedDigests": []string{"sha256:2222"}})),
			want: []string{"digest.equality"},
		},
		{
			name: "approvals for this and another digest", ctx: with(merge(approvedBy(2, "finance-manager", "cfo"), map[string]any{"approvedDigests": []string{testDigest, "sha256:2222"}})),
			want: []string{"digest.equality"},
		},
		{
			name: "approvals without digests", ctx: with(merge(approvedBy(1, "finance-manager"), map[string]any{"approvedDigests": []string{}})),
			want: []string{"digest.equality"},
		},
		{name: "two approvals for the same digest", ctx: with(merge(approvedBy(2, "finance-manager", "cfo"), map[string]any{"approvedDigests": []string{testDigest, testDigest}}))},
		{
			name: "approval for another account", ctx: with(merge(approvedBy(1, "finance-manager"), map[string]any{"approvedTargets": []string{"V-100/DE00000000000000000000"}})),
			want: []string{"target.binding"},
		},
		{
			name: "approvals without targets", ctx: with(merge(approvedBy(1, "finance-manager"), map[string]any{"approvedTargets": []string{}})),
			want: []string{"target.binding"},
		},
		{
			name: "split invoice: 1 000.00 after 4 500.00 today", ctx: with(map[string]any{"amountMinor": 100000, "vendorReleasedTodayMinor": 450000}),
			want: []string{"vendor.daily-cap"}, approvalOnly: true, roles: []string{"finance-manager"},
		},
		{name: "1 000.00 after 4 000.00 today reaches the cap exactly", ctx: with(map[string]any{"amountMinor": 100000, "vendorReleasedTodayMinor": 400000})},
		{name: "over the daily cap with an approval", ctx: with(merge(map[string]any{"amountMinor": 100000, "vendorReleasedTodayMinor": 450000}, approvedBy(1, "finance-manager")))},
		{
			name: "daily cap sum overflows: evaluation error, deny", ctx: with(map[string]any{"amountMinor": 100, "vendorReleasedTodayMinor": int64(math.MaxInt64)}),
			errors: true,
		},
		{name: "23:49 UTC", ctx: with(map[string]any{"minuteOfDayUTC": 1429})},
		{name: "23:50 UTC", ctx: with(map[string]any{"minuteOfDayUTC": 1430}), want: []string{"payment.window"}},
		{name: "23:59 UTC", ctx: with(map[string]any{"minuteOfDayUTC": 1439}), want: []string{"payment.window"}},
		{
			name: "threshold inside the cut-off is not approval-only", ctx: with(map[string]any{"amountMinor": 600000, "minuteOfDayUTC": 1435}),
			want: []string{"autonomy.threshold", "payment.window", "vendor.daily-cap"}, roles: []string{"finance-manager"},
		},
		{
			name: "threshold with a wrong-digest approval is not approval-only", ctx: with(merge(map[string]any{"amountMinor": 600000}, approvedBy(1, "controller"), map[string]any{"approvedDigests": []string{"sha256:2222"}})),
			want: []string{"autonomy.threshold", "digest.equality"}, roles: []string{"finance-manager"},
		},
		{
			name: "rules are scoped to vendor_payment.release", action: "vendor_payment.cancel",
			ctx: with(map[string]any{"amountMinor": 9000000, "minuteOfDayUTC": 1435}),
		},
	}

	sources := []struct {
		name string
		src  Source
	}{
		{"dir", DirSource("../policy")},
		{"embedded", FSSource(policy.DefaultPolicies())},
	}
	var hashes []string
	for _, s := range sources {
		e, err := Open(s.src, fixedClock, nil)
		require.NoError(t, err)
		hashes = append(hashes, e.PolicySetHash())
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				req := releaseReq(tt.ctx)
				if tt.action != "" {
					req.Action = tt.action
				}
				d, err := e.Decide(context.Background(), req)
				require.NoError(t, err)

				assert.Equal(t, tt.want == nil && !tt.errors, d.Permit, d.String())
				var ids []string
				for _, r := range d.Reasons {
					ids = append(ids, r.PolicyID)
					assert.NotEmpty(t, r.Message, "every rule explains itself: %s", r.PolicyID)
				}
				assert.Equal(t, tt.want, ids)
				assert.Equal(t, tt.approvalOnly, d.NeedsApprovalOnly())
				assert.Equal(t, tt.roles, d.ApprovalRoles())
				assert.Equal(t, tt.errors, len(d.Errors) > 0, d.Errors)
				assert.Equal(t, e.PolicySetHash(), d.PolicySetHash)
				assert.True(t, strings.HasPrefix(d.PolicySetHash, "sha256:"))
				assert.Equal(t, decisionTime, d.At)
			})
		}
	}
	// The embedded files are the directory's files, so they hash alike.
	assert.Equal(t, hashes[0], hashes[1])
}

func TestMissingContextKeyDenies(t *testing.T) {
	e, err := Open(DirSource("../policy"), fixedClock, nil)
	require.NoError(t, err)
	ctx := releaseCtx()
	delete(ctx, "minuteOfDayUTC")

	d, err := e.Decide(context.Background(), releaseReq(ctx))
	require.NoError(t, err)
	assert.False(t, d.Permit)
	assert.Empty(t, d.Reasons)
	require.Len(t, d.Errors, 1)
	assert.Contains(t, d.Errors[0], "payment.window (payment-window.cedar:")
	assert.Contains(t, d.Errors[0], "minuteOfDayUTC")
	assert.False(t, d.NeedsApprovalOnly())
	assert.Contains(t, d.String(), "deny: evaluation errors: payment.window")
}

func TestInvalidRequest(t *testing.T) {
	e, err := Open(FSSource(policy.DefaultPolicies()), fixedClock, nil)
	require.NoError(t, err)
	tests := []struct {
		name    string
		mutate  func(*Request)
		wantMsg string
	}{
		{"float amount", func(r *Request) { r.Context["amountMinor"] = 4000.0 }, `context key "amountMinor" has unsupported type float64`},
		{"uint", func(r *Request) { r.Context["approvalCount"] = uint(1) }, `context key "approvalCount" has unsupported type uint`},
		{"nil value", func(r *Request) { r.Context["currency"] = nil }, `context key "currency" has unsupported type <nil>`},
		{"[]any", func(r *Request) { r.Context["approverRoles"] = []any{"cfo"} }, `context key "approverRoles" has unsupported type []interface {}`},
		{"nested record", func(r *Request) { r.Context["meta"] = map[string]any{"ok": "x", "at": decisionTime} }, `context key "meta.at" has unsupported type time.Time`},
		{"bad principal type", func(r *Request) { r.Principal.Type = "not a type" }, "principal type"},
		{"empty resource id", func(r *Request) { r.Resource.ID = "" }, "empty id"},
		{"empty action", func(r *Request) { r.Action = "" }, "empty action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := releaseReq(releaseCtx())
			tt.mutate(&req)
			_, err := e.Decide(context.Background(), req)
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.NotErrorIs(t, err, ErrUndecidable)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestNestedRecordAndCanceledContext(t *testing.T) {
	e, err := Open(FSSource(policy.DefaultPolicies()), fixedClock, nil)
	require.NoError(t, err)

	// A record value is accepted (no policy reads it).
	d, err := e.Decide(context.Background(), releaseReq(with(map[string]any{"meta": map[string]any{"n": 1, "tags": []string{"a"}}})))
	require.NoError(t, err)
	assert.True(t, d.Permit, d.String())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Decide(ctx, releaseReq(releaseCtx()))
	require.ErrorIs(t, err, context.Canceled)
}

func TestDecisionMethods(t *testing.T) {
	threshold := Reason{PolicyID: "autonomy.threshold", Approval: "finance-manager", Message: "above 5 000.00"}
	cfo := Reason{PolicyID: "tier.cfo", Approval: "cfo"}
	window := Reason{PolicyID: "payment.window", Message: "cut-off"}
	tests := []struct {
		name         string
		d            Decision
		approvalOnly bool
		roles        []string
		str          string
	}{
		{"permit", Decision{Permit: true, PolicySetHash: "sha256:ab"}, false, nil, "permit (policies sha256:ab)"},
		{"approval only", Decision{Reasons: []Reason{threshold, cfo, threshold}}, true, []string{"cfo", "finance-manager"},
			"deny: autonomy.threshold (above 5 000.00), tier.cfo, autonomy.threshold (above 5 000.00)"},
		{"hard reason", Decision{Reasons: []Reason{threshold, window}}, false, []string{"finance-manager"},
			"deny: autonomy.threshold (above 5 000.00), payment.window (cut-off)"},
		{"errors", Decision{Reasons: []Reason{threshold}, Errors: []string{"x: boom"}}, false, []string{"finance-manager"},
			"deny: autonomy.threshold (above 5 000.00); evaluation errors: x: boom"},
		{"no reason", Decision{}, false, nil, "deny: no permit policy matched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.approvalOnly, tt.d.NeedsApprovalOnly())
			assert.Equal(t, tt.roles, tt.d.ApprovalRoles())
			assert.Equal(t, tt.str, tt.d.String())
		})
	}
}
