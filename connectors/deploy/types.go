// Package deploy is the connector to the deployment system (think Argo or
// Spinnaker): an artifact registry and releases of a service version to a
// target. Every release carries an Idempotency-Key; the wire format is in
// sandbox/openapi.yaml.
package deploy

import "time"

// Targets a release can go to.
const (
	TargetStaging    = "staging"
	TargetProduction = "production"
)

// Release statuses. A release starts deploying and ends healthy, unless its
// rollout fails (unhealthy).
const (
	StatusDeploying = "deploying"
	StatusHealthy   = "healthy"
	StatusUnhealthy = "unhealthy"
)

// ReleaseRequest asks for version of service to be rolled out to target.
// ArtifactDigest pins the approved build: the deployment system refuses the
// release when the registry holds a different digest for that version.
type ReleaseRequest struct {
	Target         string `json:"target"`
	Service        string `json:"service"`
	Version        string `json:"version"`
	ArtifactDigest string `json:"artifactDigest"`
	RequestedBy    string `json:"requestedBy"`
}

// Release is a rollout as the deployment system reports it.
type Release struct {
	ID             string     `json:"id"`
	IdempotencyKey string     `json:"idempotencyKey"`
	Target         string     `json:"target"`
	Service        string     `json:"service"`
	Version        string     `json:"version"`
	ArtifactDigest string     `json:"artifactDigest"`
	RequestedBy    string     `json:"requestedBy"`
	Status         string     `json:"status"`
	CreatedAt      time.Time  `json:"createdAt"`
	HealthyAt      *time.Time `json:"healthyAt,omitempty"`
	Detail         string     `json:"detail,omitempty"` // why it is unhealthy
}

// Artifact is a build in the registry: the digest a version currently
// resolves to.
type Artifact struct {
	Service  string    `json:"service"`
	Version  string    `json:"version"`
	Digest   string    `json:"digest"` // "sha256:<64 hex>"
	PushedAt time.Time `json:"pushedAt"`
}

// Target is a deployment target with its newest release, if any.
type Target struct {
	Name           string `json:"name"`
	CurrentRelease string `json:"currentRelease"` // "" when nothing was released there
	CurrentVersion string `json:"currentVersion"`
	Service        string `json:"service,omitempty"`
}
