package enforce

import "sync"

// work is the reusable state of one check: the scanner and the stacks the
// resource and Bundle walkers push onto. Pooled, so a steady stream of
// requests allocates almost nothing beyond the filtered output itself.
type work struct {
	a       *Access
	s       scanner
	codings []coding
	entries []entryRec
	members []span
	links   []span
	edits   []edit
	repl    []byte // replacement bytes of edits
	issues  []issue
	// forbidden is set as soon as any resource walked carries a forbidden
	// label: the whole body is then refused.
	forbidden bool
	// Facts of the current top-level resource (facts.go), and the type whose
	// searchset match entries may trust narrowed rules (FilterOptions).
	watches      []*paramDef
	pending      []pendingRead
	tokens       []tokenFact
	dates        []dateFact
	arena        []byte
	clinical     int // index in watches of the clinical date, or -1
	narrowedType string
	// planType is the type watches and clinical were planned for
	// (planFacts), when planned: valid for the Access of one check only.
	planType []byte
	planned  bool
}

var workPool = sync.Pool{New: func() any { return new(work) }}

// retainLimit keeps a pooled work from pinning the buffers of one huge body.
const retainLimit = 1 << 20

func getWork(a *Access, body []byte, maxDepth int) *work {
	w := workPool.Get().(*work)
	w.reset(a, body, maxDepth)
	return w
}

// reset readies a pooled walk for a check of body under a: nothing of the
// previous check (its edits, its plan of facts) is left.
func (w *work) reset(a *Access, body []byte, maxDepth int) {
	w.a = a
	w.s.reset(body, maxDepth)
	w.s.acc = a
	w.codings = w.codings[:0]
	w.entries = w.entries[:0]
	w.members = w.members[:0]
	w.links = w.links[:0]
	w.edits = w.edits[:0]
	w.repl = w.repl[:0]
	w.issues = w.issues[:0]
	w.forbidden = false
	w.narrowedType = ""
	w.planned = false
}

func putWork(w *work) {
	w.a = nil
	w.s.data = nil
	w.s.acc = nil
	if cap(w.repl) > retainLimit || cap(w.arena) > retainLimit || cap(w.s.buf) > retainLimit || cap(w.s.keys.arena) > retainLimit ||
		cap(w.s.keys.recs) > retainLimit/16 || cap(w.entries) > retainLimit/32 || cap(w.edits) > retainLimit/32 {
		return
	}
	workPool.Put(w)
}
