package envs

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies a domain error so that adapters (HTTP, CLI) can map it
// without knowing the details.
type Code string

const (
	ENotFound  Code = "not_found"
	EConflict  Code = "conflict"
	EInvalid   Code = "invalid"
	EForbidden Code = "forbidden"
	ETooLarge  Code = "too_large"
	EInternal  Code = "internal"
	// EUnauthorized: nobody is signed in, or the session or token is no
	// longer valid.
	EUnauthorized Code = "unauthorized"
	// ETooMany: a rate limit was hit.
	ETooMany Code = "too_many_requests"
	// EUnavailable: something Mayfly depends on (the identity provider)
	// cannot be reached, and Mayfly refuses rather than guess.
	EUnavailable Code = "unavailable"
)

// FieldError names one field at fault. Field is a dotted path such as
// "params.customer", "ttl" or "stack.services[0].command"; Line is the line
// of a YAML document when the error comes from one (0 when unknown).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

func (e FieldError) String() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Message)
	}
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Error is the domain's error type. Message is safe to show to users.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// Errorf returns a domain error with the given code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error carrying field errors.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EInvalid, Message: message, Fields: fields}
}

// ErrorCode returns the code of a domain error, or EInternal for any other.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-facing message of a domain error, or a
// generic one for internal errors (whose details belong in logs only).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the field errors of a domain error, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
