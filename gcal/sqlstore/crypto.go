package sqlstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/oauth2"
)

// KeySize is the size of a Key's Secret: AES-256.
const KeySize = 32

// Key encrypts tokens at rest. Its ID is stored beside each row it
// encrypts, so that keys can rotate: a Store writes with one key and reads
// with that one and any previous keys (WithPreviousKeys).
type Key struct {
	// ID names the key, e.g. "2026-11"; 1 to 64 printable ASCII characters.
	ID string
	// Secret is KeySize random bytes.
	Secret []byte
}

// Errors of reading an encrypted token. Load returns them wrapped in a
// *DecryptError; their safecall class is Permanent.
var (
	// ErrUnknownKey: the row was encrypted under a key ID the Store was
	// not given.
	ErrUnknownKey = errors.New("sqlstore: token encrypted under a key this Store was not given")
	// ErrWrongKey: the Store has a key of that ID, but not the one the
	// row was encrypted with.
	ErrWrongKey = errors.New("sqlstore: token encrypted under another key of the same ID")
	// ErrTampered: the ciphertext does not authenticate: it was changed,
	// or copied from another organisation's row.
	ErrTampered = errors.New("sqlstore: encrypted token was tampered with")
)

// DecryptError is the error of a row whose token cannot be decrypted.
type DecryptError struct {
	OrgID string
	KeyID string
	Err   error // ErrUnknownKey, ErrWrongKey or ErrTampered
}

func (e *DecryptError) Error() string {
	return fmt.Sprintf("sqlstore: token of org %q (key %q): %v", e.OrgID, e.KeyID, e.Err)
}

func (e *DecryptError) Unwrap() error { return e.Err }

// keyring holds the keys of a Store.
type keyring struct {
	write *aesKey
	byID  map[string]*aesKey
}

type aesKey struct {
	id    string
	aead  cipher.AEAD
	check []byte // tells this key from another of the same ID
}

func newKeyring(write Key, previous []Key) (*keyring, error) {
	r := &keyring{byID: make(map[string]*aesKey)}
	for i, k := range append([]Key{write}, previous...) {
		ak, err := newAESKey(k)
		if err != nil {
			return nil, err
		}
		if old, dup := r.byID[k.ID]; dup {
			if !hmac.Equal(old.check, ak.check) {
				return nil, fmt.Errorf("sqlstore: two different keys with the ID %q", k.ID)
			}
			continue
		}
		r.byID[k.ID] = ak
		if i == 0 {
			r.write = ak
		}
	}
	return r, nil
}

func newAESKey(k Key) (*aesKey, error) {
	if k.ID == "" || len(k.ID) > 64 {
		return nil, fmt.Errorf("sqlstore: key ID %q: want 1 to 64 characters", k.ID)
	}
	for _, c := range []byte(k.ID) {
		if c < 0x21 || c > 0x7e {
			return nil, fmt.Errorf("sqlstore: key ID %q: want printable ASCII without spaces", k.ID)
		}
	}
	if len(k.Secret) != KeySize {
		return nil, fmt.Errorf("sqlstore: key %q: the secret must be %d bytes (AES-256), not %d", k.ID, KeySize, len(k.Secret))
	}
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte("gcal/sqlstore key check"))
	return &aesKey{id: k.ID, aead: aead, check: m.Sum(nil)[:8]}, nil
}

// aad binds a ciphertext to its row: the organisation and the key ID.
func aad(orgID, keyID string) []byte {
	return []byte("gcal/sqlstore/v1\x00" + keyID + "\x00" + orgID)
}

// seal encrypts tok for orgID's row under the write key.
func (r *keyring) seal(orgID string, tok *oauth2.Token) (ciphertext []byte, keyID string, check []byte, err error) {
	plain, err := json.Marshal(tok)
	if err != nil {
		return nil, "", nil, err
	}
	k := r.write
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", nil, err
	}
	return k.aead.Seal(nonce, nonce, plain, aad(orgID, k.id)), k.id, k.check, nil
}

// open decrypts the token of orgID's row.
func (r *keyring) open(orgID, keyID string, check, ciphertext []byte) (*oauth2.Token, error) {
	fail := func(err error) (*oauth2.Token, error) {
		return nil, &DecryptError{OrgID: orgID, KeyID: keyID, Err: err}
	}
	k, ok := r.byID[keyID]
	switch {
	case !ok:
		return fail(ErrUnknownKey)
	case !hmac.Equal(check, k.check):
		return fail(ErrWrongKey)
	case len(ciphertext) < k.aead.NonceSize()+k.aead.Overhead():
		return fail(ErrTampered)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, ciphertext[:n], ciphertext[n:], aad(orgID, keyID))
	if err != nil {
		return fail(ErrTampered)
	}
	var tok oauth2.Token
	if err := json.Unmarshal(plain, &tok); err != nil {
		return fail(ErrTampered)
	}
	return &tok, nil
}
