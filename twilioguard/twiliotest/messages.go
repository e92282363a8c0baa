package twiliotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Message is a message the fake accepted.
type Message struct {
	SID                 string
	AccountSID          string
	From                string // "" when sent through a Messaging Service
	To                  string
	Body                string
	MessagingServiceSID string
	StatusCallback      string
	// Status is Twilio's status of the message: "queued" when accepted
	// from a number, "accepted" through a Messaging Service, then whatever
	// SetStatus or Advance made it.
	Status    string
	ErrorCode int
	// DateCreated is when the fake accepted the message. DateSent is zero
	// until the message reaches "sending" or a later status.
	DateCreated time.Time
	DateSent    time.Time
	DateUpdated time.Time
}

// message is the fake's record of a Message.
type message struct {
	Message
	seq int
}

func (m *message) sender() string {
	if m.From != "" {
		return m.From
	}
	return m.MessagingServiceSID
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.Message
	}
	return out
}

// Message returns the message with the given SID.
func (s *Server) Message(sid string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.bySID[sid]
	if !ok {
		return Message{}, false
	}
	return m.Message, true
}

func (s *Server) lookup(sid string) *message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bySID[sid]
}

// maxBody is Twilio's limit on a message body, in characters.
const maxBody = 1600

// create validates a create request as Twilio does and stores the message.
func (s *Server) create(form url.Values) answer {
	to, from, svc := form.Get("To"), form.Get("From"), form.Get("MessagingServiceSid")
	body, callback := form.Get("Body"), form.Get("StatusCallback")
	switch {
	case to == "":
		return errorAnswer(http.StatusBadRequest, 21604, "A 'To' phone number is required.")
	case from == "" && svc == "":
		return errorAnswer(http.StatusBadRequest, 21603, "A 'From' phone number is required.")
	case body == "" && form.Get("MediaUrl") == "":
		return errorAnswer(http.StatusBadRequest, 21602, "Message body is required.")
	case utf8.RuneCountInString(body) > maxBody:
		return errorAnswer(http.StatusBadRequest, 21617,
			"The concatenated message body exceeds the 1600 character limit.")
	case callback != "" && !absoluteHTTP(callback):
		return errorAnswer(http.StatusBadRequest, 21609, "Invalid StatusCallback url: "+callback)
	}
	if a, bad := magicFrom(from); bad {
		return a
	}
	if a, bad := magicTo(to, from); bad {
		return a
	}

	now := s.now().UTC()
	status := "queued"
	if from == "" {
		status = "accepted" // a Messaging Service picks the sender later
	}
	s.mu.Lock()
	s.seq++
	m := &message{seq: s.seq, Message: Message{
		SID:                 fmt.Sprintf("SM%032x", s.seq),
		AccountSID:          s.AccountSID,
		From:                from,
		To:                  to,
		Body:                body,
		MessagingServiceSID: svc,
		StatusCallback:      callback,
		Status:              status,
		DateCreated:         now,
		DateUpdated:         now,
	}}
	s.messages = append(s.messages, m)
	s.bySID[m.SID] = m
	out := m.Message
	s.mu.Unlock()
	s.startLifecycle(out.SID)
	return jsonAnswer(http.StatusCreated, render(out))
}

// fetch answers GET .../Messages/{sid}.json.
func (s *Server) fetch(sid string) answer {
	m, ok := s.Message(sid)
	if !ok {
		return errorAnswer(http.StatusNotFound, 20404, fmt.Sprintf(
			"The requested resource /%s/Accounts/%s/Messages/%s.json was not found", apiVersion, s.AccountSID, sid))
	}
	return jsonAnswer(http.StatusOK, render(m))
}

// absoluteHTTP reports whether s is an absolute http or https URL.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// messageJSON is a Message resource as Twilio renders it.
type messageJSON struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// dateLayout is Twilio's RFC 2822 date format, always in GMT.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

func render(m Message) messageJSON {
	uri := fmt.Sprintf("/%s/Accounts/%s/Messages/%s", apiVersion, m.AccountSID, m.SID)
	j := messageJSON{
		AccountSID:      m.AccountSID,
		APIVersion:      apiVersion,
		Body:            m.Body,
		DateCreated:     m.DateCreated.UTC().Format(dateLayout),
		DateUpdated:     m.DateUpdated.UTC().Format(dateLayout),
		Direction:       "outbound-api",
		NumMedia:        "0",
		NumSegments:     strconv.Itoa(segments(m.Body)),
		PriceUnit:       "USD",
		SID:             m.SID,
		Status:          m.Status,
		SubresourceURIs: map[string]string{"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
		To:              m.To,
		URI:             uri + ".json",
	}
	if !m.DateSent.IsZero() {
		d := m.DateSent.UTC().Format(dateLayout)
		j.DateSent = &d
	}
	if m.ErrorCode != 0 {
		code, text := m.ErrorCode, "Error "+strconv.Itoa(m.ErrorCode)
		j.ErrorCode, j.ErrorMessage = &code, &text
	}
	if m.From != "" {
		j.From = &m.From
	}
	if m.MessagingServiceSID != "" {
		j.MessagingServiceSID = &m.MessagingServiceSID
	}
	return j
}

// gsm7 is the GSM 03.38 default alphabet; the characters of gsm7Ext, its
// extension table, take two septets (an escape and the character).
const (
	gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "\f^{}\\[~]|€"
)

// segments is how many SMS segments carry body, as Twilio counts them: in
// GSM-7 when every character is in its alphabet, 160 septets in one
// segment or 153 per part; else in UCS-2, 70 UTF-16 units in one or 67 per
// part. A character that takes two (an extension character, one outside
// the Basic Multilingual Plane) is never split across parts.
func segments(body string) int {
	widths, single, part := gsmWidths(body), 160, 153
	if widths == nil {
		single, part = 70, 67
		for _, r := range body {
			widths = append(widths, utf16.RuneLen(r))
		}
	}
	total := 0
	for _, w := range widths {
		total += w
	}
	if total <= single {
		return 1
	}
	n, used := 1, 0
	for _, w := range widths {
		if used+w > part {
			n, used = n+1, 0
		}
		used += w
	}
	return n
}

// gsmWidths is the septets each character of body takes in GSM-7, or nil
// when body is empty or not all GSM-7.
func gsmWidths(body string) []int {
	var widths []int
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsm7, r):
			widths = append(widths, 1)
		case strings.ContainsRune(gsm7Ext, r):
			widths = append(widths, 2)
		default:
			return nil
		}
	}
	return widths
}

// errorJSON is Twilio's error body.
type errorJSON struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// answer is a response the fake has decided on but not yet written.
type answer struct {
	status int
	body   []byte
}

func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		return errorAnswer(http.StatusInternalServerError, 20500, "An internal server error has occurred")
	}
	return answer{status: status, body: b}
}

func errorAnswer(status, code int, msg string) answer {
	return jsonAnswer(status, errorJSON{
		Code:     code,
		Message:  msg,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		Status:   status,
	})
}

// write sends the answer and returns its status.
func (a answer) write(w http.ResponseWriter) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	return a.status
}

// writeError writes Twilio's error body and returns status.
func writeError(w http.ResponseWriter, status, code int, msg string) int {
	return errorAnswer(status, code, msg).write(w)
}
