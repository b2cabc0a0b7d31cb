// Package validate holds the error type every domain package returns for bad
// caller input, so the API can answer 400 with the message as written.
package validate

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"
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

// Text refuses a NUL character or invalid UTF-8 in any string of v (a
// decoded request body: structs, pointers, slices and maps are walked).
// PostgreSQL cannot store either in text or JSON, and a caller deserves a
// 400 that names the field rather than a failed write.
func Text(v any) error {
	return text(reflect.ValueOf(v), "body")
}

func text(v reflect.Value, where string) error {
	switch v.Kind() {
	case reflect.String:
		return checkString(v.String(), where)
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return text(v.Elem(), where)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytes, not text
		}
		for i := range v.Len() {
			if err := text(v.Index(i), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if err := text(k, where+" key"); err != nil {
				return err
			}
			if err := text(v.MapIndex(k), fmt.Sprintf("%s.%v", where, k)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if err := text(v.Field(i), name); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkString(s, where string) error {
	switch {
	case strings.ContainsRune(s, 0):
		return Errorf("%q holds a NUL character (\\u0000), which cannot be stored; remove it", where)
	case !utf8.ValidString(s):
		return Errorf("%q is not valid UTF-8", where)
	}
	return nil
}

// Clean makes text from an untrusted producer storable as it is meant to be
// read: NUL characters and invalid UTF-8 become U+FFFD. For text a person
// did not type into a request (policy messages, terraform's errors), which
// is kept rather than refused.
func Clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
