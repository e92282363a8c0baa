package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadRunsAndChecks(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-duration", "300ms", "-c", "4", "-clinics", "2"}, &out), out.String())
	assert.Contains(t, out.String(), "POST /api/appointments")
	assert.Contains(t, out.String(), "GET /api/health/integrations")
	assert.Contains(t, out.String(), "double bookings: 0, duplicate texts: 0")
	assert.NotContains(t, out.String(), "no requests")
}

func TestLoadRefusesUnboundedRuns(t *testing.T) {
	for _, args := range [][]string{{"-duration", "1h"}, {"-c", "0"}, {"-clinics", "0"}} {
		assert.Error(t, run(args, &bytes.Buffer{}), args)
	}
}
