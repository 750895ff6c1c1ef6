package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go"
)

// Annotation keys the gate reads from policies.
const (
	annID       = "id"
	annApproval = "approval"
	annMessage  = "message"
)

// Engine decides requests against the policy files of a Source, reloading
// them when they change. It is safe for concurrent use.
type Engine struct {
	src Source
	now func() time.Time // stamps decisions
	// wall is the clock file mtimes are compared with. It is deliberately not
	// now: tests inject a fixed decision time, but mtimes are real.
	wall func() time.Time
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below; held while checking/reloading
	stats   []fileStat // the files the current state was read from
	checked bool       // stats is valid (a read completed)
	racy    bool       // stats cannot prove the files unchanged; re-hash
	hash    string     // hash of the files read, "" when nothing was read
	set     *compiled  // nil when err != nil
	err     error      // why the current files cannot be decided on
}

// compiled is an immutable, parsed policy set; Decide evaluates it without
// holding the lock.
type compiled struct {
	policies *cedar.PolicySet
	meta     map[cedar.PolicyID]Reason
	hash     string
}

// Open loads the policies of src. now stamps decisions; log receives reload
// events (nil discards). Policies that cannot be decided on make Open fail
// with ErrUndecidable, so a misconfigured worker does not start.
func Open(src Source, now func() time.Time, log *slog.Logger) (*Engine, error) {
	if now == nil {
		return nil, errors.New("gate: open: nil clock")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{src: src, now: now, wall: time.Now, log: log}
	if _, err := e.current(); err != nil {
		return nil, err // already "gate: undecidable: policies in <src>: ..."
	}
	return e, nil
}

// PolicySetHash returns the hash of the policy files as last read ("" when
// they could not be read). It is the set in force only while Decide
// succeeds; a Decision carries the hash it was actually decided on.
func (e *Engine) PolicySetHash() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hash
}

// Decide evaluates req against the current policy files. An error wrapping
// ErrUndecidable means the policies cannot be decided on; one wrapping
// ErrInvalidRequest means req cannot be. A Decision is returned only when
// the policies were evaluated; it is a deny if any policy failed to evaluate.
func (e *Engine) Decide(ctx context.Context, req Request) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("decide %s: %w", req.Action, err)
	}
	creq, err := req.toCedar()
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s: %w", req.Action, err)
	}
	c, err := e.current()
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s: %w", req.Action, err)
	}

	verdict, diag := cedar.Authorize(c.policies, nil, creq)
	d := Decision{Permit: verdict == cedar.Allow, PolicySetHash: c.hash, At: e.now()}
	if !d.Permit {
		// On a deny cedar's reasons are exactly the matching forbids.
		for _, r := range diag.Reasons {
			d.Reasons = append(d.Reasons, c.meta[r.PolicyID])
		}
		slices.SortFunc(d.Reasons, func(a, b Reason) int { return strings.Compare(a.PolicyID, b.PolicyID) })
	}
	for _, de := range diag.Errors {
		d.Errors = append(d.Errors, fmt.Sprintf("%s (%s:%d): %s",
			de.PolicyID, de.Position.Filename, de.Position.Line, de.Message))
	}
	if len(d.Errors) > 0 {
		// Cedar skips a policy that errors; a skipped forbid could have
		// matched, so an error can never end in a permit.
		slices.Sort(d.Errors)
		d.Permit = false
	}
	if e.log.Enabled(ctx, slog.LevelDebug) { // String() is not free; Decide is on the hot path
		e.log.DebugContext(ctx, "gate: decided",
			"action", req.Action, "principal", req.Principal.String(), "resource", req.Resource.String(),
			"decision", d.String())
	}
	return d, nil
}

