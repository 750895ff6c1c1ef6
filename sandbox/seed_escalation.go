package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
)

// Seed customer accounts (CRM), with owners, CSMs, ARR and health.
const (
	// AccountGlobex: enterprise, health 82, the account of the open P1 IssueGlobexP1.
	AccountGlobex = "ACC-GLOBEX"
	// AccountHooli: mid-market, health 47.
	AccountHooli = "ACC-HOOLI"
	// AccountInitech: enterprise, health 54 (dropped from 78).
	AccountInitech = "ACC-INITECH"
	// AccountUmbrella: enterprise, health 74.
	AccountUmbrella = "ACC-UMBRELLA"
)

// Seed issues (ticketing).
const (
	// IssueGlobexP1: P1, open, unassigned, support, for AccountGlobex.
	IssueGlobexP1 = "TCK-SUP-1"
	// IssueInitechSSO: P2, in progress, assigned to eli, for AccountInitech.
	IssueInitechSSO = "TCK-SUP-2"
	// IssueUmbrellaVAT: P3, open, for AccountUmbrella.
	IssueUmbrellaVAT = "TCK-SUP-3"
	// IssueUmbrellaWebhooksP1: P1, resolved, caused by IssueQueueLag.
	IssueUmbrellaWebhooksP1 = "TCK-SUP-4"
	// IssueHooliTypo: P4, closed.
	IssueHooliTypo = "TCK-SUP-5"
	// IssueQueueLag: P2, in progress, engineering, assigned to noor.
	IssueQueueLag = "TCK-ENG-1"
)

// Seed chat channels: one per customer account, and the on-call channel.
const (
	ChannelGlobex    = "acct-globex"
	ChannelHooli     = "acct-hooli"
	ChannelInitech   = "acct-initech"
	ChannelUmbrella  = "acct-umbrella"
	ChannelEngOncall = "eng-oncall"
)

// SeedChatHandles are the chat handles of the seeded people. The sandbox
// knows nothing else of them: which person a handle is, and whether their
// word counts, is for the people directory (policy/org.yaml) to say. Any
// well-formed handle can post.
func SeedChatHandles() []string {
	return []string{"@sam", "@clara", "@eli", "@noor", "@mateo", "@vera"}
}

// SeedCustomerAccounts returns the customer accounts, created (and active)
// at createdAt, with health histories ending a day before it; in id order.
func SeedCustomerAccounts(createdAt time.Time) []crm.Account {
	at := createdAt.UTC()
	day := func(d int) time.Time { return at.AddDate(0, 0, d) }
	health := func(scores ...int) []crm.HealthPoint {
		var out []crm.HealthPoint
		for i, sc := range scores {
			out = append(out, crm.HealthPoint{Score: sc, At: day(-7 * (len(scores) - i - 1)).Add(-24 * time.Hour)})
		}
		return out
	}
	acc := func(id, name, email, phone, address string, lat, lon float64, tier string, arr int64, owner, csm string, h []crm.HealthPoint) crm.Account {
		score := h[len(h)-1].Score
		return crm.Account{ID: id, Name: name, Email: email, Phone: phone, Address: address, Lat: lat, Lon: lon,
			Plan: crm.PlanPremium, Status: crm.StatusActive, VerifiedBy: "seed", CreatedAt: at, ActivatedAt: &at,
			ARRMinor: arr, Currency: "EUR", Owner: owner, CSM: csm, Tier: tier, HealthScore: &score, HealthHistory: h}
	}
	return []crm.Account{
		acc(AccountGlobex, "Globex Corporation", "it@globex.example", "+33 1 40 00 00 00", "12 Rue de Rivoli, 75001 Paris",
			48.8556, 2.3522, crm.TierEnterprise, 120000000, "sam", "clara", health(91, 88, 82)),
		acc(AccountHooli, "Hooli Europe BV", "ops@hooli.example", "+31 20 000 0000", "Damrak 1, 1012 LG Amsterdam",
			52.3745, 4.8980, crm.TierMidMarket, 9500000, "mateo", "clara", health(60, 52, 47)),
		acc(AccountInitech, "Initech GmbH", "it@initech.example", "+49 30 000 000", "Unter den Linden 10, 10117 Berlin",
			52.5170, 13.3889, crm.TierEnterprise, 48000000, "mateo", "vera", health(78, 66, 54)),
		acc(AccountUmbrella, "Umbrella Holdings plc", "it@umbrella.example", "+44 20 0000 0000", "1 Poultry, London EC2R 8EJ",
			51.5134, -0.0906, crm.TierEnterprise, 210000000, "sam", "noor", health(80, 76, 74)),
	}
}

