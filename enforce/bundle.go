package enforce

import (
	"errors"
	"fmt"
	"strconv"
)

// FilterOptions tune FilterBundle.
type FilterOptions struct {
	// AnnotateWithheld adds, to a searchset from which something was
	// withheld, one entry with search.mode "outcome" holding an informational
	// OperationOutcome (issue code "suppressed") that says so.
	AnnotateWithheld bool
	// NarrowedType is the resource type of the search whose upstream query
	// carried the policy's narrowing ("" for anything else: history,
	// $everything, batch). Its searchset match entries may pass a
	// Rule.Narrowed rule whose constraints cannot all be verified.
	NarrowedType string
	// Links, when set, rewrites the top-level Bundle.link (the PEP's page
	// link sealer). It gets the upstream's link array as raw JSON ("[]"
	// when the Bundle has none) and returns the array that replaces it,
	// or nil for none. Its result is then checked like an upstream link
	// array (kept only under the public base, paging relations seen for
	// Bundle.total). The walk over the body finds the member, so the
	// caller does not scan the body a second time. It is called once,
	// after the walk, only for a body that passed it, whose resourceType
	// is the unescaped string "Bundle" and whose top-level keys are all
	// plain ASCII without escapes (an escaped key could spell "link" in a
	// way only a lenient reader sees). Any other Bundle with a link member
	// is refused with ErrLinks: its links could not be sealed, and the
	// upstream's own self link would show the client the narrowed query.
	// Its error is returned wrapped in ErrLinks.
	Links func(raw []byte) ([]byte, error)
}

// Stats describes what FilterBundle did.
type Stats struct {
	Returned     int             // entries with a resource that passed (includes Included)
	Included     int             // of which search.mode "include"
	Outcomes     int             // OperationOutcome entries, passed in sanitised form
	Withheld     [NumReasons]int // entries withheld, by reason
	LinksRemoved int             // Bundle.link elements removed (entry.link is not counted)
	TotalDropped bool            // Bundle.total removed (it could not be verified)
}

// WithheldCount is the number of entries withheld for any reason.
func (st *Stats) WithheldCount() int {
	n := 0
	for _, c := range st.Withheld {
		n += c
	}
	return n
}

type bundleType uint8

const (
	bundleUnsupported bundleType = iota
	bundleSearchset
	bundleHistory
	bundleBatchResponse
	bundleTransactionResponse
	bundleCollection
)

func parseBundleType(t []byte) bundleType {
	switch string(t) {
	case "searchset":
		return bundleSearchset
	case "history":
		return bundleHistory
	case "batch-response":
		return bundleBatchResponse
	case "transaction-response":
		return bundleTransactionResponse
	case "collection":
		return bundleCollection
	}
	return bundleUnsupported
}

type entryAction uint8

const (
	entryKeep entryAction = iota
	entryRemove
	entryReplace // batch/transaction-response: stands in as a 404 to keep positions
)

type entryRec struct {
	start, end       int
	editFrom, editTo int // edits inside this entry
	reason           Reason
	matchPass        bool // passes anyway as a searchset match (resourceInfo)
	hasResource      bool
	outcome          bool // resource is an OperationOutcome, replaced by its sanitised form
	include          bool
	match            bool // search.mode absent or "match"
	action           entryAction
}

// memberRec is a member of the Bundle or of an entry: key start to value end.
type memberRec = span

type bundleState struct {
	typ         bundleType
	isBundle    bool
	total       int // index in members, -1 when absent
	totalValue  int
	totalValid  bool
	totalValue0 int // byte offset of the total's value, for rewriting it
	entry       int // index in members, -1 when absent
	entryArr    span
	linkMember  int // index in members of a link array to remove, -1 when none
	multiPage   bool
	// With FilterOptions.Links the link member is only validated during
	// the walk and settled afterwards (settleLinks).
	open      int  // offset of the Bundle's "{"
	link      int  // index in members of the link member, -1 when absent
	linkValue span // its value
	oddKey    bool // a top-level key has escapes or non-ASCII bytes
	plainType bool // resourceType is the unescaped string "Bundle"
}

