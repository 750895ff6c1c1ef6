// The activities of CustomerEscalation, on top of the CRM, ticketing,
// chat and email connectors, the org directory and the link tokens. Every
// mutation carries an idempotency key (or a Message-ID) derived from the
// workflow id and the event, so a retried call is applied once.
package customerescalation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// CRM is what the activities use of the CRM (*crm.Client).
type CRM interface {
	GetAccount(ctx context.Context, id string) (crm.Account, error)
	AddNote(ctx context.Context, id, idempotencyKey, text string) (crm.Account, error)
}

// Ticketing is what the activities use of the issue tracker (*ticketing.Client).
type Ticketing interface {
	CreateIssue(ctx context.Context, idempotencyKey string, req ticketing.IssueRequest) (ticketing.Issue, error)
	GetIssue(ctx context.Context, id string) (ticketing.Issue, error)
	Transition(ctx context.Context, id, idempotencyKey, to, by string) (ticketing.Issue, error)
	Assign(ctx context.Context, id, idempotencyKey, assignee string) (ticketing.Issue, error)
	AddComment(ctx context.Context, id, idempotencyKey, author, body string) (ticketing.Issue, error)
	AddLink(ctx context.Context, id, idempotencyKey string, l ticketing.Link) (ticketing.Issue, error)
}

// Chat is what the activities use of chat (*chat.Client).
type Chat interface {
	ListChannels(ctx context.Context, accountID string) ([]chat.Channel, error)
	Post(ctx context.Context, channel, idempotencyKey, text, threadID string) (chat.Message, error)
}

// Mailer sends and looks up mail (*email.Client).
type Mailer interface {
	Send(ctx context.Context, m email.Message) error
	Lookup(ctx context.Context, messageID string) (email.StoredMessage, error)
}

// Directory is the org directory (*policy.Directory).
type Directory interface {
	People() []policy.Person
	Person(id string) (policy.Person, bool)
	OnCall(teamID string, at time.Time) (policy.Person, error)
	Chain(teamID string, at time.Time) ([]policy.ChainStep, error)
}

// Links issues and redeems one-time link tokens (*linktoken.Store).
type Links interface {
	Issue(ctx context.Context, personID, workflowID, runID, actionDigest string, ttl time.Duration) (string, error)
	Redeem(ctx context.Context, token, workflowID, actionDigest string) (linktoken.Claims, error)
}

// DefaultFrom is the sender of escalation mail.
const DefaultFrom = "ExecutionOrchestrator <escalations@orchestrator.example>"

// EngineeringProject is the ticketing project engineering tickets go to.
const EngineeringProject = "ENG"

// Activities are CustomerEscalation's activities.
type Activities struct {
	// Temporal describes the calling workflow (process.EnsureCaller); nil
	// skips the check (unit tests calling activities directly).
	Temporal   process.Describer
	CRM        CRM
	Ticketing  Ticketing
	Chat       Chat
	Mail       Mailer
	Directory  Directory
	Links      Links
	Trust      func() (proof.Trust, error)
	WebBaseURL string
	Logger     *slog.Logger
}

func (a *Activities) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Activities) ensureOurs(ctx context.Context) error {
	if a.Temporal == nil {
		return nil
	}
	_, err := process.EnsureCaller(ctx, a.Temporal, Workflow, activity.GetInfo(ctx).WorkflowExecution.ID)
	return err
}

func notConfigured(field string) error {
	return temporal.NewNonRetryableApplicationError("activities: "+field+" is not configured", ErrTypeNotConfigured, nil)
}

func invalidArg(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidInput, nil)
}

// classify makes a connector's permanent failure non-retryable.
func classify(err error) error {
	if err == nil || !httpx.IsPermanent(err) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeRefused, nil)
}

func messageID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "<esc-" + hex.EncodeToString(sum[:12]) + "@execution-orchestrator>"
}

