package customerescalation

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/proof"
)

// Activity names; the Go method of each has the same name.
const (
	ActivityLoadIdentity       = "EscalationLoadIdentity"
	ActivityResolveOwners      = "EscalationResolveOwners"
	ActivityOpenTicket         = "EscalationOpenTicket"
	ActivityAssignTicket       = "EscalationAssignTicket"
	ActivityVerifyResolved     = "EscalationVerifyResolved"
	ActivityReopenTicket       = "EscalationReopenTicket"
	ActivityPost               = "EscalationPost"
	ActivityNotify             = "EscalationNotify"
	ActivitySendCustomerUpdate = "EscalationSendCustomerUpdate"
	ActivityVerifyDelivery     = "EscalationVerifyDelivery"
	ActivityAskCustomer        = "EscalationAskCustomer"
	ActivityRedeemCustomer     = "EscalationRedeemCustomer"
	ActivityAddNote            = "EscalationAddNote"
)

// ApplicationError types.
const (
	ErrTypeInvalidInput  = "InvalidInput"
	ErrTypeNotConfigured = "NotConfigured"
	ErrTypeNotResolved   = "NotResolved"
	ErrTypeNotDelivered  = "NotDelivered"
	ErrTypeRefused       = "Refused"
	ErrTypeBadToken      = "BadToken"
)

// Known is a directory person who may act: their id and chat handle.
type Known struct {
	ID   string `json:"id"`
	Chat string `json:"chat,omitempty"`
}

// Identity is what the validator checks steps against.
type Identity struct {
	Trust  proof.Trust `json:"trust"`
	People []Known     `json:"people"`
}

// OwnersRequest asks for the account and its owners at At.
type OwnersRequest struct {
	AccountID string    `json:"accountId"`
	At        time.Time `json:"at"`
}

// Owners are the account and who owns the escalation per team.
type Owners struct {
	AccountName  string      `json:"accountName"`
	AccountEmail string      `json:"accountEmail"`
	Channel      string      `json:"channel,omitempty"`
	Sales        Person      `json:"sales"`
	CSM          Person      `json:"csm"`
	Engineering  Person      `json:"engineering"`
	Chain        []ChainStep `json:"chain"`
}

// TicketRequest opens the engineering ticket once per key, linked to the
// support ticket when there is one.
type TicketRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	AccountID      string `json:"accountId"`
	SupportTicket  string `json:"supportTicket,omitempty"`
	Title          string `json:"title"`
	Description    string `json:"description,omitempty"`
	Priority       string `json:"priority"`
	Assignee       string `json:"assignee,omitempty"`
}

// AssignRequest assigns the engineering ticket.
type AssignRequest struct {
	IssueID        string `json:"issueId"`
	IdempotencyKey string `json:"idempotencyKey"`
	Assignee       string `json:"assignee"`
}

// TicketCheck asks for an issue's status.
type TicketCheck struct {
	IssueID string `json:"issueId"`
}

// ReopenRequest moves the engineering ticket back to open.
type ReopenRequest struct {
	IssueID        string `json:"issueId"`
	IdempotencyKey string `json:"idempotencyKey"`
	By             string `json:"by"`
	Comment        string `json:"comment"`
}

// PostRequest posts to a chat channel once per key.
type PostRequest struct {
	Channel        string `json:"channel"`
	IdempotencyKey string `json:"idempotencyKey"`
	Text           string `json:"text"`
}

// NotifyRequest emails people once per key and person.
type NotifyRequest struct {
	Key     string   `json:"key"`
	People  []Person `json:"people"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

// CustomerMail is an update to the customer.
type CustomerMail struct {
	AccountID string `json:"accountId"`
	To        string `json:"to"`
	MessageID string `json:"messageId"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
}

// DeliveryCheck asks whether MessageID reached Email.
type DeliveryCheck struct {
	MessageID string `json:"messageId"`
	Email     string `json:"email"`
}

// AskRequest emails the customer a confirm/object link for one cycle.
type AskRequest struct {
	AccountID string        `json:"accountId"`
	To        string        `json:"to"`
	MessageID string        `json:"messageId"`
	Digest    string        `json:"digest"`
	Summary   string        `json:"summary"`
	TTL       time.Duration `json:"ttl"`
}

// RedeemRequest consumes a customer's link token for Digest.
type RedeemRequest struct {
	Token  string `json:"token"`
	Digest string `json:"digest"`
}

// NoteRequest adds a CRM note once per key.
type NoteRequest struct {
	AccountID      string `json:"accountId"`
	IdempotencyKey string `json:"idempotencyKey"`
	Text           string `json:"text"`
}

// SLA is one severity's timers.
type SLA struct {
	// AckWithin: acknowledge within; UpdateEvery: a customer update at
	// least this often; ConfirmWithin: the customer may object this long.
	AckWithin     time.Duration `json:"ackWithin"`
	UpdateEvery   time.Duration `json:"updateEvery"`
	ConfirmWithin time.Duration `json:"confirmWithin"`
}

// Config tunes the process: SLAs per severity and activity options; tests
// shorten them.
type Config struct {
	SLAs     map[string]SLA
	Read     workflow.ActivityOptions
	Write    workflow.ActivityOptions
	Notify   workflow.ActivityOptions
	Delivery workflow.ActivityOptions
}

// DefaultSLAs are the production SLAs.
func DefaultSLAs() map[string]SLA {
	return map[string]SLA{
		Sev1: {AckWithin: 15 * time.Minute, UpdateEvery: time.Hour, ConfirmWithin: 24 * time.Hour},
		Sev2: {AckWithin: 30 * time.Minute, UpdateEvery: 4 * time.Hour, ConfirmWithin: 48 * time.Hour},
		Sev3: {AckWithin: 4 * time.Hour, UpdateEvery: 24 * time.Hour, ConfirmWithin: 72 * time.Hour},
	}
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	retry := func(maxInterval time.Duration) *temporal.RetryPolicy {
		return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: maxInterval, MaximumAttempts: 20,
			NonRetryableErrorTypes: []string{ErrTypeInvalidInput, ErrTypeNotConfigured, ErrTypeNotResolved, ErrTypeRefused, ErrTypeBadToken}}
	}
	return Config{
		SLAs:     DefaultSLAs(),
		Read:     workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute, RetryPolicy: retry(30 * time.Second)},
		Write:    workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 30 * time.Minute, RetryPolicy: retry(time.Minute)},
		Notify:   workflow.ActivityOptions{StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute, RetryPolicy: retry(time.Minute)},
		Delivery: workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 5 * time.Minute, RetryPolicy: retry(30 * time.Second)},
	}
}

// sla returns the SLA of severity, falling back to the defaults.
func (c Config) sla(severity string) SLA {
	if s, ok := c.SLAs[severity]; ok && s.AckWithin > 0 && s.UpdateEvery > 0 && s.ConfirmWithin > 0 {
		return s
	}
	return DefaultSLAs()[severity]
}
