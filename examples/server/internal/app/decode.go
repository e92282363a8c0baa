package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// badRequest is a body the API refuses, with the field at fault.
type badRequest struct {
	status  int // 400 or 413
	code    string
	field   string
	message string
}

func (e *badRequest) Error() string { return e.message }

func invalid(field, message string) *badRequest {
	return &badRequest{status: http.StatusBadRequest, code: "invalid_field", field: field, message: message}
}

// decodeStrict reads one JSON object of at most MaxBodyBytes into v, a
// pointer to a struct, refusing what encoding/json lets through: keys that
// match a field only case-insensitively ("START"), keys no field has,
// repeated keys, and anything after the object.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &badRequest{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			message: fmt.Sprintf("The request body is too large: at most %d KiB.", MaxBodyBytes>>10)}
	case err != nil:
		return &badRequest{status: http.StatusBadRequest, code: "bad_request", message: "The request body could not be read."}
	}
	names := fieldNames(v)
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return &badRequest{status: http.StatusBadRequest, code: "bad_request", message: "The request body must be a JSON object."}
	}
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return malformed()
		}
		key := t.(string)
		if !slices.Contains(names, key) {
			return &badRequest{status: http.StatusBadRequest, code: "unknown_field", field: key,
				message: fmt.Sprintf("The request has a field this service does not know: %q. The fields are %s.", key, strings.Join(names, ", "))}
		}
		if seen[key] {
			return &badRequest{status: http.StatusBadRequest, code: "duplicate_field", field: key,
				message: fmt.Sprintf("The field %q appears twice.", key)}
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return malformed()
		}
	}
	if _, err := dec.Token(); err != nil {
		return malformed()
	}
	if _, err := dec.Token(); err != io.EOF {
		return &badRequest{status: http.StatusBadRequest, code: "bad_request", message: "The request body has something after its JSON object."}
	}
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid(te.Field, fmt.Sprintf("The field %q has the wrong type: want %s.", te.Field, kindName(te.Type)))
		}
		return &badRequest{status: http.StatusBadRequest, code: "bad_request", message: "The request body is not valid: " + plainJSONError(err)}
	}
	return nil
}

func malformed() error {
	return &badRequest{status: http.StatusBadRequest, code: "bad_request", message: "The request body is not valid JSON."}
}

// fieldNames lists the JSON names of the fields of the struct v points to.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// plainJSONError is a decoding error without the "json: " prefix and Go
// type names.
func plainJSONError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// writeBadRequest answers err from decodeStrict or a validation.
func writeBadRequest(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	if !errors.As(err, &br) {
		br = &badRequest{status: http.StatusBadRequest, code: "bad_request", message: "The request is not valid."}
	}
	writeAPIError(w, r, br.status, apiError{Code: br.code, Message: br.message, Field: br.field})
}