// EscalationLoadIdentity returns the keys proofs are verified against and
// the people who may act, with their chat handles, in id order.
func (a *Activities) EscalationLoadIdentity(ctx context.Context) (Identity, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return Identity{}, err
	}
	switch {
	case a.Trust == nil:
		return Identity{}, notConfigured("Trust")
	case a.Directory == nil:
		return Identity{}, notConfigured("Directory")
	}
	t, err := a.Trust()
	if err != nil {
		return Identity{}, fmt.Errorf("load trusted keys: %w", err)
	}
	id := Identity{Trust: t}
	for _, p := range a.Directory.People() {
		id.People = append(id.People, Known{ID: p.ID, Chat: p.Chat})
	}
	slices.SortFunc(id.People, func(x, y Known) int { return strings.Compare(x.ID, y.ID) })
	return id, nil
}

func person(p policy.Person, role string) Person {
	return Person{ID: p.ID, Name: p.Name, Email: p.Email, Chat: p.Chat, Role: role}
}

// EscalationResolveOwners reads the account and resolves its owners: sales
// is the account owner, customer success the CSM, engineering the on-call
// engineer at req.At, with the engineering escalation chain.
func (a *Activities) EscalationResolveOwners(ctx context.Context, req OwnersRequest) (Owners, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return Owners{}, err
	}
	switch {
	case strings.TrimSpace(req.AccountID) == "":
		return Owners{}, invalidArg("accountId: required")
	case a.CRM == nil:
		return Owners{}, notConfigured("CRM")
	case a.Directory == nil:
		return Owners{}, notConfigured("Directory")
	}
	acc, err := a.CRM.GetAccount(ctx, req.AccountID)
	if err != nil {
		if httpx.StatusCode(err) == 404 {
			return Owners{}, invalidArg("accountId: " + req.AccountID + " is not in the CRM")
		}
		return Owners{}, classify(fmt.Errorf("read account %s: %w", req.AccountID, err))
	}
	out := Owners{AccountName: acc.Name, AccountEmail: acc.Email}
	if p, ok := a.Directory.Person(acc.Owner); ok {
		out.Sales = person(p, "account owner (sales)")
	}
	if p, ok := a.Directory.Person(acc.CSM); ok {
		out.CSM = person(p, "customer success manager")
	}
	on, err := a.Directory.OnCall("engineering", req.At)
	if err != nil {
		return Owners{}, invalidArg("engineering on-call: " + err.Error())
	}
	out.Engineering = person(on, "engineering on-call")
	chain, err := a.Directory.Chain("engineering", req.At)
	if err != nil {
		return Owners{}, invalidArg("engineering chain: " + err.Error())
	}
	for _, s := range chain {
		out.Chain = append(out.Chain, ChainStep{Person: person(s.Person, "escalation chain step "+fmt.Sprint(s.Step)), After: s.After, Reason: s.Reason})
	}
	if a.Chat != nil {
		chs, err := a.Chat.ListChannels(ctx, req.AccountID)
		if err != nil {
			return Owners{}, classify(fmt.Errorf("channels of %s: %w", req.AccountID, err))
		}
		if len(chs) > 0 {
			out.Channel = chs[0].ID
		}
	}
	return out, nil
}

