package web

// The KPIs of the operations view, computed from audit ledger entries (the
// same facts the eo_* metrics count, see docs/metrics.md), bucket by bucket
// over a window.

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
)

// KPIBucket is one bucket of the KPIs (or the whole window's totals).
type KPIBucket struct {
	Start time.Time
	// Outcomes are runs that ended; Autonomous those that ended with no
	// person asked and nobody taking over.
	Outcomes, Autonomous int
	// Approvals are decisions recorded; MedianWait and P90Wait the time
	// their slots waited (nearest rank; 0 with no approvals).
	Approvals           int
	MedianWait, P90Wait time.Duration
	waits               []float64 // seconds
	// Exceptions by reason (every exception, SLA breaches included).
	Exceptions map[string]int
	// Denials by deny reason of the gate: one per policy that denied, in a
	// decision that did not permit.
	Denials                          map[DenialKey]int
	DenialsNeedApproval, DenialsHard int
	// SLABreaches are exceptions whose reason starts with "sla" (no
	// process records any yet).
	SLABreaches int
	// VerificationFailures are verifications that did not confirm.
	VerificationFailures int
	// PaymentsReleased are treasury releases; PaymentsVerified
	// settlements verified.
	PaymentsReleased, PaymentsVerified int
}

// DenialKey is a gate policy and whether people may lift its denial.
type DenialKey struct {
	Policy        string
	NeedsApproval bool
}

// Label names the key for people: "autonomy.threshold (needs approval)".
func (k DenialKey) Label() string {
	if k.NeedsApproval {
		return k.Policy + " (needs approval)"
	}
	return k.Policy + " (hard)"
}

// AutonomyRate is Autonomous/Outcomes, and false with no outcomes.
func (b KPIBucket) AutonomyRate() (float64, bool) {
	if b.Outcomes == 0 {
		return 0, false
	}
	return float64(b.Autonomous) / float64(b.Outcomes), true
}

// ExceptionsTotal counts every exception of the bucket.
func (b KPIBucket) ExceptionsTotal() int {
	n := 0
	for _, c := range b.Exceptions {
		n += c
	}
	return n
}

// KPIReport is the KPIs of a window.
type KPIReport struct {
	From, To time.Time
	Step     time.Duration
	Buckets  []KPIBucket
	Total    KPIBucket
	// Reasons and Policies are every exception reason and denial key seen,
	// sorted: the series of the charts.
	Reasons  []string
	Policies []DenialKey
	// Recent are the last exceptions of the window, newest first.
	Recent []audit.Entry
	// Unreadable counts entries whose data did not decode; they count in
	// nothing.
	Unreadable int
}

// ComputeKPIs computes the KPIs of entries in [from, to), in buckets of
// step from from. Entries outside the window are ignored.
func ComputeKPIs(entries []audit.Entry, from, to time.Time, step time.Duration) KPIReport {
	rep := KPIReport{From: from, To: to, Step: step}
	if step <= 0 || !to.After(from) {
		return rep
	}
	n := int((to.Sub(from) + step - 1) / step)
	rep.Buckets = make([]KPIBucket, n)
	for i := range rep.Buckets {
		rep.Buckets[i] = newBucket(from.Add(time.Duration(i) * step))
	}
	rep.Total = newBucket(from)
	reasons := map[string]bool{}
	policies := map[DenialKey]bool{}
	var exceptions []audit.Entry
	for _, e := range entries {
		at := e.Event.At
		if at.Before(from) || !at.Before(to) {
			continue
		}
		b := &rep.Buckets[int(at.Sub(from)/step)]
		ok := true
		for _, t := range []*KPIBucket{b, &rep.Total} {
			if !t.add(e, reasons, policies) {
				ok = false
			}
		}
		if !ok {
			rep.Unreadable++
			continue
		}
		if e.Event.Kind == audit.KindException {
			exceptions = append(exceptions, e)
		}
	}
	for i := range rep.Buckets {
		rep.Buckets[i].finish()
	}
	rep.Total.finish()
	rep.Reasons = slices.Sorted(maps.Keys(reasons))
	rep.Policies = slices.SortedFunc(maps.Keys(policies), func(a, b DenialKey) int {
		if c := strings.Compare(a.Policy, b.Policy); c != 0 {
			return c
		}
		return compareBool(a.NeedsApproval, b.NeedsApproval)
	})
	slices.SortStableFunc(exceptions, func(a, b audit.Entry) int {
		if c := b.Event.At.Compare(a.Event.At); c != 0 {
			return c
		}
		return compareInt(b.Seq, a.Seq)
	})
	if len(exceptions) > recentExceptions {
		exceptions = exceptions[:recentExceptions]
	}
	rep.Recent = exceptions
	return rep
}