// FilterBundle checks every resource of a Bundle (searchset, history,
// batch-response, transaction-response, collection) and returns the Bundle
// without what failed, with links, fullUrl and response.location moved to
// PublicBase, and total fixed (see doc.go). When nothing needs to change the
// input slice itself is returned: the result may alias body. An error means
// the body cannot be sent at all: the handler answers 502, or for
// ErrForbiddenLabel a generic 400.
func (a *Access) FilterBundle(body []byte, opts FilterOptions) ([]byte, Stats, error) {
	return a.filterBundle(nil, body, opts, true)
}

// AppendFilterBundle is FilterBundle appending the result to dst, so that a
// caller can reuse output buffers. dst must not overlap body. On error dst is
// returned unchanged.
func (a *Access) AppendFilterBundle(dst, body []byte, opts FilterOptions) ([]byte, Stats, error) {
	return a.filterBundle(dst, body, opts, false)
}

// FilterBundleInto is FilterBundle building an edited result in dst
// (appended), so that a caller can reuse output buffers; like FilterBundle
// it returns body itself when nothing needs to change. dst must not
// overlap body. On error dst is returned unchanged.
func (a *Access) FilterBundleInto(dst, body []byte, opts FilterOptions) ([]byte, Stats, error) {
	return a.filterBundle(dst, body, opts, true)
}

func (a *Access) filterBundle(dst, body []byte, opts FilterOptions, mayAlias bool) ([]byte, Stats, error) {
	w, stats, err := a.walkBundle(body, opts)
	if err != nil {
		return dst, Stats{}, err
	}
	defer putWork(w)
	if len(w.edits) == 0 {
		if mayAlias {
			return body, stats, nil
		}
		return append(dst, body...), stats, nil
	}
	out, err := w.apply(dst, body)
	if err != nil {
		return dst, Stats{}, err
	}
	return out, stats, nil
}

// walkBundle checks body as a Bundle: every entry decided, the edits
// collected in the walk it returns, which the caller puts back (putWork).
func (a *Access) walkBundle(body []byte, opts FilterOptions) (*work, Stats, error) {
	if len(body) > a.e.maxBytes {
		return nil, Stats{}, ErrTooLarge
	}
	w := getWork(a, body, a.e.maxDepth)
	w.narrowedType = opts.NarrowedType
	var stats Stats
	err := w.bundle(opts, &stats)
	if err == nil && w.forbidden {
		err = ErrForbiddenLabel
	}
	if err != nil {
		putWork(w)
		return nil, Stats{}, err
	}
	return w, stats, nil
}

// bundle walks the Bundle, deciding every entry and collecting the edits.
func (w *work) bundle(opts FilterOptions, stats *Stats) error {
	s := &w.s
	if s.peek() != '{' {
		if err := s.skipValue(); err != nil {
			return err
		}
		if !s.atEnd() {
			return ErrSyntax
		}
		return ErrInvalidBundle
	}
	b := bundleState{total: -1, entry: -1, linkMember: -1, open: s.pos, link: -1}
	err := w.eachRecordedMember(func(key []byte) (remove bool, err error) {
		b.oddKey = b.oddKey || s.keyFlags != 0
		switch {
		case keyIs(key, "resourceType"):
			var st str
			var ok bool
			st, ok, err = s.readStringValue()
			b.isBundle = ok && string(s.text(st)) == "Bundle"
			b.plainType = b.isBundle && st.flags == 0
		case keyIs(key, "type"):
			var st str
			var ok bool
			st, ok, err = s.readStringValue()
			if ok {
				b.typ = parseBundleType(s.text(st))
			}
		case keyIs(key, "total"):
			b.total = len(w.members)
			b.totalValue0 = s.pos
			b.totalValue, b.totalValid, err = w.count()
		case keyIs(key, "link") && opts.Links != nil:
			b.link = len(w.members)
			b.linkValue.start = s.pos
			err = s.skipValue()
			b.linkValue.end = s.pos
		case keyIs(key, "link"):
			var allRemoved bool
			allRemoved, b.multiPage, err = w.linkArray(stats)
			if allRemoved {
				b.linkMember = len(w.members)
			}
		case keyIs(key, "entry"):
			b.entry = len(w.members)
			err = w.entryArray(&b)
		default:
			err = s.skipValue()
		}
		return false, err
	})
	if err != nil {
		return err
	}
	if !s.atEnd() {
		return ErrSyntax
	}
	if !b.isBundle || b.typ == bundleUnsupported {
		return ErrInvalidBundle
	}
	if opts.Links != nil && !w.forbidden {
		if err := w.settleLinks(&b, opts.Links, stats); err != nil {
			return err
		}
	}
	w.decide(&b, opts, stats)
	return nil
}

