package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

// onEngines runs fn against a fresh seeded sandbox on SQLite and, when
// DATABASE_URL is set, on PostgreSQL.
func onEngines(t *testing.T, mutate func(*sandbox.Config), fn func(t *testing.T, s *sandbox.Server, clk *clock)) {
	t.Helper()
	for _, eng := range testdb.Engines("sandbox_esc_test") {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			dbURL, path := eng.Locate(t, "sandbox.db")
			s, clk := start(t, func(c *sandbox.Config) {
				c.DatabaseURL, c.SQLitePath = dbURL, path
				if mutate != nil {
					mutate(c)
				}
			})
			fn(t, s, clk)
		})
	}
}

func keyed(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func issueRequest() ticketing.IssueRequest {
	return ticketing.IssueRequest{Project: "ENG", Title: "Checkout 500s in the EU", Description: "Escalated from TCK-SUP-1",
		Priority: ticketing.P1, AccountID: sandbox.AccountGlobex}
}

func decodeIssue(t *testing.T, a answer) ticketing.Issue {
	t.Helper()
	var iss ticketing.Issue
	a.decode(t, &iss)
	return iss
}

func getIssue(t *testing.T, s *sandbox.Server, id string) ticketing.Issue {
	t.Helper()
	a := call(t, s, "GET", "/ticketing/issues/"+id, nil, "")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	return decodeIssue(t, a)
}

func listIssues(t *testing.T, s *sandbox.Server, query string) []string {
	t.Helper()
	a := call(t, s, "GET", "/ticketing/issues"+query, nil, "")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var list []ticketing.Issue
	a.decode(t, &list)
	ids := []string{}
	for _, iss := range list {
		ids = append(ids, iss.ID)
	}
	return ids
}

func TestTicketingSeed(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	var list []ticketing.Issue
	call(t, s, "GET", "/ticketing/issues", nil, "").decode(t, &list)
	assert.Equal(t, sandbox.SeedIssues(day0), list)
	assert.Equal(t, []string{sandbox.IssueGlobexP1}, listIssues(t, s, "?status=open&priority=P1"), "the detector's query")
	p1 := getIssue(t, s, sandbox.IssueGlobexP1)
	assert.Equal(t, "Checkout API returns 500 for all EU customers", p1.Title)
	assert.Equal(t, sandbox.AccountGlobex, p1.AccountID)
	assert.Equal(t, ticketing.ProjectSupport, p1.Project)
	assert.Empty(t, p1.IdempotencyKey)
	require.Len(t, p1.Comments, 1)
}

func TestTicketingCreateIdempotency(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, clk *clock) {
		req := issueRequest()
		other := req
		other.Priority = ticketing.P2
		reordered := func() string {
			var m map[string]any
			_ = json.Unmarshal([]byte(jsonBody(req)), &m)
			b, _ := json.MarshalIndent(m, "", "  ")
			return string(b)
		}()
		steps := []struct {
			name, key, body string
			status          int
			id              string
		}{
			{"first", "esc-1:eng", jsonBody(req), http.StatusCreated, "TCK-ENG-2"},
			{"replay", "esc-1:eng", jsonBody(req), http.StatusOK, "TCK-ENG-2"},
			{"replay reformatted", "esc-1:eng", reordered, http.StatusOK, "TCK-ENG-2"},
			{"same key other priority", "esc-1:eng", jsonBody(other), http.StatusConflict, ""},
			{"other key", "esc-2:eng", jsonBody(req), http.StatusCreated, "TCK-ENG-3"},
		}
		var first ticketing.Issue
		for _, st := range steps {
			clk.Advance(time.Second)
			a := call(t, s, "POST", "/ticketing/issues", keyed(st.key), st.body)
			require.Equal(t, st.status, a.status, "%s: %s", st.name, a.body)
			if st.status == http.StatusConflict {
				_, field := a.apiError(t)
				assert.Equal(t, "Idempotency-Key", field, st.name)
				continue
			}
			iss := decodeIssue(t, a)
			assert.Equal(t, st.id, iss.ID, st.name)
			assert.Equal(t, st.key, iss.IdempotencyKey, st.name)
			assert.Equal(t, ticketing.StatusOpen, iss.Status, st.name)
			if st.status == http.StatusOK {
				assert.Equal(t, first, iss, st.name)
			} else if first.ID == "" {
				first = iss
				assert.True(t, iss.CreatedAt.Equal(day0.Add(time.Second)), "createdAt %v", iss.CreatedAt)
				assert.Equal(t, req, ticketing.IssueRequest{Project: iss.Project, Title: iss.Title, Description: iss.Description,
					Priority: iss.Priority, Assignee: iss.Assignee, AccountID: iss.AccountID})
			}
		}
		assert.Equal(t, first, getIssue(t, s, "TCK-ENG-2"))
		sup := req
		sup.Project = "SUP"
		a := call(t, s, "POST", "/ticketing/issues", keyed("esc-3:sup"), jsonBody(sup))
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		assert.Equal(t, "TCK-SUP-6", decodeIssue(t, a).ID, "numbered within the project, after the seed")
	})
}

