package health

import "unicode/utf8"

// The IETF health-check response format (draft-inadarei-api-health-check),
// served for Accept: application/health+json.

// ietfDoc is the top-level health object of the draft.
type ietfDoc struct {
	Status string                 `json:"status"`
	Notes  []string               `json:"notes,omitempty"`
	Checks map[string][]ietfCheck `json:"checks"`
}

// ietfCheck is one check object of the draft. Details is an extension.
type ietfCheck struct {
	Status        string         `json:"status"`
	Time          string         `json:"time"`
	Output        string         `json:"output,omitempty"`
	ObservedValue any            `json:"observedValue,omitempty"`
	ObservedUnit  string         `json:"observedUnit,omitempty"`
	Details       map[string]any `json:"details,omitempty"`
}

// ietfStatus maps Healthy, Degraded and Critical to pass, warn and fail.
func ietfStatus(s Status) string {
	switch s {
	case Healthy:
		return "pass"
	case Degraded:
		return "warn"
	}
	return "fail"
}

// ietfReport converts r to the draft format: checks keyed by name, the
// check's duration as observedValue in ms (with details, when shown), its
// message as output unless it passed, and the recommendations as notes.
func ietfReport(r Report, details bool) ietfDoc {
	at := r.Timestamp.UTC().Format(timestampLayout)
	doc := ietfDoc{
		Status: ietfStatus(r.Status),
		Notes:  r.Recommendations,
		Checks: make(map[string][]ietfCheck, len(r.Integrations)),
	}
	for i, res := range r.Integrations {
		c := ietfCheck{Status: ietfStatus(res.Status), Time: at}
		if res.Status != Healthy {
			c.Output = res.Message
		}
		if details {
			if i < len(r.durations) {
				c.ObservedValue, c.ObservedUnit = r.durations[i].Milliseconds(), "ms"
			}
			c.Details = res.Details
		}
		name := res.Name
		if !utf8.ValidString(name) {
			name = string([]rune(name)) // as encoding/json writes it, so that equal names share a member
		}
		doc.Checks[name] = append(doc.Checks[name], c)
	}
	return doc
}
