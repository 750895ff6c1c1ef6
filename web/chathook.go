package web

// The chat webhook receiver: the chat service POSTs every human message,
// signed with the shared secret. A command ("ack ESC-1", "reassign ESC-1
// @noor", "resolved ESC-1") from a handle the directory knows becomes that
// person's step on the escalation, sent as the "escalation" Update with an
// assertion of method chat; anyone else's message has no effect.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// ChatHookPath is where the chat service delivers messages.
const ChatHookPath = "/hooks/chat"

// Bounds of the chat webhook.
const (
	// chatDeliveriesKept is how many delivery ids are remembered to drop
	// repeats (the chat service retries with the same id).
	chatDeliveriesKept = 4096
	// chatActTimeout bounds sending one command's step: the delivery is
	// answered at once (the chat service waits only seconds), the step is
	// sent afterwards.
	chatActTimeout = 30 * time.Second
	maxDeliveryID  = 128
)

// deliveries remembers the last ids seen, oldest dropped first.
type deliveries struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

// first records id and reports whether it was not seen before.
func (d *deliveries) first(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[id]; ok {
		return false
	}
	if d.seen == nil {
		d.seen = map[string]struct{}{}
		d.ring = make([]string, chatDeliveriesKept)
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.seen, old)
	}
	d.ring[d.next] = id
	d.next = (d.next + 1) % len(d.ring)
	d.seen[id] = struct{}{}
	return true
}

type chatHook struct {
	secret string
	seen   deliveries
	// bg counts the steps being sent, so tests can wait for them.
	bg sync.WaitGroup
}

func (s *Server) chatWebhook(w http.ResponseWriter, r *http.Request) {
	h := s.chat
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, chat.MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := chat.VerifyWebhook(h.secret, r.Header, body, s.now()); err != nil {
		s.log.WarnContext(r.Context(), "chat webhook refused", "err", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	delivery := r.Header.Get(chat.HeaderDelivery)
	if len(delivery) > maxDeliveryID {
		http.Error(w, "bad delivery id", http.StatusBadRequest)
		return
	}
	ev, err := chat.DecodeWebhook(body)
	if err != nil {
		s.log.WarnContext(r.Context(), "chat webhook body", "err", err)
		w.WriteHeader(http.StatusOK) // not ours to retry
		return
	}
	if delivery == "" {
		delivery = ev.Message.ID
	}
	if !h.seen.first(delivery) {
		s.log.InfoContext(r.Context(), "chat delivery repeated; dropped", "delivery", delivery)
		w.WriteHeader(http.StatusOK)
		return
	}
	m := ev.Message
	cmd, ok := chat.ParseCommand(m.Text)
	if m.Bot || !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	p, ok := s.dir.PersonByChat(m.Author)
	if !ok {
		// Never passed on: only known people act from chat.
		s.log.WarnContext(r.Context(), "chat command from an unknown handle ignored", "handle", shorten(m.Author, 70), "verb", cmd.Verb, "ref", cmd.Ref, "message", m.ID)
		w.WriteHeader(http.StatusOK)
		return
	}
	req := customerescalation.EscalationRequest{Person: p.ID, Via: customerescalation.ViaChat, ChatHandle: m.Author}
	switch cmd.Verb {
	case chat.VerbAck:
		req.Action = customerescalation.ActionAck
	case chat.VerbResolved:
		req.Action = customerescalation.ActionResolve
	case chat.VerbReassign:
		to, ok := s.dir.PersonByChat(cmd.Handle)
		if !ok {
			s.log.WarnContext(r.Context(), "chat reassign to an unknown handle ignored", "person", p.ID, "to", cmd.Handle, "ref", cmd.Ref)
			w.WriteHeader(http.StatusOK)
			return
		}
		req.Action, req.To = customerescalation.ActionReassign, to.ID
	default:
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	id := escalationWorkflowID(cmd.Ref)
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), chatActTimeout)
		defer cancel()
		s.chatAct(ctx, id, m.ID, req)
	}()
}

// chatAct sends a known person's chat command as their step.
func (s *Server) chatAct(ctx context.Context, id, messageID string, req customerescalation.EscalationRequest) {
	log := s.log.With("workflowId", id, "person", req.Person, "action", req.Action, "message", messageID)
	ex, st, ref := s.lookupEscalation(ctx, id)
	switch {
	case ref != nil:
		log.WarnContext(ctx, "chat command names no escalation", "why", ref.heading)
		return
	case !ex.Running || st.OpenStep == "":
		log.InfoContext(ctx, "chat command for an escalation with no open step ignored", "stage", st.Stage)
		return
	}
	req.Step = st.OpenStep
	var err error
	if req.Proof, err = s.signEscalation(proof.MethodChat, id, ex.RunID, req); err != nil {
		log.ErrorContext(ctx, "sign chat step", "err", err)
		return
	}
	err = s.esc.SendEscalation(ctx, id, req, false)
	var refused *EscalationRefusedError
	switch {
	case err == nil:
		log.InfoContext(ctx, "chat step accepted", "step", req.Step)
	case errors.As(err, &refused):
		log.WarnContext(ctx, "chat step refused", "step", req.Step, "reason", refused.Reason)
	default:
		log.ErrorContext(ctx, "send chat step", "err", err)
	}
}
