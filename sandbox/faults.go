package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Endpoint names that faults can target. "*" targets every endpoint.
const (
	EndpointAll             = "*"
	EndpointERPGetVendor    = "erp.getVendor"
	EndpointERPPutVendor    = "erp.putVendor"
	EndpointERPGetInvoice   = "erp.getInvoice"
	EndpointERPListInvoices = "erp.listInvoices"
	EndpointERPPutInvoice   = "erp.putInvoice"
	EndpointERPGetSchedule  = "erp.getSchedule"
	EndpointERPPutSchedule  = "erp.putSchedule"
	EndpointERPMarkPaid     = "erp.markPaid"
	EndpointERPAddNote      = "erp.addNote"
	EndpointTreasuryRelease = "treasury.releasePayment"
	EndpointTreasuryGet     = "treasury.getPayment"
	EndpointTreasuryList    = "treasury.listPayments"
	EndpointMailList        = "mail.listMessages"
	EndpointMailGet         = "mail.getMessage"
	EndpointMailSMTP        = "mail.smtp"

	EndpointDeployTargets     = "deploy.listTargets"
	EndpointDeployArtifactGet = "deploy.getArtifact"
	EndpointDeployArtifactPut = "deploy.pushArtifact"
	EndpointDeployRelease     = "deploy.createRelease"
	EndpointDeployGet         = "deploy.getRelease"
	EndpointDeployList        = "deploy.listReleases"

	EndpointCRMCreate    = "crm.createAccount"
	EndpointCRMGet       = "crm.getAccount"
	EndpointCRMList      = "crm.listAccounts"
	EndpointCRMActivate  = "crm.activate"
	EndpointCRMAddNote   = "crm.addNote"
	EndpointCRMSetHealth = "crm.setHealth"

	EndpointTicketingCreate     = "ticketing.create"
	EndpointTicketingGet        = "ticketing.get"
	EndpointTicketingList       = "ticketing.list"
	EndpointTicketingTransition = "ticketing.transition"
	EndpointTicketingAssign     = "ticketing.assign"
	EndpointTicketingComment    = "ticketing.comment"
	EndpointTicketingLink       = "ticketing.link"

	EndpointChatListChannels  = "chat.listChannels"
	EndpointChatCreateChannel = "chat.createChannel"
	EndpointChatPost          = "chat.post"
	EndpointChatListMessages  = "chat.listMessages"
	EndpointChatSetWebhook    = "chat.setWebhook"
	EndpointChatListWebhooks  = "chat.listWebhooks"
	// EndpointChatWebhookDelivery fails outgoing webhook deliveries (each
	// attempt rolls the dice), as if the receiver were down.
	EndpointChatWebhookDelivery = "chat.webhookDelivery"
)

// Fault makes an endpoint slow or failing. An injected failure is a 503 (451
// for SMTP) returned before any state change, unless AfterEffect is set: then
// the change is made and the answer is lost, as when a response times out.
type Fault struct {
	ErrorRate   float64       // 0..1, chance that a call fails
	Latency     time.Duration // added before the endpoint runs
	AfterEffect bool          // fail after the state change instead of before
}

type faultWire struct {
	ErrorRate   float64 `json:"errorRate" yaml:"errorRate"`
	LatencyMs   int64   `json:"latencyMs" yaml:"latencyMs"`
	AfterEffect bool    `json:"afterEffect,omitempty" yaml:"afterEffect,omitempty"`
}

func (f Fault) wire() faultWire {
	return faultWire{ErrorRate: f.ErrorRate, LatencyMs: f.Latency.Milliseconds(), AfterEffect: f.AfterEffect}
}

func (w faultWire) fault() Fault {
	return Fault{ErrorRate: w.ErrorRate, Latency: time.Duration(w.LatencyMs) * time.Millisecond, AfterEffect: w.AfterEffect}
}

// MarshalJSON writes {"errorRate":..,"latencyMs":..,"afterEffect":..}.
func (f Fault) MarshalJSON() ([]byte, error) { return json.Marshal(f.wire()) }

// UnmarshalJSON reads {"errorRate":..,"latencyMs":..,"afterEffect":..}.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var w faultWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = w.fault()
	return nil
}

// MarshalYAML writes the same shape as JSON.
func (f Fault) MarshalYAML() (any, error) { return f.wire(), nil }

// UnmarshalYAML reads the same shape as JSON.
func (f *Fault) UnmarshalYAML(n *yaml.Node) error {
	var w faultWire
	if err := n.Decode(&w); err != nil {
		return err
	}
	*f = w.fault()
	return nil
}

func (f Fault) validate(name string) error {
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		return fieldError{field: name + ".errorRate", msg: "errorRate must be between 0 and 1"}
	}
	if f.Latency < 0 {
		return fieldError{field: name + ".latencyMs", msg: "latencyMs must not be negative"}
	}
	return nil
}

// ParseFaults reads a JSON object mapping endpoint names to faults, e.g.
// {"treasury.releasePayment": {"errorRate": 0.3, "latencyMs": 200}}.
func ParseFaults(data []byte) (map[string]Fault, error) {
	var m map[string]Fault
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse faults: %w", err)
	}
	if m == nil {
		m = map[string]Fault{}
	}
	for name, f := range m {
		if err := f.validate(name); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decide picks the fault for endpoint and rolls the dice once. fire says
// whether this call fails.
func (s *Server) decide(endpoint string) (f Fault, fire bool) {
	s.mu.Lock()
	f, ok := s.faults[endpoint]
	if !ok {
		f, ok = s.faults[EndpointAll]
	}
	s.mu.Unlock()
	if !ok {
		return Fault{}, false
	}
	return f, f.ErrorRate > 0 && s.rand() < f.ErrorRate
}

// Faults returns a copy of the active faults.
func (s *Server) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.faults))
	for k, v := range s.faults {
		out[k] = v
	}
	return out
}

// SetFaults replaces the active faults; an empty map clears them.
func (s *Server) SetFaults(faults map[string]Fault) error {
	out := make(map[string]Fault, len(faults))
	for k, v := range faults {
		if err := v.validate(k); err != nil {
			return err
		}
		out[k] = v
	}
	s.mu.Lock()
	s.faults = out
	s.mu.Unlock()
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
