package app_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/app"
)

var key32 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// production is a complete production environment.
func production() map[string]string {
	return map[string]string{
		"JWT_SECRET":           string(testSecret),
		"GOOGLE_CLIENT_ID":     "id.apps.googleusercontent.com",
		"GOOGLE_CLIENT_SECRET": "s3cret",
		"TOKEN_KEY":            key32,
		"TWILIO_ACCOUNT_SID":   "AC0123456789abcdef0123456789abcdef",
		"TWILIO_AUTH_TOKEN":    "0123456789abcdef0123456789abcdef",
		"TWILIO_FROM":          "+15017122661",
		"PUBLIC_URL":           "https://api.clinic.example",
		"DATABASE_URL":         "postgres://u:p@db.internal/app",
		"REDIS_URL":            "redis://redis.internal:6379/0",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func TestParseArgs(t *testing.T) {
	cfg, err := app.ParseArgs(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.Dev, "no settings: development mode")

	cfg, err = app.ParseArgs([]string{"-addr", "0.0.0.0:8443", "-redis-url", "redis://other:6379/1"}, env(production()), io.Discard)
	require.NoError(t, err)
	assert.False(t, cfg.Dev)
	assert.Equal(t, "0.0.0.0:8443", cfg.Addr)
	assert.Equal(t, "redis://other:6379/1", cfg.RedisURL, "a flag wins over the environment")
	assert.Equal(t, "postgres://u:p@db.internal/app", cfg.DatabaseURL)
	assert.Len(t, cfg.TokenKey, 32)
	assert.Equal(t, "https://api.clinic.example", cfg.PublicURL)

	_, err = app.ParseArgs([]string{"-sandbox"}, env(map[string]string{"JWT_SECRET": string(testSecret)}), io.Discard)
	require.NoError(t, err, "staging: production auth, sandbox vendors")
	_, err = app.ParseArgs(nil, env(map[string]string{"JWT_SECRET": string(testSecret), "SANDBOX": "1"}), io.Discard)
	require.NoError(t, err)

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"JWT_SECRET": "q7Zx9"}, "JWT_SECRET: too short (5 bytes; at least 32)"},
		{nil, with(production(), "SUPABASE_JWKS_URL", "https://p.supabase.co/auth/v1/.well-known/jwks.json"), "JWT_SECRET and SUPABASE_JWKS_URL: set one"},
		{nil, with(production(), "GOOGLE_CLIENT_ID", "", "GOOGLE_CLIENT_SECRET", ""), "GOOGLE_CLIENT_ID: required in production"},
		{nil, with(production(), "GOOGLE_CLIENT_SECRET", ""), "GOOGLE_CLIENT_SECRET: required with GOOGLE_CLIENT_ID"},
		{nil, with(production(), "TOKEN_KEY", ""), "TOKEN_KEY: required with GOOGLE_CLIENT_ID"},
		{nil, with(production(), "TOKEN_KEY", "c2hvcnQ="), "TOKEN_KEY: want 32 random bytes, got 5"},
		{nil, with(production(), "TOKEN_KEY", "not base64!"), "TOKEN_KEY: want 32 random bytes in base64 or hex"},
		{nil, with(production(), "TWILIO_ACCOUNT_SID", "", "TWILIO_AUTH_TOKEN", "", "TWILIO_FROM", ""), "TWILIO_ACCOUNT_SID: required in production"},
		{nil, with(production(), "TWILIO_FROM", ""), "TWILIO_FROM: required with TWILIO_ACCOUNT_SID"},
		{nil, with(production(), "TWILIO_AUTH_TOKEN", ""), "TWILIO_AUTH_TOKEN: required"},
		{nil, with(production(), "PUBLIC_URL", ""), "PUBLIC_URL: required with real vendors"},
		{nil, with(production(), "PUBLIC_URL", "api.clinic.example"), "PUBLIC_URL (-public-url): want an absolute http(s) URL"},
		{nil, with(production(), "REDIS_URL", "localhost:6379"), "REDIS_URL (-redis-url): not a redis:// or rediss:// URL"},
		{nil, with(production(), "SHUTDOWN_TIMEOUT", "soon"), "SHUTDOWN_TIMEOUT (-shutdown-timeout): want a duration"},
		{[]string{"-nope"}, nil, "flag provided but not defined: -nope (-h lists the settings)"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
	} {
		_, err := app.ParseArgs(tc.args, env(tc.env), io.Discard)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "\n", "one line")
		for k, v := range tc.env {
			if strings.Contains(k, "SECRET") || strings.Contains(k, "TOKEN") {
				assert.NotContains(t, err.Error(), v, "a secret is never repeated")
			}
		}
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := app.ParseArgs([]string{"-h"}, env(nil), &out)
	require.ErrorIs(t, err, app.ErrHelp)
	for _, name := range []string{"ADDR", "-addr", "DATABASE_URL", "REDIS_URL", "SUPABASE_JWKS_URL", "JWT_SECRET", "JWT_ISSUER",
		"STAFF_ROLE", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_REDIRECT_URL", "TOKEN_KEY", "TWILIO_ACCOUNT_SID",
		"TWILIO_AUTH_TOKEN", "TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID", "PUBLIC_URL", "SANDBOX", "SHUTDOWN_TIMEOUT"} {
		assert.Contains(t, out.String(), name)
	}
}

func TestNewNamesTheSettingAtFault(t *testing.T) {
	cfg := testConfig(t)
	cfg.Twilio = app.TwilioConfig{AccountSID: "AC-not-a-sid", AuthToken: "x", From: "+15017122661"}
	_, err := app.New(t.Context(), cfg)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "TWILIO_ACCOUNT_SID: "), err.Error())

	cfg = testConfig(t)
	cfg.DatabaseURL = "mysql://x"
	_, err = app.New(t.Context(), cfg)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "DATABASE_URL: "), err.Error())

	cfg = testConfig(t)
	cfg.Google = app.GoogleConfig{ClientID: "id", ClientSecret: "s"}
	_, err = app.New(t.Context(), cfg)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "TOKEN_KEY: "), err.Error())

	cfg = testConfig(t)
	cfg.Dev, cfg.JWTSecret = false, nil
	_, err = app.New(t.Context(), cfg)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "JWT_SECRET: "), err.Error())
}
