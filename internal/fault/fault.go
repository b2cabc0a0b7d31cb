// Package fault is the small shared set of kinds a domain error carries:
// what went wrong in terms any caller understands (not found, conflict,
// invalid, forbidden, unavailable …) and a stable code for API clients.
// Domain packages declare their sentinel errors with New; the API maps a
// kind to its HTTP status in one table (internal/httpapi) instead of
// knowing every package's errors.
package fault

import "errors"

// Kind is what kind of failure an error is.
type Kind int

const (
	// Invalid: the request is malformed or breaks a rule; fix it and retry.
	Invalid Kind = iota + 1
	// Unauthorized: no valid credential came with the request.
	Unauthorized
	// Forbidden: the credential may not do this.
	Forbidden
	// NotFound: no such object, or the caller may not know it exists.
	NotFound
	// Conflict: the object's current state does not allow this now.
	Conflict
	// TooLarge: the request body is over a limit.
	TooLarge
	// Locked: someone else holds the object.
	Locked
	// Corrupt: stored data failed its integrity check; nothing was served.
	Corrupt
	// Unavailable: a dependency is down or overloaded; retry later.
	Unavailable
)

// Error is a sentinel error of a kind, with the code API clients match on.
type Error struct {
	Kind Kind
	// Code is stable and machine-readable, such as "stale_serial".
	Code string
	msg  string
}

func (e *Error) Error() string { return e.msg }

// New returns a sentinel error; wrap it with fmt.Errorf("%w: …") to add
// detail.
func New(kind Kind, code, msg string) *Error { return &Error{Kind: kind, Code: code, msg: msg} }

// Of returns the kind and code err carries, if any.
func Of(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