func TestTicketingCreateConcurrentSameKey(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, _ *clock) {
		var wg sync.WaitGroup
		statuses := make(chan int, 8)
		for range 8 {
			wg.Go(func() {
				statuses <- call(t, s, "POST", "/ticketing/issues", keyed("same"), jsonBody(issueRequest())).status
			})
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for st := range statuses {
			counts[st]++
		}
		assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusOK: 7}, counts)
		assert.Equal(t, []string{sandbox.IssueQueueLag, "TCK-ENG-2"}, listIssues(t, s, "?project=ENG"))
	})
}

func TestTicketingValidation(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	mod := func(f func(*ticketing.IssueRequest)) string {
		r := issueRequest()
		f(&r)
		return jsonBody(r)
	}
	tr := func(path, key, body string) answer { return call(t, s, "POST", path, keyed(key), body) }
	issue := "/ticketing/issues/" + sandbox.IssueGlobexP1
	tests := []struct {
		name   string
		a      answer
		status int
		field  string
	}{
		{"no key", call(t, s, "POST", "/ticketing/issues", nil, jsonBody(issueRequest())), 400, "Idempotency-Key"},
		{"project case", tr("/ticketing/issues", "k", mod(func(r *ticketing.IssueRequest) { r.Project = "eng" })), 400, "project"},
		{"priority", tr("/ticketing/issues", "k", mod(func(r *ticketing.IssueRequest) { r.Priority = "P5" })), 400, "priority"},
		{"title", tr("/ticketing/issues", "k", mod(func(r *ticketing.IssueRequest) { r.Title = " " })), 400, "title"},
		{"long title", tr("/ticketing/issues", "k", mod(func(r *ticketing.IssueRequest) { r.Title = strings.Repeat("x", 201) })), 400, "title"},
		{"unknown field", tr("/ticketing/issues", "k", `{"project":"ENG","title":"x","priority":"P1","severity":1}`), 400, "severity"},
		{"transition no key", call(t, s, "POST", issue+"/transitions", nil, `{"to":"in_progress","by":"eli"}`), 400, "Idempotency-Key"},
		{"transition bad status", tr(issue+"/transitions", "k", `{"to":"done","by":"eli"}`), 400, "to"},
		{"transition no by", tr(issue+"/transitions", "k", `{"to":"in_progress"}`), 400, "by"},
		{"transition unknown issue", tr("/ticketing/issues/TCK-NONE-1/transitions", "k", `{"to":"in_progress","by":"eli"}`), 404, ""},
		{"assign empty", tr(issue+"/assignee", "k", `{"assignee":""}`), 400, "assignee"},
		{"assign unknown issue", tr("/ticketing/issues/TCK-NONE-1/assignee", "k", `{"assignee":"eli"}`), 404, ""},
		{"comment no author", tr(issue+"/comments", "k", `{"body":"x"}`), 400, "author"},
		{"comment no body", tr(issue+"/comments", "k", `{"author":"eli"}`), 400, "body"},
		{"link type", tr(issue+"/links", "k", `{"type":"duplicates","issueId":"TCK-ENG-1"}`), 400, "type"},
		{"link self", tr(issue+"/links", "k", `{"type":"relates","issueId":"TCK-SUP-1"}`), 400, "issueId"},
		{"link unknown target", tr(issue+"/links", "k", `{"type":"relates","issueId":"TCK-ENG-99"}`), 400, "issueId"},
		{"list status", call(t, s, "GET", "/ticketing/issues?status=open,done", nil, ""), 400, "status"},
		{"list priority", call(t, s, "GET", "/ticketing/issues?priority=high", nil, ""), 400, "priority"},
		{"get unknown", call(t, s, "GET", "/ticketing/issues/TCK-NONE-1", nil, ""), 404, ""},
	}
	for _, tc := range tests {
		require.Equal(t, tc.status, tc.a.status, "%s: %s", tc.name, tc.a.body)
		_, field := tc.a.apiError(t)
		assert.Equal(t, tc.field, field, tc.name)
	}
	// Nothing was changed, and no refused request used a key up.
	assert.Equal(t, sandbox.SeedIssues(day0)[5], getIssue(t, s, sandbox.IssueGlobexP1))
	a := tr(issue+"/transitions", "k", `{"to":"in_progress","by":"eli"}`)
	assert.Equal(t, http.StatusOK, a.status, string(a.body))
}