// current returns the policy set to decide on, reloading it first when the
// files changed. Failures are remembered with the files' state so broken
// files cost a stat per Decide, not a re-parse, until they change.
func (e *Engine) current() (*compiled, error) {
	e.mu.Lock()
	defer e.mu.Unlock()

	stats, err := e.src.stat()
	if err != nil {
		return nil, e.unreadable(err)
	}
	if e.checked && !e.racy && slices.EqualFunc(stats, e.stats, sameStat) {
		return e.set, e.err
	}
	readAt := e.wall()
	files, err := e.src.read(stats)
	if err != nil {
		return nil, e.unreadable(err)
	}
	hash := hashFiles(files)
	e.stats, e.checked, e.racy = stats, true, racy(stats, readAt)
	if hash == e.hash {
		return e.set, e.err // touched or racy, but the same bytes
	}

	old := e.hash
	e.hash = hash
	e.set, e.err = compile(e.src, files, hash)
	if e.err != nil {
		e.log.Error("gate: policy files do not load; every decision fails until they are fixed",
			"source", e.src.String(), "hash", hash, "err", e.err)
		return nil, e.err
	}
	if old == "" {
		e.log.Info("gate: policies loaded",
			"source", e.src.String(), "hash", hash, "files", len(files), "policies", len(e.set.meta))
	} else {
		e.log.Info("gate: policies reloaded",
			"source", e.src.String(), "old_hash", old, "new_hash", hash, "files", len(files), "policies", len(e.set.meta))
	}
	return e.set, nil
}

// unreadable records that the source could not be read. Nothing is in force
// afterwards, so a recovery re-parses even identical files. Called with e.mu
// held.
func (e *Engine) unreadable(cause error) error {
	err := fmt.Errorf("%w: policies in %s: %w", ErrUndecidable, e.src, cause)
	if e.set != nil || e.err == nil || e.err.Error() != err.Error() {
		// Log the transition, not every Decide while it lasts.
		e.log.Error("gate: policy source unreadable; every decision fails until it is fixed",
			"source", e.src.String(), "err", cause)
	}
	e.stats, e.checked, e.racy, e.hash, e.set, e.err = nil, false, false, "", nil, err
	return err
}

// compile parses the files into one policy set keyed by @id.
func compile(src Source, files []policyFile, hash string) (*compiled, error) {
	undecidable := func(format string, args ...any) error {
		return fmt.Errorf("%w: policies in %s: %s", ErrUndecidable, src, fmt.Sprintf(format, args...))
	}
	if len(files) == 0 {
		return nil, undecidable("no *%s files", policyExt)
	}
	c := &compiled{policies: cedar.NewPolicySet(), meta: map[cedar.PolicyID]Reason{}, hash: hash}
	where := map[cedar.PolicyID]string{}
	permits := 0
	for _, f := range files {
		list, err := cedar.NewPolicyListFromBytes(f.name, f.data)
		if err != nil {
			return nil, undecidable("%s", parseError(f.name, err))
		}
		for i, p := range list {
			pos := p.Position()
			at := fmt.Sprintf("%s:%d", f.name, pos.Line)
			ann := p.Annotations()
			id := string(ann[annID])
			if id == "" {
				// cedar's own per-file id alone would collide across files.
				id = fmt.Sprintf("policy%d@%s", i, at)
			}
			pid := cedar.PolicyID(id)
			if prev, dup := where[pid]; dup {
				// Two rules with one id would make a deny's reasons ambiguous.
				return nil, undecidable("policy id %q at %s and %s", id, prev, at)
			}
			where[pid] = at
			c.policies.Add(pid, p)
			c.meta[pid] = Reason{PolicyID: id, Approval: string(ann[annApproval]), Message: string(ann[annMessage])}
			if p.Effect() == cedar.Permit {
				permits++
			}
		}
	}
	if permits == 0 {
		// Cedar would deny everything with no reason given; that is a
		// misconfiguration, not a decision.
		return nil, undecidable("no permit policy (expected @id(%q) permit(principal, action, resource);)", "default-permit")
	}
	return c, nil
}

// parseError puts the file name into cedar's parse error, whose positions
// read "<input>:line:col".
func parseError(name string, err error) string {
	msg := err.Error()
	if strings.Contains(msg, "<input>") {
		return strings.ReplaceAll(msg, "<input>", name)
	}
	return name + ": " + msg
}