func newBucket(start time.Time) KPIBucket {
	return KPIBucket{Start: start, Exceptions: map[string]int{}, Denials: map[DenialKey]int{}}
}

// add counts one entry; false when its data does not decode.
func (b *KPIBucket) add(e audit.Entry, reasons map[string]bool, policies map[DenialKey]bool) bool {
	ev := e.Event
	switch ev.Kind {
	case audit.KindOutcome:
		var d audit.OutcomeData
		if decodeData(ev, &d) != nil {
			return false
		}
		b.Outcomes++
		if d.Autonomous {
			b.Autonomous++
		}
	case audit.KindApproval:
		var d audit.ApprovalData
		if decodeData(ev, &d) != nil {
			return false
		}
		b.Approvals++
		if d.WaitedSeconds >= 0 && !math.IsNaN(d.WaitedSeconds) && !math.IsInf(d.WaitedSeconds, 0) {
			b.waits = append(b.waits, d.WaitedSeconds)
		}
	case audit.KindException:
		var d audit.ExceptionData
		if decodeData(ev, &d) != nil {
			return false
		}
		reason := orDefault(d.Reason, "unknown")
		b.Exceptions[reason]++
		reasons[reason] = true
		if strings.HasPrefix(reason, "sla") {
			b.SLABreaches++
		}
	case audit.KindGate:
		var d audit.GateData
		if decodeData(ev, &d) != nil {
			return false
		}
		if d.Permit {
			return true
		}
		for _, r := range d.Reasons {
			k := DenialKey{Policy: orDefault(r.Policy, "unknown"), NeedsApproval: r.Approval}
			b.Denials[k]++
			policies[k] = true
			if r.Approval {
				b.DenialsNeedApproval++
			} else {
				b.DenialsHard++
			}
		}
	case audit.KindVerification:
		var d audit.VerificationData
		if decodeData(ev, &d) != nil {
			return false
		}
		switch {
		case !d.Verified:
			b.VerificationFailures++
		case d.What == "settlement":
			b.PaymentsVerified++
		}
	case audit.KindSideEffect:
		var d audit.SideEffectData
		if decodeData(ev, &d) != nil {
			return false
		}
		if d.System == "treasury" && d.Operation == "release" {
			b.PaymentsReleased++
		}
	}
	return true
}

// finish computes the wait percentiles.
func (b *KPIBucket) finish() {
	slices.Sort(b.waits)
	b.MedianWait = seconds(percentile(b.waits, 0.5))
	b.P90Wait = seconds(percentile(b.waits, 0.9))
}

// percentile is the nearest-rank percentile of sorted values (0 for none).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// decodeData decodes an event's Data into v; no data is an error.
func decodeData(ev audit.Event, v any) error {
	if len(ev.Data) == 0 {
		return fmt.Errorf("%s entry %s has no data", ev.Kind, ev.ID)
	}
	return json.Unmarshal(ev.Data, v)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	default:
		return 0
	}
}

// ---- for the page ----

// kpiRow is one bucket as the KPI table shows it.
type kpiRow struct {
	Label                            string
	Outcomes, Autonomous             int
	Autonomy                         string
	Approvals                        int
	Median, P90                      string
	Exceptions                       int
	DenialsNeedApproval, DenialsHard int
	SLABreaches                      int
	VerificationFailures             int
	Released, Verified               int
}

type countRow struct {
	Name  string
	Count int
}

type denialRow struct {
	Policy              string
	NeedsApproval, Hard int
}

type kpiView struct {
	From, To   string
	Rows       []kpiRow
	Total      kpiRow
	Exceptions []countRow
	Denials    []denialRow
	Truncated  bool
	Unreadable int
}

func kpiViewOf(rep KPIReport, step time.Duration) kpiView {
	v := kpiView{From: rep.From.UTC().Format(auditTimeLayout), To: rep.To.UTC().Format(auditTimeLayout), Unreadable: rep.Unreadable}
	for _, b := range rep.Buckets {
		v.Rows = append(v.Rows, kpiRowOf(bucketLabel(b.Start, step), b))
	}
	v.Total = kpiRowOf("Total", rep.Total)
	for _, r := range rep.Reasons {
		v.Exceptions = append(v.Exceptions, countRow{Name: r, Count: rep.Total.Exceptions[r]})
	}
	byPolicy := map[string]*denialRow{}
	var order []string
	for _, k := range rep.Policies {
		d, ok := byPolicy[k.Policy]
		if !ok {
			d = &denialRow{Policy: k.Policy}
			byPolicy[k.Policy] = d
			order = append(order, k.Policy)
		}
		if k.NeedsApproval {
			d.NeedsApproval += rep.Total.Denials[k]
		} else {
			d.Hard += rep.Total.Denials[k]
		}
	}
	for _, p := range order {
		v.Denials = append(v.Denials, *byPolicy[p])
	}
	return v
}

