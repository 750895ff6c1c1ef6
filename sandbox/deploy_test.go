package sandbox_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

func releaseBody(target, service, version, digest string) string {
	b, _ := json.Marshal(deploy.ReleaseRequest{Target: target, Service: service, Version: version, ArtifactDigest: digest, RequestedBy: "alice@example.com"})
	return string(b)
}

// checkoutNew is the seeded release everyone approves in these tests.
func checkoutNew(target string) string {
	return releaseBody(target, sandbox.ServiceCheckout, sandbox.CheckoutVersionNew, sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew))
}

func createRelease(t *testing.T, s *sandbox.Server, key, body string) deploy.Release {
	t.Helper()
	a := call(t, s, "POST", "/deploy/releases", map[string]string{"Idempotency-Key": key}, body)
	require.Equal(t, http.StatusCreated, a.status, "body %s", a.body)
	var r deploy.Release
	a.decode(t, &r)
	return r
}

func TestDeploySeedRegistry(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	seeded := []struct{ service, version, content string }{
		{sandbox.ServiceCheckout, sandbox.CheckoutVersionOld, "checkout-1.4.0"},
		{sandbox.ServiceCheckout, sandbox.CheckoutVersionNew, "checkout-1.5.0"},
		{sandbox.ServiceSearch, sandbox.SearchVersion, "search-2.0.1"},
	}
	for _, sv := range seeded {
		sum := sha256.Sum256([]byte(sv.content))
		a := call(t, s, "GET", "/deploy/artifacts/"+sv.service+"/"+sv.version, nil, "")
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		var got deploy.Artifact
		a.decode(t, &got)
		assert.Equal(t, deploy.Artifact{Service: sv.service, Version: sv.version, Digest: "sha256:" + hex.EncodeToString(sum[:]), PushedAt: day0}, got)
		assert.Equal(t, got.Digest, sandbox.SeedDigest(sv.service, sv.version))
	}
	assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/deploy/artifacts/checkout/9.9.9", nil, "").status)

	var targets []deploy.Target
	call(t, s, "GET", "/deploy/targets", nil, "").decode(t, &targets)
	assert.Equal(t, []deploy.Target{{Name: deploy.TargetStaging}, {Name: deploy.TargetProduction}}, targets)
	var list []deploy.Release
	call(t, s, "GET", "/deploy/releases", nil, "").decode(t, &list)
	assert.Empty(t, list)
}

func TestDeployHealthyAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config time.Duration // Config.DeployHealthyAfter
		after  time.Duration // 0: never healthy
	}{
		{"default", 0, sandbox.DefaultDeployHealthyAfter},
		{"one minute", time.Minute, time.Minute},
		{"never", -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, clk := start(t, func(c *sandbox.Config) { c.DeployHealthyAfter = tc.config })
			r := createRelease(t, s, "k-"+tc.name, checkoutNew(deploy.TargetStaging))
			assert.Equal(t, deploy.StatusDeploying, r.Status)
			assert.True(t, r.CreatedAt.Equal(day0))
			assert.Nil(t, r.HealthyAt)
			assert.Equal(t, "k-"+tc.name, r.IdempotencyKey)
			assert.True(t, strings.HasPrefix(r.ID, "REL-"), r.ID)

			check := func(wantHealthy bool) {
				t.Helper()
				var got deploy.Release
				call(t, s, "GET", "/deploy/releases/"+r.ID, nil, "").decode(t, &got)
				if !wantHealthy {
					assert.Equal(t, deploy.StatusDeploying, got.Status)
					assert.Nil(t, got.HealthyAt)
					return
				}
				assert.Equal(t, deploy.StatusHealthy, got.Status)
				require.NotNil(t, got.HealthyAt)
				assert.True(t, got.HealthyAt.Equal(day0.Add(tc.after)), "healthyAt %v", got.HealthyAt)
			}
			if tc.after == 0 {
				clk.Advance(24 * time.Hour)
				check(false)
				return
			}
			clk.Advance(tc.after - time.Millisecond)
			check(false)
			clk.Advance(time.Millisecond)
			check(true)
			clk.Advance(time.Hour)
			check(true)
		})
	}
}

