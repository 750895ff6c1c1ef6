package process

import (
	"strconv"
	"time"

	tclient "go.temporal.io/sdk/client"
)

// Our own metrics, recorded through a Temporal MetricsHandler so one
// pipeline (telemetry.Metrics) carries them beside the SDK's. Workflow code
// passes workflow.GetMetricsHandler(ctx), which records nothing while
// replaying, so a replayed history never counts twice; activity code passes
// activity.GetMetricsHandler(ctx). Prometheus adds _total to counters and
// _seconds to timers.
//
// Labels stay bounded: process names, outcomes, reasons and policy ids
// from closed sets; never ids, people or amounts.
//
// SLA breaches are recorded as eo_sla_breaches{process,sla} where the
// breach is decided (customer-escalation: sla "ack" or "update").
const (
	// MetricActionsCompleted counts actions ended with an outcome, and
	// whether any person was asked to decide or take over (autonomy rate).
	MetricActionsCompleted = "eo_actions_completed"
	// MetricTimeToApproval is the time from a slot opening to a decision
	// on it (seconds; buckets in telemetry.ApprovalTimerName).
	MetricTimeToApproval = "eo_time_to_approval"
	// MetricExceptions counts escalations to finance operations by reason.
	MetricExceptions = "eo_exceptions"
	// MetricGateDenials counts the gate's deny reasons by policy id.
	MetricGateDenials = "eo_gate_denials"
	// MetricVerificationFailures counts outcomes that could not be verified
	// (kind settlement or delivery).
	MetricVerificationFailures = "eo_verification_failures"
	// MetricPaymentsReleased counts payments treasury accepted.
	MetricPaymentsReleased = "eo_payments_released"
	// MetricPaymentsVerified counts payments treasury reported settled.
	MetricPaymentsVerified = "eo_payments_verified"
	// MetricSLABreaches counts SLA breaches by process and SLA.
	MetricSLABreaches = "eo_sla_breaches"
)

// Exception reasons: what went wrong, never the free-text message.
const (
	ExceptionGateUndecidable   = "gate_undecidable"
	ExceptionReleaseFailed     = "release_failed"
	ExceptionReleaseDenied     = "release_denied" // the gate at the side effect said no
	ExceptionAlreadyPaid       = "already_paid"
	ExceptionNotSettled        = "not_settled"
	ExceptionNotMarkedPaid     = "not_marked_paid"
	ExceptionVendorNotNotified = "vendor_not_notified"
	ExceptionCancelledInFlight = "cancelled_in_flight"
)

// Verification kinds.
const (
	VerificationSettlement = "settlement"
	VerificationDelivery   = "delivery"
)

// RecordCompleted counts one action that ended with outcome; autonomous
// means no person was asked to decide and nobody had to take over.
func RecordCompleted(h tclient.MetricsHandler, process, outcome string, autonomous bool) {
	h.WithTags(map[string]string{"process": process, "outcome": outcome, "autonomous": strconv.FormatBool(autonomous)}).
		Counter(MetricActionsCompleted).Inc(1)
}

// RecordTimeToApproval records how long a slot waited for decision
// ("approve" or "reject").
func RecordTimeToApproval(h tclient.MetricsHandler, process, decision string, d time.Duration) {
	h.WithTags(map[string]string{"process": process, "decision": decision}).Timer(MetricTimeToApproval).Record(d)
}

// RecordException counts one escalation to finance operations.
func RecordException(h tclient.MetricsHandler, process, reason string) {
	h.WithTags(map[string]string{"process": process, "reason": reason}).Counter(MetricExceptions).Inc(1)
}

// RecordGateDenial counts one deny reason of the gate. needsApproval says
// the forbid is one people lift (@approval): routine for large payments,
// unlike a payment-window or digest denial.
func RecordGateDenial(h tclient.MetricsHandler, policy string, needsApproval bool) {
	h.WithTags(map[string]string{"policy": policy, "needs_approval": strconv.FormatBool(needsApproval)}).
		Counter(MetricGateDenials).Inc(1)
}

// RecordVerificationFailure counts an outcome that was not verified.
func RecordVerificationFailure(h tclient.MetricsHandler, process, kind string) {
	h.WithTags(map[string]string{"process": process, "kind": kind}).Counter(MetricVerificationFailures).Inc(1)
}

// RecordPaymentReleased counts a payment treasury accepted.
func RecordPaymentReleased(h tclient.MetricsHandler, process string) {
	h.WithTags(map[string]string{"process": process}).Counter(MetricPaymentsReleased).Inc(1)
}

// RecordPaymentVerified counts a payment treasury reported settled.
func RecordPaymentVerified(h tclient.MetricsHandler, process string) {
	h.WithTags(map[string]string{"process": process}).Counter(MetricPaymentsVerified).Inc(1)
}

// RecordSLABreach counts one breach of sla ("ack", "update") by process.
func RecordSLABreach(h tclient.MetricsHandler, process, sla string) {
	h.WithTags(map[string]string{"process": process, "sla": sla}).Counter(MetricSLABreaches).Inc(1)
}
