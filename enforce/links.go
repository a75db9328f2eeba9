package enforce

import "strings"

// RewriteLocation maps a Location or Content-Location header value from the
// upstream to the client's view. URLs under UpstreamBase are moved under
// PublicBase; URLs under PublicBase and relative references stay; an
// absolute path is moved from the upstream's base path to the public one.
// Anything else (another host, a network-path "//host", control characters)
// returns false: drop the header.
func (e *Enforcer) RewriteLocation(v string) (string, bool) {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", false
	}
	if rest, ok := underBase([]byte(v), e.upstream.url); ok {
		return e.public.url + string(rest), true
	}
	if _, ok := underBase([]byte(v), e.public.url); ok {
		return v, true
	}
	if hasScheme([]byte(v)) || strings.HasPrefix(v, `\`) || strings.HasPrefix(v, `/\`) {
		return "", false
	}
	if strings.HasPrefix(v, "/") {
		if rest, ok := underBase([]byte(v), e.upstream.path); ok && (len(rest) == 0 || rest[0] == '/') {
			return e.public.path + string(rest), true
		}
		return "", false
	}
	return v, true
}

// rewriteURL adds an edit that moves the URL string st from UpstreamBase to
// PublicBase when it is under UpstreamBase. It reports where the URL points.
func (w *work) rewriteURL(st str) (upstream, public bool) {
	u := w.s.text(st)
	if rest, ok := underBase(u, w.a.e.upstream.url); ok {
		off := w.beginEdit()
		w.repl = append(w.repl, '"')
		w.repl = append(w.repl, w.a.e.public.json...)
		w.repl = appendJSONStringBody(w.repl, rest)
		w.repl = append(w.repl, '"')
		w.endEdit(st.start-1, st.end+1, off)
		return true, false
	}
	_, ok := underBase(u, w.a.e.public.url)
	return false, ok
}

// linkArray walks a Bundle.link or Bundle.entry.link array. A link is kept
// only if its url leads back to this server (then rewritten to PublicBase);
// every other link is removed so a client can only follow links through the
// PEP. multiPage reports a next/prev/previous relation, kept or not.
// allRemoved means the caller must remove the whole member (FHIR JSON has no
// empty arrays).
func (w *work) linkArray(stats *Stats) (allRemoved, multiPage bool, err error) {
	s := &w.s
	if s.peek() != '[' {
		return false, false, ErrInvalidBundle
	}
	if err := s.openArray(); err != nil {
		return false, false, err
	}
	base, editBase := len(w.links), len(w.edits)
	for first := true; ; first = false {
		more, err := s.nextElem(first)
		if err != nil {
			return false, false, err
		}
		if !more {
			break
		}
		sp := span{start: s.pos}
		keep, paging, err := w.link()
		if err != nil {
			return false, false, err
		}
		multiPage = multiPage || paging
		sp.end, sp.remove = s.pos, !keep
		w.links = append(w.links, sp)
	}
	links := w.links[base:]
	kept := 0
	for _, l := range links {
		if !l.remove {
			kept++
		}
	}
	stats.LinksRemoved += len(links) - kept
	if kept == 0 {
		w.edits = w.edits[:editBase]
		allRemoved = true
	} else {
		w.removeSpans(links)
	}
	w.links = w.links[:base]
	return allRemoved, multiPage, nil
}

func (w *work) link() (keep, paging bool, err error) {
	s := &w.s
	var url, rel str
	var hasURL, hasRel bool
	err = s.eachMember(func(key []byte) error {
		var err error
		switch {
		case keyIs(key, "url"):
			url, hasURL, err = s.readStringValue()
		case keyIs(key, "relation"):
			rel, hasRel, err = s.readStringValue()
		default:
			err = s.skipValue()
		}
		return err
	})
	if err != nil {
		return false, false, err
	}
	if hasRel {
		r := s.text(rel)
		paging = keyIs(r, "next") || keyIs(r, "prev") || keyIs(r, "previous")
	}
	if !hasURL {
		return false, paging, nil
	}
	up, pub := w.rewriteURL(url)
	return up || pub, paging, nil
}