func TestDeployReleaseIdempotency(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) { c.DeployHealthyAfter = -1 })
	reordered := func() string {
		var m map[string]any
		_ = json.Unmarshal([]byte(checkoutNew(deploy.TargetStaging)), &m)
		b, _ := json.MarshalIndent(m, "", "   ")
		return string(b)
	}()
	steps := []struct {
		name   string
		key    string
		body   string
		status int
	}{
		{"first release", "k1", checkoutNew(deploy.TargetStaging), http.StatusCreated},
		{"same key same body", "k1", checkoutNew(deploy.TargetStaging), http.StatusOK},
		{"same key same body reformatted", "k1", reordered, http.StatusOK},
		{"same key other target", "k1", checkoutNew(deploy.TargetProduction), http.StatusConflict},
		{"other key", "k2", checkoutNew(deploy.TargetStaging), http.StatusCreated},
	}
	var first deploy.Release
	for _, st := range steps {
		a := call(t, s, "POST", "/deploy/releases", map[string]string{"Idempotency-Key": st.key}, st.body)
		require.Equal(t, st.status, a.status, "%s: %s", st.name, a.body)
		if a.status == http.StatusConflict {
			_, field := a.apiError(t)
			assert.Equal(t, "Idempotency-Key", field, st.name)
			continue
		}
		var r deploy.Release
		a.decode(t, &r)
		assert.Equal(t, deploy.StatusDeploying, r.Status, st.name)
		if st.key == "k1" {
			if first.ID == "" {
				first = r
			}
			assert.Equal(t, first, r, st.name)
		} else {
			assert.NotEqual(t, first.ID, r.ID)
		}
	}

	// A replay after the artifact changed still finds the first release: it
	// was made against the digest the registry held then.
	a := call(t, s, "PUT", "/deploy/artifacts/checkout/1.5.0", nil, `{"digest":"`+sandbox.SeedDigest("checkout", "tampered")+`"}`)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	a = call(t, s, "POST", "/deploy/releases", map[string]string{"Idempotency-Key": "k1"}, checkoutNew(deploy.TargetStaging))
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var replay deploy.Release
	a.decode(t, &replay)
	assert.Equal(t, first, replay)

	var list []deploy.Release
	call(t, s, "GET", "/deploy/releases", nil, "").decode(t, &list)
	assert.Len(t, list, 2)
}

