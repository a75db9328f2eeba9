package fhir

import "strings"

// maxSegments is the longest path any modelled interaction uses
// (Type/id/_history/vid and Patient/id/Type/_search).
const maxSegments = 4

// splitPath checks that path is canonical and splits it into segments. The
// only bytes a canonical path may hold are those of FHIR type names, ids,
// operation names and the literal segments: [A-Za-z0-9-._$*] and "/". So no
// percent-encoding of any kind is ever needed, and rejecting every other byte
// removes encoded slashes and backslashes, encoded dots, double encoding,
// matrix parameters, control characters and non-ASCII input in one test.
func splitPath(path string) ([maxSegments]string, int, error) {
	var segs [maxSegments]string
	if path == "" || path == "/" {
		return segs, 0, nil
	}
	if path[0] != '/' {
		return segs, 0, ErrNonCanonicalPath
	}
	for i := 1; i < len(path); i++ {
		c := path[i]
		if isAlpha(c) || isDigit(c) {
			continue
		}
		switch c {
		case '/', '-', '.', '_', '$', '*':
		default:
			return segs, 0, ErrNonCanonicalPath
		}
	}
	n := 0
	for rest := path[1:]; ; {
		seg := rest
		slash := strings.IndexByte(rest, '/')
		if slash >= 0 {
			seg, rest = rest[:slash], rest[slash+1:]
		}
		// Empty segments ("//", a trailing "/") and dot segments would be
		// normalised differently by different servers: not canonical.
		if seg == "" || seg == "." || seg == ".." {
			return segs, 0, ErrNonCanonicalPath
		}
		if n == maxSegments {
			return segs, 0, ErrUnsupportedRequest
		}
		segs[n] = seg
		n++
		if slash < 0 {
			return segs, n, nil
		}
	}
}

// IsID reports whether s is a valid FHIR logical or version id:
// [A-Za-z0-9\-\.]{1,64}.
func IsID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isOperation matches "$" followed by [A-Za-z][A-Za-z0-9_-]{0,63}, the shape
// of R4 operation codes ($everything, $validate-code, $meta-add, $lastn).
func isOperation(s string) bool {
	if len(s) < 2 || len(s) > 65 || s[0] != '$' || !isAlpha(s[1]) {
		return false
	}
	return isToken(s[1:])
}
