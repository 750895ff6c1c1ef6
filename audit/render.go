package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Timeline is the view of one business key's history that answers "what
// happened to invoice X and who approved it": one line per entry, the
// outcome last. `audit show` prints it (WriteText); the web app renders
// the same lines as HTML.
type Timeline struct {
	Key   string         `json:"key,omitempty"`
	Lines []TimelineLine `json:"lines"`
}

// TimelineLine is one entry for people.
type TimelineLine struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Kind       Kind      `json:"kind"`
	Actor      string    `json:"actor"`
	Summary    string    `json:"summary"`
	Process    string    `json:"process"`
	WorkflowID string    `json:"workflowId,omitempty"`
	// Detail is what Data adds, in words: the approver's slot and proof,
	// the gate's verdict, policies and policy set, the side effect's
	// system, operation and reference, ...
	Detail string `json:"detail,omitempty"`
	// Attention marks what went against the grain: a denial, a
	// rejection, an unverified proof, refused evidence, a failed
	// verification, an exception.
	Attention bool `json:"attention,omitempty"`
}

// NewTimeline builds the view of entries (as History returns them).
func NewTimeline(key string, entries []Entry) Timeline {
	t := Timeline{Key: key, Lines: make([]TimelineLine, 0, len(entries))}
	for _, e := range entries {
		ev := e.Event
		l := TimelineLine{Seq: e.Seq, At: ev.At, Kind: ev.Kind, Actor: ev.Actor, Summary: ev.Summary, Process: ev.Process, WorkflowID: ev.WorkflowID}
		l.Detail, l.Attention = describe(ev)
		t.Lines = append(t.Lines, l)
	}
	// By seq, except that outcomes close the story.
	slices.SortStableFunc(t.Lines, func(a, b TimelineLine) int {
		if ao, bo := a.Kind == KindOutcome, b.Kind == KindOutcome; ao != bo {
			if ao {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return t
}

// RenderText writes entries as a Timeline, one screen of text.
func RenderText(w io.Writer, entries []Entry) error {
	return NewTimeline("", entries).WriteText(w)
}

// WriteText writes the timeline: time, kind, actor and summary per line,
// the detail indented below.
func (t Timeline) WriteText(w io.Writer) error {
	var b strings.Builder
	if t.Key != "" {
		fmt.Fprintf(&b, "History of %s: %d entr%s\n\n", oneLine(t.Key), len(t.Lines), pluralY(len(t.Lines)))
	}
	const timeFormat = "2006-01-02 15:04:05Z"
	actorWidth := len("ACTOR")
	for _, l := range t.Lines {
		actorWidth = max(actorWidth, min(utf8.RuneCountInString(oneLine(l.Actor)), 24))
	}
	kindWidth := len("verification")
	indent := strings.Repeat(" ", len(timeFormat)+2+kindWidth+2+actorWidth+2)
	fmt.Fprintf(&b, "%-*s  %-*s  %-*s  %s\n", len(timeFormat), "TIME (UTC)", kindWidth, "KIND", actorWidth, "ACTOR", "SUMMARY")
	for _, l := range t.Lines {
		mark := ""
		if l.Attention {
			mark = "! "
		}
		fmt.Fprintf(&b, "%s  %-*s  %-*s  %s%s\n", l.At.UTC().Format(timeFormat), kindWidth, l.Kind, actorWidth, oneLine(l.Actor), mark, oneLine(l.Summary))
		if l.Detail != "" {
			fmt.Fprintf(&b, "%s%s\n", indent, oneLine(l.Detail))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps what was recorded from forging the listing: newlines and
// tabs become spaces, and other control characters (an escape sequence
// moving the cursor, a backspace) and bidirectional overrides become U+FFFD,
// since summaries and actors come from inputs requesters and agents control.
func oneLine(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

// describe says in words what ev's Data adds, and whether it needs
// attention. Data that does not decode adds nothing.
func describe(ev Event) (string, bool) {
	if len(ev.Data) == 0 {
		return "", ev.Kind == KindException
	}
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	attention := false
	switch ev.Kind {
	case KindProposed:
		var d ProposedData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		if d.ActionKind != "" || d.Target != "" {
			add("action %s on %s", orDash(d.ActionKind), orDash(d.Target))
		}
		verified := "requester verified"
		if !d.RequesterVerified {
			verified = "requester NOT verified"
		}
		add("requested by %s (%s)", orDash(d.RequestedBy), verified)
	case KindGate:
		var d GateData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		verdict := "permit"
		if !d.Permit {
			verdict, attention = "DENY", true
		}
		if d.Where != "" {
			verdict += " at " + d.Where
		}
		add("%s", verdict)
		if len(d.Reasons) > 0 {
			var policies []string
			for _, r := range d.Reasons {
				p := r.Policy
				if r.Approval {
					p += " (approval may lift)"
				}
				policies = append(policies, p)
			}
			add("denied by %s", strings.Join(policies, ", "))
		}
		if d.PolicySetHash != "" {
			add("policy set %s", short(d.PolicySetHash))
		}
	case KindApproval:
		var d ApprovalData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		add("%s by %s", orDash(d.Decision), ev.Actor)
		if d.Slot != "" {
			add("slot %s", d.Slot)
		}
		if d.OnBehalfOf != "" {
			add("on behalf of %s", d.OnBehalfOf)
		}
		if d.Proof.Verified {
			add("proof verified (method %s, key %s)", orDash(d.Proof.Method), orDash(d.Proof.KeyID))
		} else {
			add("proof NOT verified")
		}
		if d.WaitedSeconds > 0 {
			add("after %s", (time.Duration(d.WaitedSeconds) * time.Second).String())
		}
		if d.Comment != "" {
			add("%q", d.Comment)
		}
		attention = d.Decision != "approve" || !d.Proof.Verified
	case KindHandoff:
		var d HandoffData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		add("%s", orDash(d.Why))
		if len(d.From) > 0 {
			add("from %s", strings.Join(d.From, ", "))
		}
		if len(d.To) > 0 {
			add("to %s", strings.Join(d.To, ", "))
		}
		if d.Role != "" {
			add("role %s", d.Role)
		}
	case KindEvidence:
		var d EvidenceData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		if d.Accepted {
			add("accepted")
		} else {
			add("REFUSED")
			attention = true
		}
		add("%d item%s", len(d.Items), plural(len(d.Items)))
		if len(d.Problems) > 0 {
			add("%s", strings.Join(d.Problems, "; "))
		}
	case KindSideEffect:
		var d SideEffectData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		add("%s/%s", orDash(d.System), orDash(d.Operation))
		if d.Reference != "" {
			add("ref %s", d.Reference)
		}
		if d.Currency != "" || d.AmountMinor != 0 {
			add("%s", amount(d.AmountMinor, d.Currency))
		}
	case KindVerification:
		var d VerificationData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		if d.Verified {
			add("%s verified", orDash(d.What))
		} else {
			add("%s NOT verified", orDash(d.What))
			attention = true
		}
		if d.Detail != "" {
			add("%s", d.Detail)
		}
	case KindException:
		attention = true
		var d ExceptionData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		add("reason %s", orDash(d.Reason))
		if len(d.To) > 0 {
			add("to %s", strings.Join(d.To, ", "))
		}
	case KindOutcome:
		var d OutcomeData
		if json.Unmarshal(ev.Data, &d) != nil {
			break
		}
		o := "outcome " + orDash(d.Outcome)
		if d.Autonomous {
			o += " (autonomous)"
		}
		add("%s", o)
		if d.Reason != "" {
			add("%s", d.Reason)
		}
	}
	return strings.Join(parts, " · "), attention
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// amount formats minor units with two decimals, the precision of every
// currency the processes pay in.
func amount(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return strings.TrimSpace(fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency))
}
