package envelope

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Context is the encryption context a data key is bound to; the same pairs
// must be given to unwrap it.
type Context map[string]string

// WorkspaceContext binds a data key to one workspace of one organization:
// every workspace object (state, configuration, plan) is sealed under it.
func WorkspaceContext(orgID, wsID uuid.UUID) Context {
	return Context{"runplane:organization": orgID.String(), "runplane:workspace": wsID.String()}
}

// VariableSetContext binds a data key to one variable set of one
// organization: the sensitive values of the set are sealed under it.
func VariableSetContext(orgID, setID uuid.UUID) Context {
	return Context{"runplane:organization": orgID.String(), "runplane:variable-set": setID.String()}
}

// canonical is the context as stable bytes (json sorts map keys).
func (c Context) canonical() []byte {
	b, _ := json.Marshal(map[string]string(c))
	return b
}

// DataKey is a fresh data key: Plaintext seals one object and is then
// forgotten; Wrapped is stored beside the object.
type DataKey struct {
	Plaintext []byte
	Wrapped   []byte
}

// Provider makes and unwraps data keys under a master key it never reveals.
type Provider interface {
	// KeyID names the master key, stored with every object it wraps.
	KeyID() string
	GenerateDataKey(ctx context.Context, ec Context) (DataKey, error)
	Decrypt(ctx context.Context, wrapped []byte, ec Context) ([]byte, error)
}

// Cache keeps unwrapped data keys in memory for a short time so that hot
// reads skip the key provider. Only successful unwraps are cached, keyed by
// the wrapped key and its context, so a cached key is exactly the one the
// provider returned for those bytes.
type Cache struct {
	Provider
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	key     []byte
	expires time.Time
}

// NewCache wraps p with a cache of at most max keys, each kept for ttl.
func NewCache(p Provider, ttl time.Duration, max int) *Cache {
	return &Cache{Provider: p, ttl: ttl, max: max, now: time.Now, entries: map[[32]byte]cacheEntry{}}
}

func cacheKey(wrapped []byte, ec Context) [32]byte {
	h := sha256.New()
	h.Write(ec.canonical())
	h.Write([]byte{0})
	h.Write(wrapped)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// GenerateDataKey asks the provider for a new key and remembers it, so the
// first read of a new object needs no unwrap.
func (c *Cache) GenerateDataKey(ctx context.Context, ec Context) (DataKey, error) {
	dk, err := c.Provider.GenerateDataKey(ctx, ec)
	if err == nil {
		c.put(cacheKey(dk.Wrapped, ec), dk.Plaintext)
	}
	return dk, err
}

// Decrypt answers from the cache or unwraps through the provider.
func (c *Cache) Decrypt(ctx context.Context, wrapped []byte, ec Context) ([]byte, error) {
	k := cacheKey(wrapped, ec)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.key, nil
	}
	key, err := c.Provider.Decrypt(ctx, wrapped, ec)
	if err != nil {
		return nil, err
	}
	c.put(k, key)
	return key, nil
}

func (c *Cache) put(k [32]byte, key []byte) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for ek, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, ek)
			}
		}
		// Still full of live keys: drop an arbitrary one rather than grow.
		for ek := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, ek)
		}
	}
	c.entries[k] = cacheEntry{key: key, expires: now.Add(c.ttl)}
}