// EscalationOpenTicket creates the engineering ticket once per key and
// links it to the support ticket ("relates").
func (a *Activities) EscalationOpenTicket(ctx context.Context, req TicketRequest) (ticketing.Issue, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return ticketing.Issue{}, err
	}
	switch {
	case strings.TrimSpace(req.IdempotencyKey) == "":
		return ticketing.Issue{}, invalidArg("idempotencyKey: required")
	case strings.TrimSpace(req.Title) == "":
		return ticketing.Issue{}, invalidArg("title: required")
	case a.Ticketing == nil:
		return ticketing.Issue{}, notConfigured("Ticketing")
	}
	is, err := a.Ticketing.CreateIssue(ctx, req.IdempotencyKey, ticketing.IssueRequest{Project: EngineeringProject, Title: req.Title,
		Description: req.Description, Priority: req.Priority, Assignee: req.Assignee, AccountID: req.AccountID})
	if err != nil {
		return ticketing.Issue{}, classify(fmt.Errorf("open engineering ticket: %w", err))
	}
	if req.SupportTicket != "" {
		if is, err = a.Ticketing.AddLink(ctx, is.ID, req.IdempotencyKey+"/link", ticketing.Link{Type: ticketing.LinkRelates, IssueID: req.SupportTicket}); err != nil {
			return ticketing.Issue{}, classify(fmt.Errorf("link %s to %s: %w", req.SupportTicket, is.ID, err))
		}
	}
	return is, nil
}

// EscalationAssignTicket assigns the engineering ticket.
func (a *Activities) EscalationAssignTicket(ctx context.Context, req AssignRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case req.IssueID == "" || req.IdempotencyKey == "" || req.Assignee == "":
		return invalidArg("issueId, idempotencyKey and assignee: required")
	case a.Ticketing == nil:
		return notConfigured("Ticketing")
	}
	if _, err := a.Ticketing.Assign(ctx, req.IssueID, req.IdempotencyKey, req.Assignee); err != nil {
		return classify(fmt.Errorf("assign %s to %s: %w", req.IssueID, req.Assignee, err))
	}
	return nil
}

// EscalationVerifyResolved returns the issue when ticketing shows it
// resolved or closed; otherwise a non-retryable NotResolved naming its
// status.
func (a *Activities) EscalationVerifyResolved(ctx context.Context, req TicketCheck) (ticketing.Issue, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return ticketing.Issue{}, err
	}
	switch {
	case req.IssueID == "":
		return ticketing.Issue{}, invalidArg("issueId: required")
	case a.Ticketing == nil:
		return ticketing.Issue{}, notConfigured("Ticketing")
	}
	is, err := a.Ticketing.GetIssue(ctx, req.IssueID)
	if err != nil {
		return ticketing.Issue{}, classify(fmt.Errorf("read %s: %w", req.IssueID, err))
	}
	if is.Status != ticketing.StatusResolved && is.Status != ticketing.StatusClosed {
		return is, temporal.NewNonRetryableApplicationError(fmt.Sprintf("ticket %s is %s", is.ID, is.Status), ErrTypeNotResolved, nil)
	}
	return is, nil
}

// EscalationReopenTicket moves the engineering ticket back to open (once
// per key) with a comment saying why; an open ticket is left as it is.
func (a *Activities) EscalationReopenTicket(ctx context.Context, req ReopenRequest) (ticketing.Issue, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return ticketing.Issue{}, err
	}
	switch {
	case req.IssueID == "" || req.IdempotencyKey == "":
		return ticketing.Issue{}, invalidArg("issueId and idempotencyKey: required")
	case a.Ticketing == nil:
		return ticketing.Issue{}, notConfigured("Ticketing")
	}
	is, err := a.Ticketing.GetIssue(ctx, req.IssueID)
	if err != nil {
		return ticketing.Issue{}, classify(fmt.Errorf("read %s: %w", req.IssueID, err))
	}
	if ticketing.CanTransition(is.Status, ticketing.StatusOpen) {
		if is, err = a.Ticketing.Transition(ctx, req.IssueID, req.IdempotencyKey, ticketing.StatusOpen, req.By); err != nil {
			return ticketing.Issue{}, classify(fmt.Errorf("reopen %s: %w", req.IssueID, err))
		}
	}
	if req.Comment != "" {
		if is, err = a.Ticketing.AddComment(ctx, req.IssueID, req.IdempotencyKey+"/comment", req.By, req.Comment); err != nil {
			return ticketing.Issue{}, classify(fmt.Errorf("comment on %s: %w", req.IssueID, err))
		}
	}
	return is, nil
}

