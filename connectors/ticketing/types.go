// Package ticketing is the connector to the issue tracker (think Jira or
// Zendesk): issues with a priority, a status that moves through a fixed
// workflow, an assignee, comments and links to other issues. Every mutation
// carries an Idempotency-Key, so a retried call is applied once; the wire
// format is in sandbox/openapi.yaml.
package ticketing

import (
	"slices"
	"time"
)

// Issue statuses. An issue starts open, is worked on, resolved and closed;
// a resolved or closed issue can be reopened.
const (
	StatusOpen       = "open"
	StatusInProgress = "in_progress"
	StatusResolved   = "resolved"
	StatusClosed     = "closed"
)

// Statuses lists the statuses in workflow order.
func Statuses() []string {
	return []string{StatusOpen, StatusInProgress, StatusResolved, StatusClosed}
}

// transitions maps a status to the statuses it may move to.
var transitions = map[string][]string{
	StatusOpen:       {StatusInProgress},
	StatusInProgress: {StatusResolved},
	StatusResolved:   {StatusClosed, StatusOpen},
	StatusClosed:     {StatusOpen},
}

// CanTransition reports whether an issue in status from may move to status
// to: open → in_progress → resolved → closed, and reopening (resolved or
// closed → open). Staying in a status is not a transition.
func CanTransition(from, to string) bool { return slices.Contains(transitions[from], to) }

// Priorities, most urgent first.
const (
	P1 = "P1"
	P2 = "P2"
	P3 = "P3"
	P4 = "P4"
)

// Priorities lists the priorities, most urgent first.
func Priorities() []string { return []string{P1, P2, P3, P4} }

// Link types: this issue relates to, blocks, or was caused by another.
const (
	LinkRelates  = "relates"
	LinkBlocks   = "blocks"
	LinkCausedBy = "caused_by"
)

// LinkTypes lists the link types.
func LinkTypes() []string { return []string{LinkRelates, LinkBlocks, LinkCausedBy} }

// Projects the sandbox is seeded with; any upper-case key of 2 to 10
// letters and digits is a project.
const (
	ProjectSupport     = "SUP"
	ProjectEngineering = "ENG"
)

// IssueRequest asks for a new issue; it starts open.
type IssueRequest struct {
	Project     string `json:"project"` // e.g. "SUP", "ENG"
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Priority    string `json:"priority"`            // P1..P4
	Assignee    string `json:"assignee,omitempty"`  // a person id; empty => unassigned
	AccountID   string `json:"accountId,omitempty"` // the CRM account it concerns
}

// Issue is an issue as the tracker reports it.
type Issue struct {
	ID             string       `json:"id"` // "TCK-<project>-<n>", e.g. "TCK-SUP-1"
	IdempotencyKey string       `json:"idempotencyKey,omitempty"`
	Project        string       `json:"project"`
	Title          string       `json:"title"`
	Description    string       `json:"description,omitempty"`
	Priority       string       `json:"priority"`
	Status         string       `json:"status"`
	Assignee       string       `json:"assignee,omitempty"`
	AccountID      string       `json:"accountId,omitempty"`
	Comments       []Comment    `json:"comments"` // oldest first
	Links          []Link       `json:"links"`    // in the order added
	History        []Transition `json:"history"`  // status changes, oldest first
	CreatedAt      time.Time    `json:"createdAt"`
	UpdatedAt      time.Time    `json:"updatedAt"`
	// ResolvedAt is when the issue was last resolved; a reopen clears it.
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
}

// Comment is one comment on an issue.
type Comment struct {
	ID     string    `json:"id"` // derived from the comment's idempotency key
	Author string    `json:"author"`
	Body   string    `json:"body"`
	At     time.Time `json:"at"`
}

// Link points from an issue to another one.
type Link struct {
	Type    string `json:"type"` // relates, blocks, caused_by
	IssueID string `json:"issueId"`
}

// Transition is one status change.
type Transition struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Filter selects issues to list; empty fields do not filter. Statuses
// matches any of the statuses given.
type Filter struct {
	Statuses  []string
	Priority  string
	Project   string
	AccountID string
}