func kpiRowOf(label string, b KPIBucket) kpiRow {
	r := kpiRow{Label: label, Outcomes: b.Outcomes, Autonomous: b.Autonomous, Autonomy: "—", Approvals: b.Approvals, Median: "—", P90: "—",
		Exceptions: b.ExceptionsTotal(), DenialsNeedApproval: b.DenialsNeedApproval, DenialsHard: b.DenialsHard, SLABreaches: b.SLABreaches,
		VerificationFailures: b.VerificationFailures, Released: b.PaymentsReleased, Verified: b.PaymentsVerified}
	if rate, ok := b.AutonomyRate(); ok {
		r.Autonomy = fmt.Sprintf("%.0f%%", rate*100)
	}
	if b.Approvals > 0 {
		r.Median, r.P90 = waitText(b.MedianWait), waitText(b.P90Wait)
	}
	return r
}

// waitText is a time to approval: "42s", "3m", "3h 12m".
func waitText(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return ago(d)
}

// bucketLabel names a bucket: its hour for hourly buckets, its day else.
func bucketLabel(start time.Time, step time.Duration) string {
	if step < 24*time.Hour {
		return start.UTC().Format("Jan 2 15:04")
	}
	return start.UTC().Format("Mon Jan 2")
}

// chartSeries is one line or bar series of a chart.
type chartSeries struct {
	Label string     `json:"label"`
	Data  []*float64 `json:"data"`
}

// chartData is what ops.js draws, read from the page's JSON data block.
type chartData struct {
	Labels               []string      `json:"labels"`
	Autonomy             []*float64    `json:"autonomy"`             // percent, null without outcomes
	ApprovalMedian       []*float64    `json:"approvalMedian"`       // minutes, null without approvals
	ApprovalP90          []*float64    `json:"approvalP90"`          // minutes
	Exceptions           []chartSeries `json:"exceptions"`           // by reason
	Denials              []chartSeries `json:"denials"`              // by policy and kind
	SLABreaches          []*float64    `json:"slaBreaches"`          // counts
	VerificationFailures []*float64    `json:"verificationFailures"` // counts
	Released             []*float64    `json:"released"`
	Verified             []*float64    `json:"verified"`
}

func chartDataOf(rep KPIReport, step time.Duration) chartData {
	c := chartData{Labels: []string{}, Exceptions: []chartSeries{}, Denials: []chartSeries{}}
	num := func(f float64) *float64 { return &f }
	exc := make([]chartSeries, len(rep.Reasons))
	for i, r := range rep.Reasons {
		exc[i].Label = r
	}
	den := make([]chartSeries, len(rep.Policies))
	for i, k := range rep.Policies {
		den[i].Label = k.Label()
	}
	for _, b := range rep.Buckets {
		c.Labels = append(c.Labels, bucketLabel(b.Start, step))
		var rate, med, p90 *float64
		if r, ok := b.AutonomyRate(); ok {
			rate = num(math.Round(r*1000) / 10)
		}
		if b.Approvals > 0 {
			med, p90 = num(math.Round(b.MedianWait.Minutes()*10)/10), num(math.Round(b.P90Wait.Minutes()*10)/10)
		}
		c.Autonomy = append(c.Autonomy, rate)
		c.ApprovalMedian = append(c.ApprovalMedian, med)
		c.ApprovalP90 = append(c.ApprovalP90, p90)
		for i, r := range rep.Reasons {
			exc[i].Data = append(exc[i].Data, num(float64(b.Exceptions[r])))
		}
		for i, k := range rep.Policies {
			den[i].Data = append(den[i].Data, num(float64(b.Denials[k])))
		}
		c.SLABreaches = append(c.SLABreaches, num(float64(b.SLABreaches)))
		c.VerificationFailures = append(c.VerificationFailures, num(float64(b.VerificationFailures)))
		c.Released = append(c.Released, num(float64(b.PaymentsReleased)))
		c.Verified = append(c.Verified, num(float64(b.PaymentsVerified)))
	}
	c.Exceptions = append(c.Exceptions, exc...)
	c.Denials = append(c.Denials, den...)
	return c
}
