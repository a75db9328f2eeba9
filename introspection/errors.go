package introspection

import "errors"

// ErrUnavailable marks every failure to obtain a trustworthy introspection
// answer from PCM: transport errors, timeouts, non-200 statuses, wrong
// content types, oversized or undecodable bodies, and failures of the PEP's
// own PCM access token. The handler maps it to 503 with Retry-After: the
// caller's token may well be valid, PCM just could not confirm it.
var ErrUnavailable = errors.New("introspection: PCM unavailable")

// ErrMalformedResponse marks a PCM response that is not a well-formed,
// complete answer (wrong JSON types, missing required members, duplicate
// keys, trailing data). The Client wraps it together with ErrUnavailable,
// because garbage from PCM says nothing about the caller's token.
var ErrMalformedResponse = errors.New("introspection: malformed PCM response")

// ErrInvalidToken is returned without contacting PCM when the presented
// bearer token is empty or longer than MaxTokenLength. The handler maps it
// to 401.
var ErrInvalidToken = errors.New("introspection: bearer token empty or too long")

// MaxTokenLength bounds the bearer tokens sent to PCM. PCM issues short
// opaque tokens; anything longer is not one of them, and refusing it early
// keeps attacker-sized strings out of PCM requests.
const MaxTokenLength = 4096

// ErrIncompleteClaims marks an active answer that lacks a required claim
// (exp, aud, scope, iss, cnf, or patient with a patient/ scope). It also
// wraps ErrMalformedResponse, but a handler may answer it as an unusable
// token (401) rather than an unavailable PCM (503): retrying will not help.
var ErrIncompleteClaims = errors.New("introspection: required claim missing")
