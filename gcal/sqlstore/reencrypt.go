package sqlstore

import (
	"context"
	"errors"
	"fmt"
)

// Reencrypt rewrites the tokens encrypted under a previous key with the
// current one, so that the previous key can be retired, and returns how many
// rows it rewrote. It changes neither the tokens nor the versions of the
// links; a row saved meanwhile (already under the current key) is left as
// it is. Rows that cannot be decrypted are reported in the error, and the
// others are still rewritten.
func (s *Store) Reencrypt(ctx context.Context) (int, error) {
	type row struct {
		orgID, keyID string
		token, check []byte
		version      int64
	}
	rows, err := s.db.QueryContext(ctx, s.q.stale, s.keys.write.id)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: reencrypt: %w", err)
	}
	var stale []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.orgID, &r.token, &r.keyID, &r.check, &r.version); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlstore: reencrypt: %w", err)
		}
		stale = append(stale, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlstore: reencrypt: %w", err)
	}

	var errs []error
	n := 0
	for _, r := range stale {
		tok, err := s.keys.open(r.orgID, r.keyID, r.check, r.token)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		token, keyID, check, err := s.keys.seal(r.orgID, tok)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := s.db.ExecContext(ctx, s.q.rekey, r.orgID, token, keyID, check, r.version, r.keyID)
		if err != nil {
			errs = append(errs, fmt.Errorf("sqlstore: reencrypt org %q: %w", r.orgID, err))
			continue
		}
		if m, err := res.RowsAffected(); err == nil && m == 1 {
			n++
		}
	}
	return n, errors.Join(errs...)
}