// EscalationPost posts to the account's channel once per key.
func (a *Activities) EscalationPost(ctx context.Context, req PostRequest) (chat.Message, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return chat.Message{}, err
	}
	switch {
	case req.Channel == "" || req.IdempotencyKey == "" || strings.TrimSpace(req.Text) == "":
		return chat.Message{}, invalidArg("channel, idempotencyKey and text: required")
	case a.Chat == nil:
		return chat.Message{}, notConfigured("Chat")
	}
	m, err := a.Chat.Post(ctx, req.Channel, req.IdempotencyKey, req.Text, "")
	if err != nil {
		return chat.Message{}, classify(fmt.Errorf("post to %s: %w", req.Channel, err))
	}
	return m, nil
}

// EscalationNotify emails people, each once per key (the Message-ID is
// fixed), and returns who was told.
func (a *Activities) EscalationNotify(ctx context.Context, req NotifyRequest) ([]string, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return nil, err
	}
	switch {
	case req.Key == "" || strings.TrimSpace(req.Subject) == "":
		return nil, invalidArg("key and subject: required")
	case a.Mail == nil:
		return nil, notConfigured("Mail")
	}
	wfID := activity.GetInfo(ctx).WorkflowExecution.ID
	link := strings.TrimRight(a.WebBaseURL, "/") + "/escalations/" + wfID
	var told []string
	for _, p := range req.People {
		if p.Email == "" || slices.Contains(told, p.ID) {
			continue
		}
		msg := email.Message{From: DefaultFrom, To: []string{p.Email}, Subject: req.Subject, Body: req.Body + "\n\n" + link + "\n",
			MessageID: messageID(wfID, req.Key, p.ID)}
		if err := a.Mail.Send(ctx, msg); err != nil {
			return told, classify(fmt.Errorf("email %s: %w", p.ID, err))
		}
		told = append(told, p.ID)
	}
	return told, nil
}

func (a *Activities) sendOnce(ctx context.Context, m email.Message) error {
	if _, err := a.Mail.Lookup(ctx, m.MessageID); err == nil {
		return nil
	} else if !email.IsNotFound(err) {
		return classify(fmt.Errorf("check earlier message %s: %w", m.MessageID, err))
	}
	if err := a.Mail.Send(ctx, m); err != nil {
		if email.IsPermanent(err) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("email to %s refused: %v", strings.Join(m.To, ", "), err), ErrTypeRefused, nil)
		}
		return fmt.Errorf("email to %s: %w", strings.Join(m.To, ", "), err)
	}
	return nil
}

// EscalationSendCustomerUpdate emails an update to the customer once per
// Message-ID.
func (a *Activities) EscalationSendCustomerUpdate(ctx context.Context, req CustomerMail) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case req.MessageID == "" || req.To == "" || strings.TrimSpace(req.Body) == "":
		return invalidArg("messageId, to and body: required")
	case a.Mail == nil:
		return notConfigured("Mail")
	}
	return a.sendOnce(ctx, email.Message{From: DefaultFrom, To: []string{req.To}, Subject: req.Subject, Body: req.Body, MessageID: req.MessageID})
}

// EscalationVerifyDelivery returns the stored message once the mail system
// holds it for req.Email; until then it fails retryably ("not yet").
func (a *Activities) EscalationVerifyDelivery(ctx context.Context, req DeliveryCheck) (email.StoredMessage, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return email.StoredMessage{}, err
	}
	switch {
	case req.MessageID == "":
		return email.StoredMessage{}, invalidArg("messageId: required")
	case a.Mail == nil:
		return email.StoredMessage{}, notConfigured("Mail")
	}
	m, err := a.Mail.Lookup(ctx, req.MessageID)
	if email.IsNotFound(err) {
		return email.StoredMessage{}, temporal.NewApplicationError("message "+req.MessageID+" not delivered yet", ErrTypeNotDelivered)
	}
	if err != nil {
		return email.StoredMessage{}, classify(fmt.Errorf("look up message %s: %w", req.MessageID, err))
	}
	if req.Email != "" && !slices.ContainsFunc(m.To, func(t string) bool { return strings.EqualFold(strings.TrimSpace(t), strings.TrimSpace(req.Email)) }) {
		return m, temporal.NewNonRetryableApplicationError(fmt.Sprintf("message %s was delivered to %s, not to %s", req.MessageID, strings.Join(m.To, ", "), req.Email), ErrTypeRefused, nil)
	}
	return m, nil
}

