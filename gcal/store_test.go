package gcal_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

func TestMemoryStore(t *testing.T) {
	gcaltest.TestTokenStore(t, func(*testing.T) gcal.TokenStore { return &gcal.MemoryStore{} })
}

// TestMemoryStoreCopies: a caller that changes a loaded or saved link does
// not change the stored one.
func TestMemoryStoreCopies(t *testing.T) {
	var s gcal.MemoryStore
	ctx := context.Background()
	saved, err := s.Save(ctx, gcal.Link{OrgID: "o", Status: gcal.Linked, Token: tokenFor("a")})
	require.NoError(t, err)
	saved.Token.AccessToken = "changed"
	loaded, err := s.Load(ctx, "o")
	require.NoError(t, err)
	assert.Equal(t, "a", loaded.Token.AccessToken)
	loaded.Token.AccessToken = "changed"
	again, err := s.Load(ctx, "o")
	require.NoError(t, err)
	assert.Equal(t, "a", again.Token.AccessToken)
}
