// Package onboarding is the customer-onboarding process: a new customer's
// CRM account is created pending, the customer is welcomed by email and the
// delivery confirmed, a field worker verifies the customer's identity in
// person (a HumanTask child workflow), and only then is the account
// activated and the activation confirmed in the CRM. Every step is verified
// before the next, and the CRM gets a note with the timeline. This file is
// its public contract: names, ids and JSON payloads that services in any
// language may rely on.
package onboarding

import "time"

// ProcessName is the EOProcess value and the name in processes.All.
const ProcessName = "customer-onboarding"

// Names that make up the public contract.
const (
	Workflow    = "CustomerOnboarding"
	StatusQuery = "status"
)

// WorkflowID is the workflow id of a customer's onboarding: one per
// customer reference, so a second start can never make a second account.
func WorkflowID(customerRef string) string { return "customer-onboarding-" + customerRef }

// Input starts a CustomerOnboarding.
type Input struct {
	// CustomerRef is the business id of the customer ("C-1001").
	CustomerRef string `json:"customerRef"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Phone       string `json:"phone,omitempty"`
	Address     string `json:"address"`
	// Lat and Lon locate Address (WGS 84): the field worker is routed there.
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// Plan is basic, standard or premium (crm.Plans).
	Plan        string `json:"plan"`
	RequestedBy string `json:"requestedBy"`
	// RequesterProof, when given, proves who requested: a start assertion
	// (proof.KindStart) for this workflow id with requestedBy as subject. A
	// start with a proof that does not verify fails; a start without one
	// runs with requesterVerified false.
	RequesterProof string `json:"requesterProof,omitempty"`
}

// Stages a CustomerOnboarding moves through (status query, EOStage).
const (
	StageCreatingAccount     = "creating_account"
	StageWelcoming           = "welcoming"
	StageVerifyingIdentity   = "verifying_identity"
	StageActivating          = "activating"
	StageVerifyingActivation = "verifying_activation"
	StageRecording           = "recording"
	StageDone                = "done"
)

// Outcomes a CustomerOnboarding ends with. Every outcome but "active"
// carries a Reason.
const (
	// OutcomeActive: the account is active in the CRM, and every step was
	// verified (account stored, welcome email delivered, identity verified
	// in person, activation shown by the CRM).
	OutcomeActive = "active"
	// OutcomeIdentityNotVerified: the evidence of the in-person check was
	// rejected; the account stays pending.
	OutcomeIdentityNotVerified = "identity_not_verified"
	// OutcomeNoWorker: nobody could do the in-person check; the field
	// coordinators were told (escalated). The account stays pending.
	OutcomeNoWorker = "no_worker_available"
	// OutcomeCustomerUnreachable: the welcome email was refused or never
	// delivered; nobody is sent to the door. The account stays pending.
	OutcomeCustomerUnreachable = "customer_unreachable"
	// OutcomeFailed: invalid input, or a step failed or could not be
	// verified; Reason says which.
	OutcomeFailed = "failed"
	// OutcomeCancelled is reported by the status query and the EOOutcome
	// search attribute of a cancelled run; the run itself ends Canceled.
	OutcomeCancelled = "cancelled"
)

// Steps of a CustomerOnboarding, in order (Status.Steps).
const (
	StepAccount      = "account"
	StepWelcomeEmail = "welcome_email"
	StepIdentity     = "identity"
	StepActivation   = "activation"
	StepTimelineNote = "timeline_note"
)

// Step is one step and what the workflow saw of it. Done says the step's
// action was taken; Verified that a read-back confirmed its effect (the
// timeline note is recorded, never verified).
type Step struct {
	Name     string     `json:"name"`
	Done     bool       `json:"done"`
	Verified bool       `json:"verified"`
	At       *time.Time `json:"at,omitempty"`
	// Ref is the external id: the account id, the welcome Message-ID, the
	// human task id.
	Ref    string `json:"ref,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Status is what the "status" query returns, and the result.
type Status struct {
	CustomerRef       string `json:"customerRef"`
	Stage             string `json:"stage"`
	RequestedBy       string `json:"requestedBy,omitempty"`
	RequesterVerified bool   `json:"requesterVerified,omitempty"`
	AccountID         string `json:"accountId,omitempty"`
	Steps             []Step `json:"steps"`
	// TaskID is the identity verification's human task
	// (humantask.WorkflowID(TaskID) is its workflow), TaskOutcome how it
	// ended and TaskAssignee who did it.
	TaskID       string `json:"taskId,omitempty"`
	TaskOutcome  string `json:"taskOutcome,omitempty"`
	TaskAssignee string `json:"taskAssignee,omitempty"`
	// Escalated is true once the field coordinators (or operations) were
	// asked to take over; EscalatedTo says who was emailed.
	Escalated   bool       `json:"escalated,omitempty"`
	EscalatedTo []string   `json:"escalatedTo,omitempty"`
	ActivatedAt *time.Time `json:"activatedAt,omitempty"`
	Outcome     string     `json:"outcome,omitempty"`
	Reason      string     `json:"reason,omitempty"`
}

// Result is what a CustomerOnboarding returns: its final status.
type Result = Status

// Step returns the step called name, and whether there is one.
func (s Status) Step(name string) (Step, bool) {
	for _, st := range s.Steps {
		if st.Name == name {
			return st, true
		}
	}
	return Step{}, false
}