func TestTicketingTransitions(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, clk *clock) {
		path := "/ticketing/issues/" + sandbox.IssueGlobexP1 + "/transitions"
		move := func(key, to string) answer {
			clk.Advance(time.Minute)
			return call(t, s, "POST", path, keyed(key), `{"to":"`+to+`","by":"eli"}`)
		}
		steps := []struct {
			key, to  string
			status   int
			now      string // status afterwards
			resolved bool   // resolvedAt set afterwards
			replayed bool
		}{
			{"t1", ticketing.StatusResolved, http.StatusConflict, ticketing.StatusOpen, false, false}, // open -> resolved skips work
			{"t1", ticketing.StatusInProgress, http.StatusOK, ticketing.StatusInProgress, false, false},
			{"t1", ticketing.StatusInProgress, http.StatusOK, ticketing.StatusInProgress, false, true}, // replay
			{"t1", ticketing.StatusResolved, http.StatusConflict, ticketing.StatusInProgress, false, false},
			{"t2", ticketing.StatusInProgress, http.StatusConflict, ticketing.StatusInProgress, false, false}, // no self-transition
			{"t2", ticketing.StatusResolved, http.StatusOK, ticketing.StatusResolved, true, false},
			{"t3", ticketing.StatusInProgress, http.StatusConflict, ticketing.StatusResolved, true, false},
			{"t3", ticketing.StatusOpen, http.StatusOK, ticketing.StatusOpen, false, false}, // reopen
			{"t4", ticketing.StatusInProgress, http.StatusOK, ticketing.StatusInProgress, false, false},
			{"t5", ticketing.StatusResolved, http.StatusOK, ticketing.StatusResolved, true, false},
			{"t6", ticketing.StatusClosed, http.StatusOK, ticketing.StatusClosed, true, false},
			{"t7", ticketing.StatusResolved, http.StatusConflict, ticketing.StatusClosed, true, false},
			{"t7", ticketing.StatusOpen, http.StatusOK, ticketing.StatusOpen, false, false},    // reopen a closed issue
			{"t2", ticketing.StatusResolved, http.StatusOK, ticketing.StatusOpen, false, true}, // late replay changes nothing
		}
		for i, st := range steps {
			a := move(st.key, st.to)
			require.Equal(t, st.status, a.status, "step %d: %s", i, a.body)
			if st.status == http.StatusConflict {
				msg, field := a.apiError(t)
				if field == "to" {
					assert.Contains(t, msg, "to "+st.to, "step %d", i)
					assert.Contains(t, msg, "from ", "step %d", i)
				} else {
					assert.Equal(t, "Idempotency-Key", field, "step %d", i)
				}
			}
			assert.Equal(t, st.replayed, a.header("Idempotent-Replayed") == "true", "step %d", i)
			iss := getIssue(t, s, sandbox.IssueGlobexP1)
			assert.Equal(t, st.now, iss.Status, "step %d", i)
			assert.Equal(t, st.resolved, iss.ResolvedAt != nil, "step %d", i)
		}
		iss := getIssue(t, s, sandbox.IssueGlobexP1)
		var path2 []string
		for _, h := range iss.History {
			path2 = append(path2, h.From+">"+h.To)
			assert.Equal(t, "eli", h.By)
		}
		assert.Equal(t, []string{"open>in_progress", "in_progress>resolved", "resolved>open", "open>in_progress",
			"in_progress>resolved", "resolved>closed", "closed>open"}, path2)
		assert.True(t, iss.UpdatedAt.After(iss.CreatedAt))
		// The conflict message names from and to.
		a := move("t8", ticketing.StatusClosed)
		msg, _ := a.apiError(t)
		assert.Equal(t, "issue TCK-SUP-1 cannot move from open to closed", msg)
	})
}