// CustomerPerson is the link token's person for an account's customer.
func CustomerPerson(accountID string) string { return "customer:" + accountID }

// EscalationAskCustomer issues a one-time link token for this run and
// digest and emails the customer the confirm and object links (once per
// Message-ID: a retry does not issue a second token once the mail went).
func (a *Activities) EscalationAskCustomer(ctx context.Context, req AskRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case req.MessageID == "" || req.To == "" || req.Digest == "" || req.AccountID == "":
		return invalidArg("accountId, to, messageId and digest: required")
	case a.Mail == nil:
		return notConfigured("Mail")
	case a.Links == nil:
		return notConfigured("Links")
	}
	if _, err := a.Mail.Lookup(ctx, req.MessageID); err == nil {
		return nil
	}
	info := activity.GetInfo(ctx)
	ttl := req.TTL
	if ttl <= 0 {
		ttl = 72 * time.Hour
	}
	token, err := a.Links.Issue(ctx, CustomerPerson(req.AccountID), info.WorkflowExecution.ID, info.WorkflowExecution.RunID, req.Digest, ttl)
	if err != nil {
		return fmt.Errorf("issue customer link: %w", err)
	}
	base := strings.TrimRight(a.WebBaseURL, "/") + "/escalations/" + info.WorkflowExecution.ID + "/customer?token=" + token
	body := fmt.Sprintf("Hello,\n\nwe believe the issue is resolved: %s\n\nIs it fixed for you?\n  Yes, it is fixed: %s&answer=%s\n  No, it is not fixed: %s&answer=%s\n\n"+
		"If we do not hear from you, we will consider it resolved.\n", req.Summary, base, AnswerConfirmed, base, AnswerNotFixed)
	return a.sendOnce(ctx, email.Message{From: DefaultFrom, To: []string{req.To}, Subject: "Is your issue resolved?", Body: body, MessageID: req.MessageID})
}

// EscalationRedeemCustomer consumes the customer's link token for this
// workflow and digest; an invalid, used or expired token is BadToken.
func (a *Activities) EscalationRedeemCustomer(ctx context.Context, req RedeemRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case req.Token == "" || req.Digest == "":
		return temporal.NewNonRetryableApplicationError("token: required", ErrTypeBadToken, nil)
	case a.Links == nil:
		return notConfigured("Links")
	}
	if _, err := a.Links.Redeem(ctx, req.Token, activity.GetInfo(ctx).WorkflowExecution.ID, req.Digest); err != nil {
		return temporal.NewNonRetryableApplicationError("token: "+err.Error(), ErrTypeBadToken, nil)
	}
	return nil
}

// EscalationAddNote adds a CRM note once per key.
func (a *Activities) EscalationAddNote(ctx context.Context, req NoteRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case req.AccountID == "" || req.IdempotencyKey == "" || strings.TrimSpace(req.Text) == "":
		return invalidArg("accountId, idempotencyKey and text: required")
	case a.CRM == nil:
		return notConfigured("CRM")
	}
	if _, err := a.CRM.AddNote(ctx, req.AccountID, req.IdempotencyKey, req.Text); err != nil {
		return classify(fmt.Errorf("add note to %s: %w", req.AccountID, err))
	}
	return nil
}