func TestDeployValidation(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	key := map[string]string{"Idempotency-Key": "k-validation"}
	valid := checkoutNew(deploy.TargetStaging)
	seedDigest := sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew)
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		field              string
		msg                string // part of the error text, when it matters
	}{
		{"release without key", "POST", "/deploy/releases", nil, valid, 400, "Idempotency-Key", "Idempotency-Key"},
		{"release bad target", "POST", "/deploy/releases", key, strings.Replace(valid, `"staging"`, `"prod"`, 1), 400, "target", ""},
		{"release no target", "POST", "/deploy/releases", key, strings.Replace(valid, `"staging"`, `""`, 1), 400, "target", ""},
		{"release bad service", "POST", "/deploy/releases", key, strings.Replace(valid, `"checkout"`, `"Check Out"`, 1), 400, "service", ""},
		{"release bad version", "POST", "/deploy/releases", key, strings.Replace(valid, `"1.5.0"`, `"../1.5.0"`, 1), 400, "version", ""},
		{"release bad digest", "POST", "/deploy/releases", key, strings.Replace(valid, seedDigest, "sha256:abc", 1), 400, "artifactDigest", ""},
		{"release no requester", "POST", "/deploy/releases", key, strings.Replace(valid, `"alice@example.com"`, `" "`, 1), 400, "requestedBy", ""},
		{"release unknown field", "POST", "/deploy/releases", key, `{"target":"staging","replicas":3}`, 400, "replicas", ""},
		{"release wrong type", "POST", "/deploy/releases", key, `{"target":1}`, 400, "target", ""},
		{"release empty body", "POST", "/deploy/releases", key, ``, 400, "body", ""},
		{"release digest mismatch", "POST", "/deploy/releases", key,
			strings.Replace(valid, seedDigest, sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionOld), 1), 409, "artifactDigest", "artifactDigest does not match"},
		{"release unknown artifact", "POST", "/deploy/releases", key,
			releaseBody(deploy.TargetStaging, "checkout", "9.9.9", seedDigest), 409, "artifactDigest", "never pushed"},
		{"list bad target", "GET", "/deploy/releases?target=qa", nil, "", 400, "target", ""},
		{"unknown release", "GET", "/deploy/releases/REL-NOPE", nil, "", 404, "", "release not found"},
		{"unknown artifact", "GET", "/deploy/artifacts/checkout/9.9.9", nil, "", 404, "", "artifact not found"},
		{"push bad digest", "PUT", "/deploy/artifacts/checkout/1.6.0", nil, `{"digest":"md5:00"}`, 400, "digest", ""},
		{"push no digest", "PUT", "/deploy/artifacts/checkout/1.6.0", nil, `{}`, 400, "digest", ""},
		{"push bad service", "PUT", "/deploy/artifacts/-checkout/1.6.0", nil, `{"digest":"` + seedDigest + `"}`, 400, "service", ""},
		{"unhealthy without detail", "POST", "/admin/deploy/releases/REL-NOPE/unhealthy", nil, `{"detail":""}`, 400, "detail", ""},
		{"unhealthy unknown release", "POST", "/admin/deploy/releases/REL-NOPE/unhealthy", nil, `{"detail":"crash"}`, 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, s, tc.method, tc.path, tc.header, tc.body)
			require.Equal(t, tc.status, a.status, "body %s", a.body)
			msg, field := a.apiError(t)
			assert.NotEmpty(t, msg)
			assert.Contains(t, msg, tc.msg)
			assert.Equal(t, tc.field, field)
		})
	}
	// None of the refused requests left a trace.
	var list []deploy.Release
	call(t, s, "GET", "/deploy/releases", nil, "").decode(t, &list)
	assert.Empty(t, list)
	assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/deploy/artifacts/checkout/1.6.0", nil, "").status)
}

func TestDeployArtifactRepush(t *testing.T) {
	t.Parallel()
	s, clk := start(t, nil)
	path := "/deploy/artifacts/checkout/1.5.0"
	approved := sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew)
	rebuilt := sandbox.SeedDigest(sandbox.ServiceCheckout, "rebuilt")
	steps := []struct {
		name     string
		digest   string
		pushedAt time.Time
	}{
		{"other digest", rebuilt, day0.Add(time.Minute)},
		{"same digest again keeps pushedAt", rebuilt, day0.Add(time.Minute)},
		{"back to the approved digest", approved, day0.Add(3 * time.Minute)},
	}
	for _, st := range steps {
		clk.Advance(time.Minute)
		a := call(t, s, "PUT", path, nil, `{"digest":"`+st.digest+`"}`)
		require.Equal(t, http.StatusOK, a.status, "%s: %s", st.name, a.body)
		var put, got deploy.Artifact
		a.decode(t, &put)
		call(t, s, "GET", path, nil, "").decode(t, &got)
		assert.Equal(t, put, got, st.name)
		assert.Equal(t, st.digest, got.Digest, st.name)
		assert.True(t, got.PushedAt.Equal(st.pushedAt), "%s: pushedAt %v", st.name, got.PushedAt)
		if st.digest != approved {
			a := call(t, s, "POST", "/deploy/releases", map[string]string{"Idempotency-Key": "k-" + st.name}, checkoutNew(deploy.TargetProduction))
			require.Equal(t, http.StatusConflict, a.status, "%s: %s", st.name, a.body)
			msg, field := a.apiError(t)
			assert.Equal(t, "artifactDigest", field)
			assert.Contains(t, msg, "artifactDigest does not match")
			assert.Contains(t, msg, rebuilt)
		}
	}
	createRelease(t, s, "k-after", checkoutNew(deploy.TargetProduction))

	// A brand-new version can be pushed and released.
	digest := sandbox.SeedDigest("billing", "0.1.0")
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/deploy/artifacts/billing/0.1.0", nil, `{"digest":"`+digest+`"}`).status)
	createRelease(t, s, "k-billing", releaseBody(deploy.TargetStaging, "billing", "0.1.0", digest))
}