// errOddBundleLinks: the links of a Bundle whose top-level keys are
// escaped or non-ASCII, or whose resourceType is escaped (see settleLinks).
var errOddBundleLinks = errors.New("links of a Bundle with escaped or non-ASCII top-level keys")

// settleLinks does for the link member held back by FilterOptions.Links
// what the walk does for any other: rewrite, check, note paging relations.
// When the rewrite does not apply (see FilterOptions.Links) the upstream's
// array is checked where it is; otherwise the rewritten array is checked
// and replaces the upstream's value, or is inserted as the first member.
func (w *work) settleLinks(b *bundleState, rewrite func([]byte) ([]byte, error), stats *Stats) error {
	body := w.s.data
	if b.oddKey || !b.plainType {
		if b.link < 0 {
			return nil
		}
		// No server writes top-level keys escaped or non-ASCII, nor an
		// escaped resourceType; such a Bundle's links cannot be spliced
		// and checked in place they would still show the client the
		// upstream's own self link (the narrowed query: upstream patient
		// ids, bucket spellings, _security:not) and unsealed page links.
		return fmt.Errorf("%w: %w", ErrLinks, errOddBundleLinks)
	}
	raw := []byte("[]")
	if b.link >= 0 {
		raw = body[b.linkValue.start:b.linkValue.end]
	}
	links, err := rewrite(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLinks, err)
	}
	if links == nil {
		if b.link >= 0 {
			b.linkMember = b.link
		}
		return nil
	}
	editBase := len(w.edits)
	allRemoved, multiPage, end, err := w.linkArrayIn(links, 0, stats)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLinks, err)
	}
	if !onlySpace(links[end:]) {
		return fmt.Errorf("%w: %w", ErrLinks, ErrSyntax)
	}
	b.multiPage = multiPage
	if allRemoved {
		if b.link >= 0 {
			b.linkMember = b.link
		}
		return nil
	}
	// The edits the check made are relative to links: apply them there
	// and replace the upstream's value with the result as one edit.
	if sub := w.edits[editBase:]; len(sub) > 0 {
		if links, err = applyEdits(nil, links, sub, w.repl); err != nil {
			return err
		}
		w.edits = w.edits[:editBase]
	}
	if b.link >= 0 {
		w.addEdit(b.linkValue.start, b.linkValue.end, links)
		return nil
	}
	off := w.beginEdit()
	w.repl = append(w.repl, `"link":`...)
	w.repl = append(w.repl, links...)
	w.repl = append(w.repl, ',')
	w.endEdit(b.open+1, b.open+1, off)
	return nil
}

// linkArrayIn runs linkArray on the array at data[pos:], at the nesting
// depth of a Bundle's member, and returns where it ended. The scanner is
// left at the end of the body, as the walk left it.
func (w *work) linkArrayIn(data []byte, pos int, stats *Stats) (allRemoved, multiPage bool, end int, err error) {
	s := &w.s
	body := s.data
	s.data, s.pos, s.depth = data, pos, 1
	allRemoved, multiPage, err = w.linkArray(stats)
	end = s.pos
	s.data, s.pos, s.depth = body, len(body), 0
	return allRemoved, multiPage, end, err
}

func onlySpace(b []byte) bool {
	for _, c := range b {
		if !isSpace[c] {
			return false
		}
	}
	return true
}

// count reads Bundle.total: valid only as a plain non-negative integer.
func (w *work) count() (int, bool, error) {
	s := &w.s
	s.skipWS()
	start := s.pos
	if err := s.skipValue(); err != nil {
		return 0, false, err
	}
	digits := s.data[start:s.pos]
	if len(digits) == 0 || len(digits) > 9 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false, nil
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, nil
		}
		n = n*10 + int(c-'0')
	}
	return n, true, nil
}