func TestTicketingCommentsLinksAssignee(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, clk *clock) {
		base := "/ticketing/issues/" + sandbox.IssueGlobexP1
		comment := func(key, body string) answer {
			return call(t, s, "POST", base+"/comments", keyed(key), `{"author":"orchestrator","body":"`+body+`"}`)
		}
		a := comment("c1", "Escalated to engineering")
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		iss := decodeIssue(t, a)
		require.Len(t, iss.Comments, 2)
		c := iss.Comments[1]
		assert.Regexp(t, `^CMT-[0-9A-F]{16}$`, c.ID)
		assert.Equal(t, "Escalated to engineering", c.Body)
		assert.Equal(t, http.StatusOK, comment("c1", "Escalated to engineering").status)
		a = comment("c1", "another body")
		assert.Equal(t, http.StatusConflict, a.status)
		assert.Len(t, getIssue(t, s, sandbox.IssueGlobexP1).Comments, 2, "one comment per key")
		// The same key on another issue is another comment.
		a = call(t, s, "POST", "/ticketing/issues/"+sandbox.IssueUmbrellaVAT+"/comments", keyed("c1"), `{"author":"orchestrator","body":"x"}`)
		assert.Equal(t, http.StatusCreated, a.status, string(a.body))

		link := func(key, typ, target string) answer {
			return call(t, s, "POST", base+"/links", keyed(key), `{"type":"`+typ+`","issueId":"`+target+`"}`)
		}
		a = link("l1", ticketing.LinkRelates, sandbox.IssueQueueLag)
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		assert.Equal(t, []ticketing.Link{{Type: ticketing.LinkRelates, IssueID: sandbox.IssueQueueLag}}, decodeIssue(t, a).Links)
		assert.Equal(t, http.StatusOK, link("l1", ticketing.LinkRelates, sandbox.IssueQueueLag).status)
		assert.Equal(t, http.StatusConflict, link("l1", ticketing.LinkBlocks, sandbox.IssueQueueLag).status)
		a = link("l2", ticketing.LinkRelates, sandbox.IssueQueueLag)
		require.Equal(t, http.StatusCreated, a.status)
		assert.Len(t, decodeIssue(t, a).Links, 1, "links are a set")
		a = link("l3", ticketing.LinkCausedBy, sandbox.IssueUmbrellaWebhooksP1)
		assert.Equal(t, []ticketing.Link{{Type: ticketing.LinkRelates, IssueID: sandbox.IssueQueueLag},
			{Type: ticketing.LinkCausedBy, IssueID: sandbox.IssueUmbrellaWebhooksP1}}, decodeIssue(t, a).Links)

		assign := func(key, who string) answer {
			clk.Advance(time.Minute)
			return call(t, s, "POST", base+"/assignee", keyed(key), `{"assignee":"`+who+`"}`)
		}
		a = assign("a1", "eli")
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		assert.Equal(t, "eli", decodeIssue(t, a).Assignee)
		require.Equal(t, http.StatusOK, assign("a2", "noor").status)
		a = assign("a1", "eli")
		assert.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, "true", a.header("Idempotent-Replayed"))
		assert.Equal(t, "noor", decodeIssue(t, a).Assignee, "a late replay does not undo the reassignment")
		assert.Equal(t, http.StatusConflict, assign("a1", "vera").status)
	})
}