func TestDeployUnhealthy(t *testing.T) {
	t.Parallel()
	s, clk := start(t, func(c *sandbox.Config) { c.DeployHealthyAfter = time.Minute })
	r := createRelease(t, s, "k-crash", checkoutNew(deploy.TargetProduction))
	// Admin routes are never faulted, whatever "*" says.
	require.NoError(t, s.SetFaults(map[string]sandbox.Fault{sandbox.EndpointAll: {ErrorRate: 1}}))
	a := call(t, s, "POST", "/admin/deploy/releases/"+r.ID+"/unhealthy", nil, `{"detail":"CrashLoopBackOff"}`)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	require.NoError(t, s.SetFaults(nil))
	var marked deploy.Release
	a.decode(t, &marked)
	assert.Equal(t, deploy.StatusUnhealthy, marked.Status)
	assert.Equal(t, "CrashLoopBackOff", marked.Detail)

	clk.Advance(time.Hour) // past DeployHealthyAfter: the mark still wins
	var got deploy.Release
	call(t, s, "GET", "/deploy/releases/"+r.ID, nil, "").decode(t, &got)
	assert.Equal(t, marked, got)
	assert.Nil(t, got.HealthyAt)

	// A release that already turned healthy can fail later; a second mark
	// replaces the detail.
	h := createRelease(t, s, "k-later", checkoutNew(deploy.TargetStaging))
	clk.Advance(time.Hour)
	call(t, s, "GET", "/deploy/releases/"+h.ID, nil, "").decode(t, &got)
	require.Equal(t, deploy.StatusHealthy, got.Status)
	for _, detail := range []string{"OOMKilled", "readiness probe failing"} {
		got, err := s.MarkReleaseUnhealthy(t.Context(), h.ID, detail)
		require.NoError(t, err)
		assert.Equal(t, deploy.StatusUnhealthy, got.Status)
		assert.Equal(t, detail, got.Detail)
	}
	var list []deploy.Release
	call(t, s, "GET", "/deploy/releases?target=staging", nil, "").decode(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "readiness probe failing", list[0].Detail)
}

func TestDeployListAndTargets(t *testing.T) {
	t.Parallel()
	s, clk := start(t, nil)
	digest := sandbox.SeedDigest
	made := map[string]deploy.Release{}
	for _, rel := range []struct{ key, target, service, version string }{
		{"k1", deploy.TargetStaging, sandbox.ServiceCheckout, sandbox.CheckoutVersionOld},
		{"k2", deploy.TargetStaging, sandbox.ServiceCheckout, sandbox.CheckoutVersionNew},
		{"k3", deploy.TargetProduction, sandbox.ServiceCheckout, sandbox.CheckoutVersionOld},
		{"k4", deploy.TargetStaging, sandbox.ServiceSearch, sandbox.SearchVersion},
	} {
		// k1 and k2 share a timestamp: insertion order still decides.
		if rel.key != "k2" {
			clk.Advance(time.Second)
		}
		made[rel.key] = createRelease(t, s, rel.key, releaseBody(rel.target, rel.service, rel.version, digest(rel.service, rel.version)))
	}
	tests := []struct {
		query string
		keys  []string
	}{
		{"", []string{"k4", "k3", "k2", "k1"}},
		{"?target=staging", []string{"k4", "k2", "k1"}},
		{"?service=checkout", []string{"k3", "k2", "k1"}},
		{"?target=staging&service=checkout", []string{"k2", "k1"}},
		{"?target=production", []string{"k3"}},
		{"?target=production&service=search", []string{}},
		{"?service=billing", []string{}},
	}
	for _, tc := range tests {
		var list []deploy.Release
		a := call(t, s, "GET", "/deploy/releases"+tc.query, nil, "")
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		a.decode(t, &list)
		keys := []string{}
		for _, r := range list {
			keys = append(keys, r.IdempotencyKey)
			assert.Equal(t, made[r.IdempotencyKey].ID, r.ID)
		}
		assert.Equal(t, tc.keys, keys, tc.query)
	}

	var targets []deploy.Target
	call(t, s, "GET", "/deploy/targets", nil, "").decode(t, &targets)
	assert.Equal(t, []deploy.Target{
		{Name: deploy.TargetStaging, CurrentRelease: made["k4"].ID, CurrentVersion: sandbox.SearchVersion, Service: sandbox.ServiceSearch},
		{Name: deploy.TargetProduction, CurrentRelease: made["k3"].ID, CurrentVersion: sandbox.CheckoutVersionOld, Service: sandbox.ServiceCheckout},
	}, targets)
}

