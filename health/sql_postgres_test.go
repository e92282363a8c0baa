package health_test

import (
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

const (
	postgresURLEnv    = "RESILIENCE_TEST_POSTGRES_URL"
	requireServersEnv = "RESILIENCE_TEST_REQUIRE_SERVERS"
)

// openPostgres connects to RESILIENCE_TEST_POSTGRES_URL. It skips the test
// when the variable is unset, or fails it when RESILIENCE_TEST_REQUIRE_SERVERS=1.
func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	url := os.Getenv(postgresURLEnv)
	if url == "" {
		if os.Getenv(requireServersEnv) == "1" {
			t.Fatal(postgresURLEnv + " is unset and " + requireServersEnv + "=1")
		}
		t.Skip("set " + postgresURLEnv + " to run against PostgreSQL")
	}
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestSQLPostgres(t *testing.T) {
	db := openPostgres(t)
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
