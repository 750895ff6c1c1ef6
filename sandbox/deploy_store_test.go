package sandbox

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
)

func TestStoreReleasesConcurrentSameKey(t *testing.T) {
	t.Parallel()
	st := openTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, a := range SeedArtifacts(at) {
		_, err := st.putArtifact(ctx, a)
		require.NoError(t, err)
	}
	r := deploy.Release{ID: releaseID("k"), IdempotencyKey: "k", Target: deploy.TargetStaging, Service: ServiceCheckout,
		Version: CheckoutVersionNew, ArtifactDigest: SeedDigest(ServiceCheckout, CheckoutVersionNew), RequestedBy: "a",
		Status: deploy.StatusDeploying, CreatedAt: at}
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			got, hash, c, err := st.insertRelease(ctx, r, "h")
			assert.NoError(t, err)
			assert.Equal(t, "h", hash)
			assert.Equal(t, r, got)
			created <- c
		})
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one insert wins")
	list, err := st.listReleases(ctx, "", "", 0)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestStoreReleaseNeedsRegistryDigest(t *testing.T) {
	t.Parallel()
	st := openTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	digest := SeedDigest(ServiceSearch, SearchVersion)
	release := func(key string) deploy.Release {
		return deploy.Release{ID: releaseID(key), IdempotencyKey: key, Target: deploy.TargetProduction, Service: ServiceSearch,
			Version: SearchVersion, ArtifactDigest: digest, RequestedBy: "a", Status: deploy.StatusDeploying, CreatedAt: at}
	}
	steps := []struct {
		name    string
		push    string // digest pushed before the release; "" pushes nothing
		key     string
		wantErr error
	}{
		{"never pushed", "", "k1", errDigestMismatch},
		{"other digest", SeedDigest(ServiceSearch, "other"), "k1", errDigestMismatch},
		{"matching digest", digest, "k1", nil},
		{"changed after release, new key", SeedDigest(ServiceSearch, "other"), "k2", errDigestMismatch},
		{"changed after release, same key replays", "", "k1", nil},
	}
	for _, st2 := range steps {
		if st2.push != "" {
			_, err := st.putArtifact(ctx, deploy.Artifact{Service: ServiceSearch, Version: SearchVersion, Digest: st2.push, PushedAt: at})
			require.NoError(t, err, st2.name)
		}
		got, _, _, err := st.insertRelease(ctx, release(st2.key), "h")
		if st2.wantErr != nil {
			assert.ErrorIs(t, err, st2.wantErr, st2.name)
			continue
		}
		require.NoError(t, err, st2.name)
		assert.Equal(t, release(st2.key), got, st2.name)
	}
	_, err := st.markUnhealthy(ctx, "REL-NOPE", "x")
	assert.ErrorIs(t, err, errNotFound)
}

// A store written before the deployment system existed gets the seed
// registry on start, and nothing else is reseeded.
func TestSeedRegistryIntoOldStore(t *testing.T) {
	t.Parallel()
	dbURL, path := testStoreArgs(t)
	ctx := context.Background()
	st, err := openStore(ctx, dbURL, path)
	require.NoError(t, err)
	v := SeedVendors()[0]
	require.NoError(t, st.putVendor(ctx, v))
	require.NoError(t, st.Close())

	s, err := Start(ctx, Config{HTTPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", DatabaseURL: dbURL, SQLitePath: path, Seed: true,
		Logger: quietLogger()})
	require.NoError(t, err)
	defer s.Close()
	for _, a := range SeedArtifacts(time.Time{}) {
		got, err := s.store.getArtifact(ctx, a.Service, a.Version)
		require.NoError(t, err)
		assert.Equal(t, a.Digest, got.Digest)
	}
	list, err := s.store.listInvoices(ctx, "", "")
	require.NoError(t, err)
	assert.Empty(t, list, "ERP not reseeded")
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
