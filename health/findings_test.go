package health_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

// Found while writing FuzzReportJSON: two checks whose names differ only
// in invalid UTF-8 ("\xff" and "\xfe") are one name once encoding/json
// writes them ("\ufffd"), and the IETF document had that member twice,
// of which parsers keep one: a check vanished.
func TestIETFChecksWithNamesEqualAsJSONShareOneMember(t *testing.T) {
	agg := health.New([]health.Check{
		{Name: "\xff", Func: returns(health.Healthy, "first")},
		{Name: "\xfe", Func: returns(health.Degraded, "second")},
	}, health.WithClock(fixedClock))
	rec := get(t, agg, "/health", "Accept", "application/health+json")
	require.NoError(t, uniqueNames(rec.Body.Bytes()), "%s", rec.Body)
	var doc struct {
		Checks map[string][]struct {
			Status string `json:"status"`
			Output string `json:"output"`
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.Len(t, doc.Checks["\ufffd"], 2, "%s", rec.Body)
	assert.Equal(t, "pass", doc.Checks["\ufffd"][0].Status)
	assert.Equal(t, "warn", doc.Checks["\ufffd"][1].Status)
	assert.Equal(t, "second", doc.Checks["\ufffd"][1].Output)
}
