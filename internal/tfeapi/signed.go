package tfeapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// URLKey derives the key that signs the API's capability URLs from a
// platform secret: every process holding the same secret accepts the
// URLs any of them made.
func URLKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("runplane tfe api signed urls v1"))
	return m.Sum(nil)
}

// signer makes and checks the capability URLs clients follow without the
// API token — go-tfe sends no Authorization header when it uploads a
// configuration or polls a log. A URL is good for one purpose and object
// until it expires.
type signer struct {
	key []byte
	now func() time.Time
}

func (s signer) mac(purpose, subject string, expires int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\n%s\n%d", purpose, subject, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sign returns the token for subject, "<expiry>.<mac>".
func (s signer) sign(purpose, subject string, ttl time.Duration) string {
	exp := s.now().Add(ttl).Unix()
	return strconv.FormatInt(exp, 10) + "." + s.mac(purpose, subject, exp)
}

// verify accepts a token sign made for the same purpose and subject that
// has not expired.
func (s signer) verify(purpose, subject, token string) error {
	expText, mac, ok := strings.Cut(token, ".")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if !ok || err != nil || !hmac.Equal([]byte(mac), []byte(s.mac(purpose, subject, exp))) {
		return fmt.Errorf("%w: the URL's signature does not match", errNotFound)
	}
	if s.now().Unix() > exp {
		return fmt.Errorf("%w: the URL expired; read the object again for a fresh one", errNotFound)
	}
	return nil
}
