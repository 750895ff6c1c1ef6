package deploy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

var quiet = httpx.WithLogger(connectortest.Quiet())

func request(target string) deploy.ReleaseRequest {
	return deploy.ReleaseRequest{
		Target: target, Service: sandbox.ServiceCheckout, Version: sandbox.CheckoutVersionNew,
		ArtifactDigest: sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew), RequestedBy: "alice@example.com",
	}
}

// start starts a sandbox whose releases never turn healthy on their own.
func start(t testing.TB, faults map[string]sandbox.Fault) *sandbox.Server {
	return connectortest.Start(t, faults, func(c *sandbox.Config) {
		c.DeployHealthyAfter = -1 // stays deploying: most tests are not about rollout time
	})
}

func TestCreateReleaseIdempotent(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	r, err := c.CreateRelease(ctx, "sha256:feed", request(deploy.TargetStaging))
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusDeploying, r.Status)
	assert.Equal(t, "sha256:feed", r.IdempotencyKey)
	assert.Equal(t, "alice@example.com", r.RequestedBy)
	assert.True(t, r.CreatedAt.Equal(connectortest.Day0()))

	again, err := c.CreateRelease(ctx, "sha256:feed", request(deploy.TargetStaging))
	require.NoError(t, err)
	assert.Equal(t, r, again)

	_, err = c.CreateRelease(ctx, "sha256:feed", request(deploy.TargetProduction))
	require.Error(t, err)
	assert.True(t, httpx.IsPermanent(err))
	assert.True(t, deploy.IsConflict(err))

	got, err := c.GetRelease(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, r, got)

	_, err = c.GetRelease(ctx, "REL-NONE")
	assert.True(t, deploy.IsNotFound(err))
	assert.True(t, httpx.IsPermanent(err))
}

func TestListReleasesAndTargets(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	staging, err := c.CreateRelease(ctx, "k1", request(deploy.TargetStaging))
	require.NoError(t, err)
	search := deploy.ReleaseRequest{Target: deploy.TargetProduction, Service: sandbox.ServiceSearch, Version: sandbox.SearchVersion,
		ArtifactDigest: sandbox.SeedDigest(sandbox.ServiceSearch, sandbox.SearchVersion), RequestedBy: "bob@example.com"}
	prod, err := c.CreateRelease(ctx, "k2", search)
	require.NoError(t, err)

	tests := []struct {
		target, service string
		want            []deploy.Release
	}{
		{"", "", []deploy.Release{prod, staging}},
		{deploy.TargetStaging, "", []deploy.Release{staging}},
		{"", sandbox.ServiceSearch, []deploy.Release{prod}},
		{deploy.TargetStaging, sandbox.ServiceSearch, []deploy.Release{}},
	}
	for _, tc := range tests {
		list, err := c.ListReleases(ctx, tc.target, tc.service)
		require.NoError(t, err)
		assert.Equal(t, tc.want, list, "target %q service %q", tc.target, tc.service)
	}
	_, err = c.ListReleases(ctx, "qa", "")
	require.Error(t, err)
	assert.True(t, httpx.IsPermanent(err))

	targets, err := c.ListTargets(ctx)
	require.NoError(t, err)
	assert.Equal(t, []deploy.Target{
		{Name: deploy.TargetStaging, CurrentRelease: staging.ID, CurrentVersion: sandbox.CheckoutVersionNew, Service: sandbox.ServiceCheckout},
		{Name: deploy.TargetProduction, CurrentRelease: prod.ID, CurrentVersion: sandbox.SearchVersion, Service: sandbox.ServiceSearch},
	}, targets)
}

