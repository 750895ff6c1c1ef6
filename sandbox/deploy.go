package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
)

// deployTargets is the fixed set of environments, in the order listed.
var deployTargets = []string{deploy.TargetStaging, deploy.TargetProduction}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// serviceRE is a DNS label, as service names end up in hostnames.
	serviceRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// versionRE admits semver with pre-release and build metadata, and tags
	// like "2026.03.10-rc1", while keeping path-hostile characters out.
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$`)
)

func validateArtifact(service, version, digest string) error {
	var errs []error
	if !serviceRE.MatchString(service) {
		errs = append(errs, fieldError{field: "service", msg: "service must be a lower-case DNS label, e.g. checkout"})
	}
	if !versionRE.MatchString(version) {
		errs = append(errs, fieldError{field: "version", msg: "version must be letters, digits and . + _ - (e.g. 1.5.0)"})
	}
	if !digestRE.MatchString(digest) {
		errs = append(errs, fieldError{field: "digest", msg: `digest must be "sha256:" and 64 lower-case hex digits`})
	}
	return errors.Join(errs...)
}

func validateRelease(r deploy.ReleaseRequest) error {
	var errs []error
	if !slices.Contains(deployTargets, r.Target) {
		errs = append(errs, fieldError{field: "target", msg: `target must be "staging" or "production"`})
	}
	if !serviceRE.MatchString(r.Service) {
		errs = append(errs, fieldError{field: "service", msg: "service must be a lower-case DNS label, e.g. checkout"})
	}
	if !versionRE.MatchString(r.Version) {
		errs = append(errs, fieldError{field: "version", msg: "version must be letters, digits and . + _ - (e.g. 1.5.0)"})
	}
	if !digestRE.MatchString(r.ArtifactDigest) {
		errs = append(errs, fieldError{field: "artifactDigest", msg: `artifactDigest must be "sha256:" and 64 lower-case hex digits`})
	}
	errs = append(errs, required("requestedBy", r.RequestedBy))
	return errors.Join(errs...)
}

func releaseRequestHash(r deploy.ReleaseRequest) string { return contentHash(r) }
func releaseID(key string) string                       { return derivedID("REL-", "release", key) }

// rollout reports the status as of now: a deploying release turns healthy
// DeployHealthyAfter after its creation. Computing it on read needs no
// background job; an unhealthy mark is stored and wins.
func (s *Server) rollout(r deploy.Release) deploy.Release {
	if s.cfg.DeployHealthyAfter < 0 || r.Status != deploy.StatusDeploying {
		return r
	}
	at := r.CreatedAt.Add(s.cfg.DeployHealthyAfter)
	if !s.now().Before(at) {
		r.Status = deploy.StatusHealthy
		r.HealthyAt = &at
	}
	return r
}

// PushArtifact points version of service at digest in the registry, as a
// build pipeline would; re-pushing a version with another digest is how a
// test makes an artifact change after its release was approved.
func (s *Server) PushArtifact(ctx context.Context, service, version, digest string) (deploy.Artifact, error) {
	if err := firstFieldError(validateArtifact(service, version, digest)); err != nil {
		return deploy.Artifact{}, err
	}
	return s.store.putArtifact(ctx, deploy.Artifact{Service: service, Version: version, Digest: digest, PushedAt: s.now().UTC()})
}

// MarkReleaseUnhealthy marks a release unhealthy with detail as the reason,
// standing in for a crash-looping rollout so verification failures can be
// tested.
func (s *Server) MarkReleaseUnhealthy(ctx context.Context, id, detail string) (deploy.Release, error) {
	if err := required("detail", detail); err != nil {
		return deploy.Release{}, err
	}
	r, err := s.store.markUnhealthy(ctx, id, detail)
	if err != nil {
		return deploy.Release{}, fmt.Errorf("release %s: %w", id, err)
	}
	return s.rollout(r), nil
}

func (s *Server) listTargets(w http.ResponseWriter, r *http.Request) {
	out := make([]deploy.Target, 0, len(deployTargets))
	for _, name := range deployTargets {
		t := deploy.Target{Name: name}
		newest, err := s.store.listReleases(r.Context(), name, "", 1)
		if err != nil {
			s.fail(w, r, err, "target")
			return
		}
		if len(newest) == 1 {
			t.CurrentRelease, t.CurrentVersion, t.Service = newest[0].ID, newest[0].Version, newest[0].Service
		}
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.getArtifact(r.Context(), r.PathValue("service"), r.PathValue("version"))
	if err != nil {
		s.fail(w, r, err, "artifact")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) putArtifact(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Digest string `json:"digest"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err, "artifact")
		return
	}
	a, err := s.PushArtifact(r.Context(), r.PathValue("service"), r.PathValue("version"), body.Digest)
	if err != nil {
		s.fail(w, r, err, "artifact")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req deploy.ReleaseRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err, "release")
		return
	}
	if err := firstFieldError(validateRelease(req)); err != nil {
		s.fail(w, r, err, "release")
		return
	}
	hash := releaseRequestHash(req)
	rel := deploy.Release{
		ID:             releaseID(key),
		IdempotencyKey: key,
		Target:         req.Target,
		Service:        req.Service,
		Version:        req.Version,
		ArtifactDigest: req.ArtifactDigest,
		RequestedBy:    req.RequestedBy,
		Status:         deploy.StatusDeploying,
		CreatedAt:      s.now().UTC(),
	}
	stored, storedHash, created, err := s.store.insertRelease(r.Context(), rel, hash)
	if errors.Is(err, errDigestMismatch) {
		s.digestMismatch(w, r, req)
		return
	}
	if err != nil {
		s.fail(w, r, err, "release")
		return
	}
	if storedHash != hash {
		writeError(w, http.StatusConflict, "Idempotency-Key was already used with a different request", "Idempotency-Key")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.InfoContext(r.Context(), "sandbox release created", "release", stored.ID, "target", stored.Target,
			"service", stored.Service, "version", stored.Version)
	}
	writeJSON(w, status, s.rollout(stored))
}

