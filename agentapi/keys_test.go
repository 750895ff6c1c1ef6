package agentapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

func forgedKey(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

func TestKeyLifecycle(t *testing.T) {
	each(t, "agentapi_keys", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)

		key, err := s.Create(ctx, "billing-bot", []string{ScopeRead, ScopePropose, ScopeRead})
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(key, KeyPrefix))
		assert.Len(t, key, len(KeyPrefix)+43, "32 bytes base64url without padding")

		a, err := s.Verify(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, Agent{Name: "billing-bot", Scopes: []string{ScopePropose, ScopeRead}}, a, "scopes sorted, without duplicates")

		// Only the hash is stored.
		var stored string
		require.NoError(t, s.db.QueryRowContext(ctx, `SELECT key_hash FROM agent_keys WHERE name = $1`, "billing-bot").Scan(&stored))
		sum := sha256.Sum256([]byte(key))
		assert.Equal(t, hex.EncodeToString(sum[:]), stored)

		_, err = s.Create(ctx, "billing-bot", []string{ScopeRead})
		assert.ErrorIs(t, err, ErrAgentExists, "an active name is not re-issued")

		require.NoError(t, s.Revoke(ctx, "billing-bot"))
		_, err = s.Verify(ctx, key)
		assert.ErrorIs(t, err, ErrUnauthorized, "revoked")
		assert.ErrorIs(t, s.Revoke(ctx, "billing-bot"), ErrAlreadyRevoked)
		assert.ErrorIs(t, s.Revoke(ctx, "nobody"), ErrUnknownAgent)

		// Re-created after revocation: a new key; the old one stays dead.
		key2, err := s.Create(ctx, "billing-bot", []string{ScopeCancel})
		require.NoError(t, err)
		assert.NotEqual(t, key, key2)
		a, err = s.Verify(ctx, key2)
		require.NoError(t, err)
		assert.Equal(t, []string{ScopeCancel}, a.Scopes)
		_, err = s.Verify(ctx, key)
		assert.ErrorIs(t, err, ErrUnauthorized)

		_, err = s.Create(ctx, "deploy-bot", []string{ScopePropose})
		require.NoError(t, err)
		require.NoError(t, s.Revoke(ctx, "deploy-bot"))
		list, err := s.List(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "billing-bot", list[0].Name)
		assert.Nil(t, list[0].RevokedAt)
		assert.Equal(t, fixedClock(), list[0].CreatedAt)
		assert.Equal(t, "deploy-bot", list[1].Name)
		require.NotNil(t, list[1].RevokedAt)
	})
}

func TestKeyStoreRefusesBadInput(t *testing.T) {
	s := openStore(t, testdb.Engines("agentapi_bad")[0])
	ctx := context.Background()
	tests := []struct {
		name   string
		agent  string
		scopes []string
		want   string
	}{
		{"unknown scope", "bot", []string{ScopeRead, "actions:approve"}, `"actions:approve"`},
		{"no scope", "bot", nil, "at least one scope"},
		{"blank scope only", "bot", []string{" "}, "at least one scope"},
		{"bad name", "Bot_1", []string{ScopeRead}, `"Bot_1"`},
		{"empty name", "", []string{ScopeRead}, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Create(ctx, tt.agent, tt.scopes)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestVerifyRefusesForgedAndMalformedKeys(t *testing.T) {
	s := openStore(t, testdb.Engines("agentapi_forged")[0])
	ctx := context.Background()
	real, err := s.Create(ctx, "bot", []string{ScopeRead})
	require.NoError(t, err)
	for name, key := range map[string]string{
		"forged":          forgedKey(t),
		"empty":           "",
		"no prefix":       strings.TrimPrefix(real, KeyPrefix),
		"other prefix":    "eob_" + strings.TrimPrefix(real, KeyPrefix),
		"truncated":       real[:len(real)-1],
		"not base64":      KeyPrefix + strings.Repeat("!", 43),
		"hash as key":     hashKey(real),
		"with whitespace": real + " ",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(ctx, key)
			assert.True(t, errors.Is(err, ErrUnauthorized), "err = %v", err)
		})
	}
}

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agents.db")
	s, err := Open(context.Background(), "", path, nil)
	require.NoError(t, err)
	defer s.Close()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}