func (w *work) entryArray(b *bundleState) error {
	s := &w.s
	if s.peek() != '[' {
		return ErrInvalidBundle
	}
	b.entryArr.start = s.pos
	if err := s.openArray(); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := s.nextElem(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		rec := entryRec{start: s.pos, editFrom: len(w.edits), match: true}
		if s.peek() == '{' {
			err = w.entry(&rec)
		} else {
			rec.reason = ReasonNotAResource
			err = s.skipValue()
		}
		if err != nil {
			return err
		}
		rec.end, rec.editTo = s.pos, len(w.edits)
		w.entries = append(w.entries, rec)
	}
	b.entryArr.end = s.pos
	return nil
}

func (w *work) entry(rec *entryRec) error {
	s := &w.s
	memberBase := len(w.members)
	var scratch Stats // entry-level link counts are not reported separately
	err := w.eachRecordedMember(func(key []byte) (remove bool, err error) {
		switch {
		case keyIs(key, "fullUrl"):
			err = w.rewriteURLValue()
		case keyIs(key, "resource"):
			rec.hasResource = true
			s.skipWS()
			start := s.pos
			var info resourceInfo
			info, err = w.resource(nil, false)
			if err == nil && string(info.typ) == "OperationOutcome" {
				rec.outcome = true
				w.sanitizeOutcome(start)
			} else {
				rec.reason, rec.matchPass = info.reason, info.matchPass
			}
		case keyIs(key, "search"):
			err = w.search(rec)
		case keyIs(key, "response"):
			err = w.response()
		case keyIs(key, "link"):
			remove, _, err = w.linkArray(&scratch)
		default:
			err = s.skipValue()
		}
		return remove, err
	})
	if err != nil {
		return err
	}
	w.removeSpans(w.members[memberBase:])
	w.members = w.members[:memberBase]
	return nil
}

// eachRecordedMember walks the object at s.pos like scanner.eachMember and
// appends each member's span to w.members, so that it can be removed or
// its neighbours' commas fixed later; fn reads the value and says whether
// the member is to be removed. It returns remove rather than taking a
// *memberRec so that the record does not escape to the heap.
func (w *work) eachRecordedMember(fn func(key []byte) (remove bool, err error)) error {
	s := &w.s
	return s.eachMember(func(key []byte) error {
		start := s.keyStart
		remove, err := fn(key)
		if err != nil {
			return err
		}
		w.members = append(w.members, memberRec{start: start, end: s.pos, remove: remove})
		return nil
	})
}

// rewriteURLValue rewrites the value at s.pos with rewriteURL if it is a
// string, and skips it otherwise.
func (w *work) rewriteURLValue() error {
	st, ok, err := w.s.readStringValue()
	if ok {
		w.rewriteURL(st)
	}
	return err
}

// sanitizeOutcome replaces the OperationOutcome just read, from start to
// s.pos, by its sanitised form.
func (w *work) sanitizeOutcome(start int) {
	s := &w.s
	off := w.beginEdit()
	w.repl = appendSanitizedOutcome(w.repl, s.data[start:s.pos])
	w.endEdit(start, s.pos, off)
}

func (w *work) search(rec *entryRec) error {
	s := &w.s
	return s.eachMember(func(key []byte) error {
		if !keyIs(key, "mode") {
			return s.skipValue()
		}
		st, ok, err := s.readStringValue()
		if ok {
			mode := s.text(st)
			rec.include = string(mode) == "include"
			rec.match = string(mode) == "match"
		}
		return err
	})
}

// response rewrites response.location and replaces response.outcome, which
// is an OperationOutcome that may echo another patient's data, by its
// sanitised form.
func (w *work) response() error {
	s := &w.s
	return s.eachMember(func(key []byte) error {
		var err error
		switch {
		case keyIs(key, "location"):
			err = w.rewriteURLValue()
		case keyIs(key, "outcome"):
			start := s.pos
			if err = s.skipValue(); err == nil {
				w.sanitizeOutcome(start)
			}
		default:
			err = s.skipValue()
		}
		return err
	})
}