func TestTicketingListFilters(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	tests := []struct {
		query string
		want  []string
	}{
		{"?status=open", []string{sandbox.IssueUmbrellaVAT, sandbox.IssueGlobexP1}},
		{"?status=open,in_progress", []string{sandbox.IssueQueueLag, sandbox.IssueUmbrellaVAT, sandbox.IssueInitechSSO, sandbox.IssueGlobexP1}},
		{"?priority=P1", []string{sandbox.IssueUmbrellaWebhooksP1, sandbox.IssueGlobexP1}},
		{"?priority=P1&status=open", []string{sandbox.IssueGlobexP1}},
		{"?project=ENG", []string{sandbox.IssueQueueLag}},
		{"?accountId=" + sandbox.AccountUmbrella, []string{sandbox.IssueUmbrellaWebhooksP1, sandbox.IssueUmbrellaVAT}},
		{"?accountId=ACC-NONE", []string{}},
		{"?status=closed&project=SUP", []string{sandbox.IssueHooliTypo}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, listIssues(t, s, tc.query), tc.query)
	}
}

// A lost answer leaves the issue created and the retry finds it; a fault
// before the effect changes nothing.
func TestTicketingFaults(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) {
		c.Rand = func() float64 { return 0 }
		c.Faults = map[string]sandbox.Fault{sandbox.EndpointTicketingCreate: {ErrorRate: 1, AfterEffect: true}}
	})
	body := jsonBody(issueRequest())
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "POST", "/ticketing/issues", keyed("k"), body).status)
	assert.Equal(t, []string{sandbox.IssueQueueLag, "TCK-ENG-2"}, listIssues(t, s, "?project=ENG"), "created before the answer was lost")
	require.NoError(t, s.SetFaults(nil))
	a := call(t, s, "POST", "/ticketing/issues", keyed("k"), body)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	assert.Equal(t, "TCK-ENG-2", decodeIssue(t, a).ID)

	issue := "/ticketing/issues/" + sandbox.IssueGlobexP1
	for ep, req := range map[string]func() answer{
		sandbox.EndpointTicketingTransition: func() answer {
			return call(t, s, "POST", issue+"/transitions", keyed("k"), `{"to":"in_progress","by":"eli"}`)
		},
		sandbox.EndpointTicketingAssign:  func() answer { return call(t, s, "POST", issue+"/assignee", keyed("k"), `{"assignee":"eli"}`) },
		sandbox.EndpointTicketingComment: func() answer { return call(t, s, "POST", issue+"/comments", keyed("k"), `{"author":"a","body":"b"}`) },
		sandbox.EndpointTicketingLink: func() answer {
			return call(t, s, "POST", issue+"/links", keyed("k"), `{"type":"relates","issueId":"TCK-ENG-1"}`)
		},
		sandbox.EndpointTicketingGet:  func() answer { return call(t, s, "GET", issue, nil, "") },
		sandbox.EndpointTicketingList: func() answer { return call(t, s, "GET", "/ticketing/issues", nil, "") },
	} {
		require.NoError(t, s.SetFaults(map[string]sandbox.Fault{ep: {ErrorRate: 1}}))
		assert.Equal(t, http.StatusServiceUnavailable, req().status, ep)
	}
	require.NoError(t, s.SetFaults(nil))
	assert.Equal(t, sandbox.SeedIssues(day0)[5], getIssue(t, s, sandbox.IssueGlobexP1), "refused before any effect")
}

func TestTicketingResetReseeds(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	a := call(t, s, "POST", "/ticketing/issues", keyed("k"), jsonBody(issueRequest()))
	require.Equal(t, http.StatusCreated, a.status)
	require.Equal(t, http.StatusOK, call(t, s, "POST", "/ticketing/issues/"+sandbox.IssueGlobexP1+"/transitions", keyed("t"),
		`{"to":"in_progress","by":"eli"}`).status)
	require.Equal(t, http.StatusOK, call(t, s, "POST", "/admin/reset", nil, "").status)
	var list []ticketing.Issue
	call(t, s, "GET", "/ticketing/issues", nil, "").decode(t, &list)
	assert.Equal(t, sandbox.SeedIssues(day0), list)
	// Keys are wiped with the state: the same key opens the issue anew.
	a = call(t, s, "POST", "/ticketing/issues", keyed("k"), jsonBody(issueRequest()))
	assert.Equal(t, http.StatusCreated, a.status)
}
