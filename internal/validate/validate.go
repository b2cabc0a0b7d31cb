// Package validate holds the error type every domain package returns for bad
// caller input, so the API can answer 400 with the message as written.
package validate

import (
	"fmt"
	"regexp"
)

// Error is bad input; its message tells the caller what to fix.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Errorf builds an *Error.
func Errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,89}$`)

// Name checks an organization or workspace name.
func Name(name string) error {
	if !nameRE.MatchString(name) {
		return Errorf("name %q must be 1-90 letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}