func TestDeployResetWipes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seed bool
	}{{"seeded", true}, {"unseeded", false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := start(t, func(c *sandbox.Config) { c.Seed = tc.seed })
			digest := sandbox.SeedDigest("billing", "0.1.0")
			require.Equal(t, http.StatusOK, call(t, s, "PUT", "/deploy/artifacts/billing/0.1.0", nil, `{"digest":"`+digest+`"}`).status)
			require.Equal(t, http.StatusOK, call(t, s, "PUT", "/deploy/artifacts/checkout/1.5.0", nil, `{"digest":"`+digest+`"}`).status)
			r := createRelease(t, s, "k-reset", releaseBody(deploy.TargetStaging, "billing", "0.1.0", digest))

			require.Equal(t, http.StatusOK, call(t, s, "POST", "/admin/reset", nil, "").status)
			assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/deploy/releases/"+r.ID, nil, "").status)
			assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/deploy/artifacts/billing/0.1.0", nil, "").status)
			var targets []deploy.Target
			call(t, s, "GET", "/deploy/targets", nil, "").decode(t, &targets)
			assert.Equal(t, []deploy.Target{{Name: deploy.TargetStaging}, {Name: deploy.TargetProduction}}, targets)

			a := call(t, s, "GET", "/deploy/artifacts/checkout/1.5.0", nil, "")
			if !tc.seed {
				assert.Equal(t, http.StatusNotFound, a.status)
				return
			}
			require.Equal(t, http.StatusOK, a.status)
			var got deploy.Artifact
			a.decode(t, &got)
			assert.Equal(t, sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew), got.Digest, "reseeded")
		})
	}
}

// A lost answer (fault after the effect) leaves the release created; the
// retry with the same key finds it instead of rolling out twice.
func TestDeployFaults(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) {
		c.Rand = func() float64 { return 0 }
		c.Faults = map[string]sandbox.Fault{sandbox.EndpointDeployRelease: {ErrorRate: 1, AfterEffect: true}}
	})
	key := map[string]string{"Idempotency-Key": "k-lost"}
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "POST", "/deploy/releases", key, checkoutNew(deploy.TargetStaging)).status)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/deploy/targets", nil, "").status, "other endpoints unaffected")

	require.NoError(t, s.SetFaults(map[string]sandbox.Fault{sandbox.EndpointDeployArtifactPut: {ErrorRate: 1}}))
	assert.Equal(t, http.StatusOK, call(t, s, "POST", "/deploy/releases", key, checkoutNew(deploy.TargetStaging)).status)
	a := call(t, s, "PUT", "/deploy/artifacts/checkout/1.5.0", nil, `{"digest":"`+sandbox.SeedDigest("checkout", "x")+`"}`)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	var got deploy.Artifact
	call(t, s, "GET", "/deploy/artifacts/checkout/1.5.0", nil, "").decode(t, &got)
	assert.Equal(t, sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew), got.Digest, "refused before the effect")
}

func TestDeployPushArtifactValidates(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	_, err := s.PushArtifact(t.Context(), "checkout", "1.6.0", "sha256:short")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "digest")
	a, err := s.PushArtifact(t.Context(), "checkout", "1.6.0", sandbox.SeedDigest("checkout", "1.6.0"))
	require.NoError(t, err)
	assert.True(t, a.PushedAt.Equal(day0))
}