// The artifact changes after its release was approved: the approved digest no
// longer matches and the release is refused for good.
func TestArtifactChangedAfterApproval(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	a, err := c.GetArtifact(ctx, sandbox.ServiceCheckout, sandbox.CheckoutVersionNew)
	require.NoError(t, err)
	assert.Equal(t, sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew), a.Digest)

	rebuilt := sandbox.SeedDigest(sandbox.ServiceCheckout, "rebuilt")
	pushed, err := c.PushArtifact(ctx, sandbox.ServiceCheckout, sandbox.CheckoutVersionNew, rebuilt)
	require.NoError(t, err)
	assert.Equal(t, rebuilt, pushed.Digest)

	_, err = c.CreateRelease(ctx, "k", request(deploy.TargetProduction))
	require.Error(t, err)
	assert.True(t, deploy.IsConflict(err))
	assert.True(t, httpx.IsPermanent(err))
	var he *httpx.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "artifactDigest", he.Field)
	assert.Contains(t, he.Message, "artifactDigest does not match")

	// Never pushed: a conflict too, not a not-found.
	req := request(deploy.TargetProduction)
	req.Version = "9.9.9"
	_, err = c.CreateRelease(ctx, "k2", req)
	assert.True(t, deploy.IsConflict(err))
	_, err = c.GetArtifact(ctx, sandbox.ServiceCheckout, "9.9.9")
	assert.True(t, deploy.IsNotFound(err))

	list, err := c.ListReleases(ctx, "", "")
	require.NoError(t, err)
	assert.Empty(t, list)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRolloutStatus(t *testing.T) {
	t.Parallel()
	clk := &clock{t: connectortest.Day0()}
	s := connectortest.Start(t, nil, func(c *sandbox.Config) {
		c.Now = clk.Now
		c.DeployHealthyAfter = 30 * time.Second
	})
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	r, err := c.CreateRelease(ctx, "k", request(deploy.TargetStaging))
	require.NoError(t, err)

	clk.Advance(29 * time.Second)
	got, err := c.GetRelease(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusDeploying, got.Status)

	clk.Advance(time.Second)
	got, err = c.GetRelease(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusHealthy, got.Status)
	require.NotNil(t, got.HealthyAt)
	assert.True(t, got.HealthyAt.Equal(r.CreatedAt.Add(30*time.Second)))

	_, err = s.MarkReleaseUnhealthy(ctx, r.ID, "CrashLoopBackOff")
	require.NoError(t, err)
	got, err = c.GetRelease(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusUnhealthy, got.Status)
	assert.Equal(t, "CrashLoopBackOff", got.Detail)
}

func TestValidationIsPermanent(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"no key", func() error { _, err := c.CreateRelease(ctx, "", request(deploy.TargetStaging)); return err }, "Idempotency-Key"},
		{"bad target", func() error {
			req := request("prod")
			_, err := c.CreateRelease(ctx, "k1", req)
			return err
		}, "target"},
		{"bad digest", func() error {
			req := request(deploy.TargetStaging)
			req.ArtifactDigest = "sha256:abc"
			_, err := c.CreateRelease(ctx, "k2", req)
			return err
		}, "artifactDigest"},
		{"no requester", func() error {
			req := request(deploy.TargetStaging)
			req.RequestedBy = ""
			_, err := c.CreateRelease(ctx, "k3", req)
			return err
		}, "requestedBy"},
		{"no release id", func() error { _, err := c.GetRelease(ctx, ""); return err }, "releaseId"},
		{"no service", func() error { _, err := c.GetArtifact(ctx, "", "1.0.0"); return err }, "service"},
		{"no version", func() error { _, err := c.PushArtifact(ctx, "checkout", "", "sha256:x"); return err }, "version"},
		{"no digest", func() error { _, err := c.PushArtifact(ctx, "checkout", "1.6.0", ""); return err }, "digest"},
		{"bad pushed digest", func() error { _, err := c.PushArtifact(ctx, "checkout", "1.6.0", "md5:0"); return err }, "digest"},
	}
	for _, tc := range tests {
		err := tc.call()
		require.Error(t, err, tc.name)
		assert.True(t, httpx.IsPermanent(err), tc.name)
		var he *httpx.Error
		require.ErrorAs(t, err, &he, tc.name)
		assert.Equal(t, tc.field, he.Field, tc.name)
	}
	list, err := c.ListReleases(ctx, "", "")
	require.NoError(t, err)
	assert.Empty(t, list)
}

// A lost response (fault after the effect) is retried by the caller with the
// same key and finds the one release: no second rollout.
func TestLostResponseThenRetry(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointDeployRelease: {ErrorRate: 1, AfterEffect: true}})
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	_, err := c.CreateRelease(ctx, "sha256:feed", request(deploy.TargetProduction))
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	assert.Equal(t, 503, httpx.StatusCode(err))

	require.NoError(t, s.SetFaults(nil))
	r, err := c.CreateRelease(ctx, "sha256:feed", request(deploy.TargetProduction))
	require.NoError(t, err)
	list, err := c.ListReleases(ctx, deploy.TargetProduction, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, r.ID, list[0].ID)
}

func TestInjected5xxBeforeEffect(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{
		sandbox.EndpointDeployRelease:     {ErrorRate: 1},
		sandbox.EndpointDeployArtifactPut: {ErrorRate: 1},
	})
	c := deploy.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	_, err := c.CreateRelease(ctx, "k", request(deploy.TargetStaging))
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	_, err = c.PushArtifact(ctx, sandbox.ServiceCheckout, sandbox.CheckoutVersionNew, sandbox.SeedDigest("checkout", "x"))
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))

	list, err := c.ListReleases(ctx, "", "")
	require.NoError(t, err)
	assert.Empty(t, list, "no half-done release and no hidden retry")
	a, err := c.GetArtifact(ctx, sandbox.ServiceCheckout, sandbox.CheckoutVersionNew)
	require.NoError(t, err)
	assert.Equal(t, sandbox.SeedDigest(sandbox.ServiceCheckout, sandbox.CheckoutVersionNew), a.Digest)
}