// decide settles every entry, total and the links, and adds the Bundle-level
// edits, in named steps.
func (w *work) decide(b *bundleState, opts FilterOptions, stats *Stats) {
	upstreamMatches, matches, kept := w.settleEntries(b, stats)
	w.dropEditsInsideReplaced()
	withheld := stats.WithheldCount()
	w.rewriteEntries(b, kept, opts.AnnotateWithheld && withheld > 0 && b.typ == bundleSearchset)
	w.fixTotal(b, stats, upstreamMatches, matches)
	if b.linkMember >= 0 {
		w.members[b.linkMember].remove = true
	}
	w.removeSpans(w.members)
}

// settleEntries gives every entry its action and counts: the match entries
// the upstream sent and those that stay (for the total), and the entries
// that are not removed.
func (w *work) settleEntries(b *bundleState, stats *Stats) (upstreamMatches, matches, kept int) {
	batch := b.typ == bundleBatchResponse || b.typ == bundleTransactionResponse
	for i := range w.entries {
		e := &w.entries[i]
		reason := e.reason
		if e.match && e.hasResource && !e.outcome {
			upstreamMatches++
		}
		if e.matchPass && e.match && b.typ == bundleSearchset {
			reason = ReasonNone
		}
		switch {
		case e.outcome:
			stats.Outcomes++
		case reason != ReasonNone:
		case !e.hasResource:
			if !batch {
				reason = ReasonNoResource
			}
		default:
			stats.Returned++
			if e.include {
				stats.Included++
			}
			if e.match {
				matches++
			}
		}
		if reason != ReasonNone && !e.outcome {
			stats.Withheld[reason]++
			e.action = entryRemove
			if batch {
				e.action = entryReplace
			}
		}
		if e.action != entryRemove {
			kept++
		}
	}
	return upstreamMatches, matches, kept
}

// dropEditsInsideReplaced forgets the edits inside entries that do not
// survive as they are: they would overlap the removal or replacement of the
// entry.
func (w *work) dropEditsInsideReplaced() {
	live := w.edits[:0]
	next := 0
	for i, ed := range w.edits {
		for next < len(w.entries) && w.entries[next].editTo <= i {
			next++
		}
		if next < len(w.entries) && i >= w.entries[next].editFrom && w.entries[next].action != entryKeep {
			continue
		}
		live = append(live, ed)
	}
	w.edits = live
}

// rewriteEntries removes or replaces the entries that failed, and adds the
// "withheld" annotation when asked to.
func (w *work) rewriteEntries(b *bundleState, kept int, annotate bool) {
	if len(w.entries) == 0 {
		return
	}
	switch {
	case kept == 0 && annotate:
		off := w.beginEdit()
		w.repl = append(w.repl, '[')
		w.repl = append(w.repl, withheldEntry...)
		w.repl = append(w.repl, ']')
		w.endEdit(b.entryArr.start, b.entryArr.end, off)
	case kept == 0:
		w.members[b.entry].remove = true
	default:
		spans := w.links[:0] // reuse: links are done
		for _, e := range w.entries {
			if e.action == entryReplace {
				w.addEdit(e.start, e.end, notFoundEntry)
			}
			spans = append(spans, span{start: e.start, end: e.end, remove: e.action == entryRemove})
		}
		w.removeSpans(spans)
		w.links = spans[:0]
		if annotate {
			off := w.beginEdit()
			w.repl = append(w.repl, ',')
			w.repl = append(w.repl, withheldEntry...)
			w.endEdit(b.entryArr.end-1, b.entryArr.end-1, off)
		}
	}
}

// fixTotal applies the one rule for Bundle.total (see doc.go): on a single
// page whose total counts exactly the match entries the upstream sent, it
// becomes the number of match entries that leave; otherwise it is removed.
// Whether a total is present thus depends only on what the upstream sent,
// never on what was withheld, and its value says no more than the entries.
func (w *work) fixTotal(b *bundleState, stats *Stats, upstreamMatches, matches int) {
	if b.total < 0 {
		return
	}
	if !b.totalValid || b.multiPage || b.totalValue != upstreamMatches {
		w.members[b.total].remove = true
		stats.TotalDropped = true
		return
	}
	if matches != b.totalValue {
		off := w.beginEdit()
		w.repl = strconv.AppendInt(w.repl, int64(matches), 10)
		w.endEdit(b.totalValue0, w.members[b.total].end, off)
	}
}