// digestMismatch answers a release whose digest the registry does not hold.
// An unknown version is a 409 too, not a 404: the request is well-formed and
// the release collection exists; what conflicts is the approved digest with
// the registry, which is the one thing the caller must act on.
func (s *Server) digestMismatch(w http.ResponseWriter, r *http.Request, req deploy.ReleaseRequest) {
	name := req.Service + "@" + req.Version
	a, err := s.store.getArtifact(r.Context(), req.Service, req.Version)
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusConflict, "artifactDigest does not match the registry: "+name+" was never pushed", "artifactDigest")
	case err != nil:
		s.fail(w, r, err, "artifact")
	default:
		writeError(w, http.StatusConflict, "artifactDigest does not match the registry: "+name+" is "+a.Digest, "artifactDigest")
	}
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) {
	rel, err := s.store.getRelease(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err, "release")
		return
	}
	writeJSON(w, http.StatusOK, s.rollout(rel))
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("target")
	if target != "" && !slices.Contains(deployTargets, target) {
		s.fail(w, r, fieldError{field: "target", msg: `target must be "staging" or "production"`}, "release")
		return
	}
	list, err := s.store.listReleases(r.Context(), target, r.URL.Query().Get("service"), 0)
	if err != nil {
		s.fail(w, r, err, "release")
		return
	}
	for i := range list {
		list[i] = s.rollout(list[i])
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) postUnhealthy(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Detail string `json:"detail"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err, "release")
		return
	}
	rel, err := s.MarkReleaseUnhealthy(r.Context(), r.PathValue("id"), body.Detail)
	if err != nil {
		s.fail(w, r, err, "release")
		return
	}
	writeJSON(w, http.StatusOK, rel)
}
