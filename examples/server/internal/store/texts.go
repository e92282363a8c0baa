package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// The states of a text in the outbox.
const (
	// TextPending: not yet accepted by Twilio; the outbox retries it.
	TextPending = "pending"
	// TextSent: Twilio accepted it; its delivery is twilioguard's to track.
	TextSent = "sent"
	// TextFailed: refused for good (a bad number, an unsubscribed one).
	TextFailed = "failed"
)

// Text is a message the server wants to send: the outbox row that keeps it
// until Twilio has accepted it.
type Text struct {
	OrgID string
	// Key is twilioguard's message key: one text per (OrgID, Key), ever.
	Key string
	// Kind says what the text is for: "confirmation", "cancellation",
	// "system-ready" or "sms".
	Kind        string
	To          string
	From        string
	Body        string
	Fingerprint string
	State       string
	Attempts    int
	NextAttempt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const textColumns = `org_id, msg_key, kind, to_number, from_number, body, fingerprint, state, attempts,
	next_attempt, created_at, updated_at`

func scanText(row interface{ Scan(...any) error }) (Text, error) {
	var t Text
	var next, created, updated int64
	err := row.Scan(&t.OrgID, &t.Key, &t.Kind, &t.To, &t.From, &t.Body, &t.Fingerprint, &t.State, &t.Attempts,
		&next, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Text{}, ErrNotFound
	}
	t.NextAttempt, t.CreatedAt, t.UpdatedAt = fromMS(next), fromMS(created), fromMS(updated)
	return t, err
}

// EnqueueText records t as pending unless a text of its key exists, and
// returns the stored one and whether this call created it.
func (s *Store) EnqueueText(ctx context.Context, t Text) (Text, bool, error) {
	now := ms(s.now())
	var got Text
	err := s.retry(ctx, func() error {
		var err error
		got, err = scanText(s.db.QueryRowContext(ctx, s.q(`INSERT INTO server_texts
			(org_id, msg_key, kind, to_number, from_number, body, fingerprint, state, attempts, next_attempt, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8)
			ON CONFLICT (org_id, msg_key) DO NOTHING
			RETURNING `+textColumns),
			t.OrgID, t.Key, t.Kind, t.To, t.From, t.Body, t.Fingerprint, now))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		got, err = s.Text(ctx, t.OrgID, t.Key)
		return got, false, err
	}
	return got, err == nil, err
}

// Text returns the text of org with key, or ErrNotFound.
func (s *Store) Text(ctx context.Context, org, key string) (Text, error) {
	return scanText(s.db.QueryRowContext(ctx, s.q(`SELECT `+textColumns+`
		FROM server_texts WHERE org_id = $1 AND msg_key = $2`), org, key))
}

// UpdateText records the outcome of a send attempt: the state, the number
// of attempts made and when a pending text is due again.
func (s *Store) UpdateText(ctx context.Context, org, key, state string, attempts int, next time.Time) error {
	return s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q(`UPDATE server_texts SET state = $3, attempts = $4, next_attempt = $5,
			updated_at = $6 WHERE org_id = $1 AND msg_key = $2`), org, key, state, attempts, ms(next), ms(s.now()))
		return err
	})
}

// DueTexts returns up to limit pending texts due at now, oldest first.
func (s *Store) DueTexts(ctx context.Context, now time.Time, limit int) ([]Text, error) {
	return s.texts(ctx, `SELECT `+textColumns+` FROM server_texts
		WHERE state = 'pending' AND next_attempt <= $1 ORDER BY next_attempt LIMIT $2`, ms(now), limit)
}

// RecentTexts returns the most recent texts of every clinic, newest first.
func (s *Store) RecentTexts(ctx context.Context, limit int) ([]Text, error) {
	return s.texts(ctx, `SELECT `+textColumns+` FROM server_texts ORDER BY created_at DESC, msg_key LIMIT $1`, limit)
}

func (s *Store) texts(ctx context.Context, query string, args ...any) ([]Text, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Text
	for rows.Next() {
		t, err := scanText(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
