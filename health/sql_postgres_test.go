package health_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/internal/testenv"
)

func TestSQLPostgres(t *testing.T) {
	db := testenv.PostgresDB(t)
	r := health.New([]health.Check{health.SQL("Database", db, health.AsCritical())}).Run(t.Context())
	require.Equal(t, health.Healthy, r.Status, r.Integrations[0].Message)
	assert.Equal(t, 1, r.Integrations[0].Details["openConnections"])
}

func TestSQLUnreachablePostgres(t *testing.T) {
	// Nothing listens on port 1: the ping is refused at once.
	db, err := sql.Open("pgx", "postgres://health@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	r := health.New([]health.Check{health.SQL("Database", db, health.AsCritical(), health.WithTimeout(time.Second))}).Run(t.Context())
	assert.Equal(t, health.Critical, r.Status)
	assert.Equal(t, "database ping failed", r.Integrations[0].Message, "the host stays out of the message")
	assert.Contains(t, r.Integrations[0].Details["error"], "dial tcp [ip]:1: connect: connection refused")
	assert.NotContains(t, r.Integrations[0].Details["error"], "user=health", "the driver names the user")
	assert.Equal(t, 0, r.Integrations[0].Details["openConnections"])
}
