package chat

import (
	"regexp"
	"strings"
)

// Command verbs people type in chat.
const (
	VerbAck      = "ack"      // "ack ESC-123": I am on it
	VerbReassign = "reassign" // "reassign ESC-123 @noor": hand it to someone else
	VerbResolved = "resolved" // "resolved ESC-123": the problem is fixed
)

// Command is a parsed chat command. Ref names what it is about (an
// escalation, a ticket or a workflow id) exactly as typed; Handle is the new
// owner of a reassign, lower-cased with its '@'.
type Command struct {
	Verb   string
	Ref    string
	Handle string
}

var (
	// refRE: letters, digits and . _ : - , starting and ending with a letter
	// or digit; e.g. ESC-123, TCK-SUP-1, customer-escalation-ACC-GLOBEX.
	refRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,126}[A-Za-z0-9])?$`)
	// HandleRE is a chat handle: '@' and 1 to 64 letters, digits and . _ -.
	handleRE = regexp.MustCompile(`^@[a-z0-9][a-z0-9._-]{0,63}$`)
)

// verbs maps what people type (without case) to the verb.
var verbs = map[string]string{
	"ack": VerbAck, "acknowledge": VerbAck,
	"reassign": VerbReassign,
	"resolved": VerbResolved, "resolve": VerbResolved,
}

// ValidHandle reports whether h is a chat handle such as "@eli" (lower-case).
func ValidHandle(h string) bool { return handleRE.MatchString(h) }

// ParseCommand reads a command from a whole message: "ack <ref>",
// "reassign <ref> @handle" or "resolved <ref>" ("acknowledge" and "resolve"
// too), verbs in any case, words separated by any white space, an optional
// leading '/'. Anything else — other words, missing or extra arguments, a
// ref with other characters — is not a command.
func ParseCommand(text string) (Command, bool) {
	fields := strings.Fields(text)
	if len(fields) < 2 {
		return Command{}, false
	}
	verb, ok := verbs[strings.ToLower(strings.TrimPrefix(fields[0], "/"))]
	if !ok || !refRE.MatchString(fields[1]) {
		return Command{}, false
	}
	c := Command{Verb: verb, Ref: fields[1]}
	switch {
	case verb == VerbReassign && len(fields) == 3:
		h := strings.ToLower(fields[2])
		if !handleRE.MatchString(h) {
			return Command{}, false
		}
		c.Handle = h
	case verb != VerbReassign && len(fields) == 2:
	default:
		return Command{}, false
	}
	return c, true
}
