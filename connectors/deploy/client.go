package deploy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// Option configures a Client: the options of [httpx] (WithTimeout,
// WithHTTPClient, WithLogger, WithBreaker) apply to every connector alike.
type Option = httpx.Option

// Client talks to the deployment system's HTTP API.
type Client struct{ c *httpx.Client }

// New returns a Client for the deployment system at baseURL.
func New(baseURL string, opts ...Option) *Client { return &Client{c: httpx.New(baseURL, opts...)} }

// IsNotFound reports whether err says the release or artifact does not exist.
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is an HTTP 409: the idempotency key was
// already used for a different request, or the artifact digest does not match
// the registry (the build changed after approval, or was never pushed). Both
// are permanent: never retry, escalate.
func IsConflict(err error) bool { return httpx.StatusCode(err) == http.StatusConflict }

// CreateRelease starts a rollout once per idempotency key: repeating the call
// with the same key and request returns the first release, even if the
// registry changed since. Use the action digest as the key so the approved
// action and the rollout are one.
func (c *Client) CreateRelease(ctx context.Context, idempotencyKey string, req ReleaseRequest) (Release, error) {
	if err := httpx.Required("deploy.createRelease", "Idempotency-Key", idempotencyKey); err != nil {
		return Release{}, err
	}
	var r Release
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "deploy.createRelease " + req.Service + "@" + req.Version + " to " + req.Target, Method: http.MethodPost, Path: "/deploy/releases",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}},
		Body:   req,
	}, &r)
	if err != nil {
		return Release{}, fmt.Errorf("release %s@%s to %s: %w", req.Service, req.Version, req.Target, err)
	}
	return r, nil
}

// GetRelease fetches a release with its current status.
func (c *Client) GetRelease(ctx context.Context, id string) (Release, error) {
	if err := httpx.Required("deploy.getRelease", "releaseId", id); err != nil {
		return Release{}, err
	}
	var r Release
	if err := c.c.Get(ctx, "deploy.getRelease "+id, "/deploy/releases/"+url.PathEscape(id), &r); err != nil {
		return Release{}, fmt.Errorf("get release %s: %w", id, err)
	}
	return r, nil
}

// ListReleases lists releases newest first; an empty target or service does
// not filter on it.
func (c *Client) ListReleases(ctx context.Context, target, service string) ([]Release, error) {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if service != "" {
		q.Set("service", service)
	}
	path := "/deploy/releases"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list []Release
	if err := c.c.Get(ctx, "deploy.listReleases", path, &list); err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	return list, nil
}

// ListTargets lists the deployment targets with their newest release.
func (c *Client) ListTargets(ctx context.Context) ([]Target, error) {
	var list []Target
	if err := c.c.Get(ctx, "deploy.listTargets", "/deploy/targets", &list); err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	return list, nil
}

// GetArtifact fetches the digest a version currently resolves to in the
// registry; a verifier compares it with the approved digest.
func (c *Client) GetArtifact(ctx context.Context, service, version string) (Artifact, error) {
	if err := needArtifact("deploy.getArtifact", service, version); err != nil {
		return Artifact{}, err
	}
	var a Artifact
	if err := c.c.Get(ctx, "deploy.getArtifact "+service+"@"+version, artifactPath(service, version), &a); err != nil {
		return Artifact{}, fmt.Errorf("get artifact %s@%s: %w", service, version, err)
	}
	return a, nil
}

// PushArtifact points version of service at digest, replacing what the
// version resolved to before.
func (c *Client) PushArtifact(ctx context.Context, service, version, digest string) (Artifact, error) {
	if err := needArtifact("deploy.pushArtifact", service, version); err != nil {
		return Artifact{}, err
	}
	if err := httpx.Required("deploy.pushArtifact", "digest", digest); err != nil {
		return Artifact{}, err
	}
	var a Artifact
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "deploy.pushArtifact " + service + "@" + version, Method: http.MethodPut, Path: artifactPath(service, version),
		Body: struct {
			Digest string `json:"digest"`
		}{digest},
	}, &a)
	if err != nil {
		return Artifact{}, fmt.Errorf("push artifact %s@%s: %w", service, version, err)
	}
	return a, nil
}

func needArtifact(op, service, version string) error {
	if err := httpx.Required(op, "service", service); err != nil {
		return err
	}
	return httpx.Required(op, "version", version)
}

func artifactPath(service, version string) string {
	return "/deploy/artifacts/" + url.PathEscape(service) + "/" + url.PathEscape(version)
}
