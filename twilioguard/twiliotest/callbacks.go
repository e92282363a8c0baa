package twiliotest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoMessage is returned for a SID the fake never issued.
var ErrNoMessage = errors.New("twiliotest: no such message")

// ErrNoCallback is returned by Callback and Advance for a message created
// without a StatusCallback.
var ErrNoCallback = errors.New("twiliotest: message has no StatusCallback")

// Signature returns the X-Twilio-Signature Twilio puts on a request to
// rawURL with the form params: the base64 HMAC-SHA1, keyed with the auth
// token, of the URL followed by each parameter's name and value, sorted by
// name (and the values of a repeated name sorted).
func Signature(authToken, rawURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(rawURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// sentStatuses are the statuses that mean Twilio has sent the message.
var sentStatuses = map[string]bool{
	"sending": true, "sent": true, "delivered": true, "undelivered": true,
	"read": true, "partially_delivered": true,
}

// SetStatus changes the status (and error code, 0 for none) of a message
// without posting a callback, as Twilio's state moves on before its
// callbacks arrive. Reaching "sending" or a later status sets DateSent.
func (s *Server) SetStatus(sid, status string, errorCode int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.bySID[sid]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoMessage, sid)
	}
	now := s.now().UTC()
	m.Status, m.DateUpdated = status, now
	if errorCode != 0 {
		m.ErrorCode = errorCode
	}
	if sentStatuses[status] && m.DateSent.IsZero() {
		m.DateSent = now
	}
	return nil
}

// Callback posts to the message's StatusCallback one signed status
// callback saying status (and errorCode, 0 for none), whatever the stored
// status is: call it twice for a duplicate, or in any order. It returns the
// HTTP status the callback got.
func (s *Server) Callback(ctx context.Context, sid, status string, errorCode int) (int, error) {
	m, ok := s.Message(sid)
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoMessage, sid)
	}
	if m.StatusCallback == "" {
		return 0, fmt.Errorf("%w: %s", ErrNoCallback, sid)
	}
	form := url.Values{
		"AccountSid":    {m.AccountSID},
		"ApiVersion":    {apiVersion},
		"MessageSid":    {m.SID},
		"MessageStatus": {status},
		"SmsSid":        {m.SID},
		"SmsStatus":     {status},
		"To":            {m.To},
	}
	if m.From != "" {
		form.Set("From", m.From)
	}
	if m.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if errorCode != 0 {
		form.Set("ErrorCode", strconv.Itoa(errorCode))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.StatusCallback, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Signature(s.AuthToken, m.StatusCallback, form))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	resp, err := s.callbacks.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Advance moves a message through statuses in order, as Twilio does: for
// each, it sets the status and posts its callback. A failed status
// ("failed", "undelivered") takes errorCode. It stops at the first
// callback that fails or is not answered with 2xx.
func (s *Server) Advance(ctx context.Context, sid string, errorCode int, statuses ...string) error {
	for _, st := range statuses {
		code := 0
		if st == "failed" || st == "undelivered" {
			code = errorCode
		}
		if err := s.SetStatus(sid, st, code); err != nil {
			return err
		}
		status, err := s.Callback(ctx, sid, st, code)
		if err != nil {
			return err
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("twiliotest: callback %q for %s answered %d", st, sid, status)
		}
	}
	return nil
}

// startLifecycle moves a new message through the statuses of WithLifecycle
// in the background, until Close.
func (s *Server) startLifecycle(sid string) {
	if len(s.lifecycle.statuses) == 0 || s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.lifecycle.step)
		defer t.Stop()
		for _, st := range s.lifecycle.statuses {
			select {
			case <-t.C:
			case <-s.ctx.Done():
				return
			}
			if s.SetStatus(sid, st, 0) != nil {
				return
			}
			if m, _ := s.Message(sid); m.StatusCallback != "" {
				_, _ = s.Callback(s.ctx, sid, st, 0)
			}
			t.Reset(s.lifecycle.step)
		}
	}()
}