// SeedIssues returns the seed issues as of now, oldest first.
func SeedIssues(now time.Time) []ticketing.Issue {
	now = now.UTC()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	ptr := func(t time.Time) *time.Time { return &t }
	const day = 24 * time.Hour
	iss := func(id, title, desc, prio, status, assignee, account string, created time.Time) ticketing.Issue {
		project := strings.Split(id, "-")[1]
		return ticketing.Issue{ID: id, Project: project, Title: title, Description: desc, Priority: prio, Status: status,
			Assignee: assignee, AccountID: account, CreatedAt: created, UpdatedAt: created,
			Comments: []ticketing.Comment{}, Links: []ticketing.Link{}, History: []ticketing.Transition{}}
	}
	queue := iss(IssueQueueLag, "Event queue consumer lag under peak load",
		"Consumers fall minutes behind when the EU peak starts; webhook and notification fan-out are delayed.",
		ticketing.P2, ticketing.StatusInProgress, "noor", "", ago(6*day))
	queue.History = []ticketing.Transition{{From: ticketing.StatusOpen, To: ticketing.StatusInProgress, By: "noor", At: ago(6*day - time.Hour)}}
	queue.UpdatedAt = ago(6*day - time.Hour)

	webhooks := iss(IssueUmbrellaWebhooksP1, "Webhook deliveries delayed by 20 minutes",
		"Umbrella's order webhooks arrive up to 20 minutes late.", ticketing.P1, ticketing.StatusResolved, "eli", AccountUmbrella, ago(5*day))
	webhooks.History = []ticketing.Transition{
		{From: ticketing.StatusOpen, To: ticketing.StatusInProgress, By: "eli", At: ago(5*day - time.Hour)},
		{From: ticketing.StatusInProgress, To: ticketing.StatusResolved, By: "eli", At: ago(4 * day)},
	}
	webhooks.Links = []ticketing.Link{{Type: ticketing.LinkCausedBy, IssueID: IssueQueueLag}}
	webhooks.ResolvedAt, webhooks.UpdatedAt = ptr(ago(4*day)), ago(4*day)

	typo := iss(IssueHooliTypo, "Typo in the billing settings page", "", ticketing.P4, ticketing.StatusClosed, "vera", AccountHooli, ago(4*day))
	typo.History = []ticketing.Transition{
		{From: ticketing.StatusOpen, To: ticketing.StatusInProgress, By: "vera", At: ago(4*day - time.Hour)},
		{From: ticketing.StatusInProgress, To: ticketing.StatusResolved, By: "vera", At: ago(3 * day)},
		{From: ticketing.StatusResolved, To: ticketing.StatusClosed, By: "vera", At: ago(2 * day)},
	}
	typo.ResolvedAt, typo.UpdatedAt = ptr(ago(3*day)), ago(2*day)

	vat := iss(IssueUmbrellaVAT, "Invoice PDF shows an outdated VAT number", "Since the March invoice run.",
		ticketing.P3, ticketing.StatusOpen, "", AccountUmbrella, ago(3*day))

	sso := iss(IssueInitechSSO, "SSO login intermittently times out",
		"About 5% of Initech's SAML logins time out at the IdP callback.", ticketing.P2, ticketing.StatusInProgress, "eli", AccountInitech, ago(2*day))
	sso.History = []ticketing.Transition{{From: ticketing.StatusOpen, To: ticketing.StatusInProgress, By: "eli", At: ago(day)}}
	sso.UpdatedAt = ago(day)

	p1 := iss(IssueGlobexP1, "Checkout API returns 500 for all EU customers",
		"Every checkout from an EU storefront fails with HTTP 500 since 08:40 UTC.", ticketing.P1, ticketing.StatusOpen, "", AccountGlobex, ago(45*time.Minute))
	p1.Comments = []ticketing.Comment{{ID: "CMT-SEED-1", Author: "clara", At: ago(40 * time.Minute),
		Body: "Globex reports every EU checkout failing; their CTO is asking for an ETA."}}
	p1.UpdatedAt = ago(40 * time.Minute)

	return []ticketing.Issue{queue, webhooks, typo, vat, sso, p1}
}

// SeedChannels returns the seed channels, created at createdAt.
func SeedChannels(createdAt time.Time) []chat.Channel {
	at := createdAt.UTC()
	ch := func(id, account string) chat.Channel {
		return chat.Channel{ID: id, Name: "#" + id, AccountID: account, CreatedAt: at}
	}
	return []chat.Channel{
		ch(ChannelGlobex, AccountGlobex), ch(ChannelHooli, AccountHooli), ch(ChannelInitech, AccountInitech),
		ch(ChannelUmbrella, AccountUmbrella), ch(ChannelEngOncall, ""),
	}
}

// SeedMessages returns the seed chat messages as of now.
func SeedMessages(now time.Time) []chat.Message {
	return []chat.Message{{ID: "MSG-1", Channel: ChannelGlobex, Author: "@clara",
		Text: "Heads-up: Globex sees checkout errors across the EU, see " + IssueGlobexP1 + ".", At: now.UTC().Add(-40 * time.Minute)}}
}

func (s *Server) seedIssues(ctx context.Context) error {
	err := s.store.inTx(ctx, func(tx *sql.Tx) error {
		for i, iss := range SeedIssues(s.now()) {
			num, err := strconv.ParseInt(iss.ID[strings.LastIndex(iss.ID, "-")+1:], 10, 64)
			if err != nil {
				return fmt.Errorf("seed issue id %s: %w", iss.ID, err)
			}
			if err := s.store.putIssue(ctx, tx, iss, num, int64(i+1)); err != nil {
				return err
			}
			for _, c := range iss.Comments {
				if err := s.store.insertComment(ctx, tx, iss.ID, c); err != nil {
					return err
				}
			}
			for _, l := range iss.Links {
				if err := s.store.insertLink(ctx, tx, iss.ID, l); err != nil {
					return err
				}
			}
			for _, t := range iss.History {
				if err := s.store.insertHistory(ctx, tx, iss.ID, t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func (s *Server) seedChat(ctx context.Context) error {
	err := s.store.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range SeedChannels(s.now()) {
			if err := s.store.putChannel(ctx, tx, c); err != nil {
				return err
			}
		}
		for i, m := range SeedMessages(s.now()) {
			if err := s.store.insertMessage(ctx, tx, m, int64(i+1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// seedEscalationIfEmpty seeds the ticketing and chat systems of a store that
// has none of their data.
func (s *Server) seedEscalationIfEmpty(ctx context.Context) error {
	noIssues, err := s.store.noIssues(ctx)
	if err != nil {
		return err
	}
	if noIssues {
		if err := s.seedIssues(ctx); err != nil {
			return err
		}
	}
	noChannels, err := s.store.noChannels(ctx)
	if err != nil {
		return err
	}
	if noChannels {
		return s.seedChat(ctx)
	}
	return nil
}
