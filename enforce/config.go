package enforce

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Defaults for Config.
const (
	DefaultMaxBytes = 32 << 20
	DefaultMaxDepth = 64
	// maxDepthCap bounds the recursion of the scanner whatever is configured.
	maxDepthCap = 10000
)

// HDP bucket code systems: the IG's and the seed documents' spelling of the same system.
const (
	HDPBucketSystem       = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	HDPBucketSystemLegacy = "http://fhir.health.gov.il/cs/hdp-information-buckets"
)

// DefaultSystemAliases returns the alias groups used when Config.SystemAliases is nil.
func DefaultSystemAliases() [][]string {
	return [][]string{{HDPBucketSystem, HDPBucketSystemLegacy}}
}

// Config is the static part of the enforcement rules: the same for every
// request of a handler. It is compiled once by New.
type Config struct {
	// Compartment maps a resource type to the element paths that hold its
	// patient-compartment references, e.g. "Encounter": {{"subject"},
	// {"participant","individual"}}. Arrays along a path are traversed.
	// Types absent, or present with no paths, are outside the compartment.
	// The entry for "Patient" is ignored: a Patient is the patient's only by id.
	Compartment map[string][][]string
	// SystemAliases lists groups of code systems that mean the same bucket
	// system. nil means DefaultSystemAliases(); an empty non-nil slice means none.
	SystemAliases [][]string
	// MaxBytes is the largest body accepted (default DefaultMaxBytes).
	MaxBytes int
	// MaxDepth is the deepest nesting of arrays and objects accepted, the
	// outermost value counting 1 (default DefaultMaxDepth).
	MaxDepth int
	// UpstreamBase is the FHIR base URL of the upstream server, e.g.
	// "http://hapi.internal:8080/fhir". Required.
	UpstreamBase string
	// PublicBase is the FHIR base URL clients use, e.g.
	// "https://fhir.hmo-b.example/R4". Required.
	PublicBase string
	// ForbiddenLabels are security labels no resource of an answer may
	// carry (ErrForbiddenLabel). VLabel is always among them.
	ForbiddenLabels []Label
}

// Enforcer holds compiled static rules. It is immutable and safe for
// concurrent use; bind it to a request's patient and grants with Access.
type Enforcer struct {
	compartment map[string]*pathNode
	systems     map[string]int // bucket system URI -> alias group
	nSystems    int
	maxBytes    int
	maxDepth    int
	upstream    base
	public      base
	forbidden   []Label
}

// base is a validated FHIR base URL without a trailing slash.
type base struct {
	url  string // scheme://host[:port][/path]
	path string // [/path]
	json string // url as the content of a JSON string, escaped once here rather than per entry
}

// pathNode is one step of the compartment paths of a type. The root stands
// for the resource itself; terminal marks a Reference element.
type pathNode struct {
	name     string
	terminal bool
	children []*pathNode
	// lens has bit len%64 set for the length of each child's name: the
	// walkers ask for the child of every key of a resource, and most keys
	// are no child, which their length alone mostly shows.
	lens uint64
}

func (n *pathNode) child(key []byte) *pathNode {
	if n == nil || n.lens&(1<<(len(key)&63)) == 0 {
		return nil
	}
	for _, c := range n.children {
		if keyIs(key, c.name) {
			return c
		}
	}
	return nil
}

// New validates cfg and compiles it.
func New(cfg Config) (*Enforcer, error) {
	e := &Enforcer{
		compartment: make(map[string]*pathNode, len(cfg.Compartment)),
		systems:     make(map[string]int),
		maxBytes:    cfg.MaxBytes,
		maxDepth:    cfg.MaxDepth,
	}
	if e.maxBytes == 0 {
		e.maxBytes = DefaultMaxBytes
	}
	if e.maxDepth == 0 {
		e.maxDepth = DefaultMaxDepth
	}
	if e.maxBytes < 0 || e.maxDepth < 0 || e.maxDepth > maxDepthCap {
		return nil, errors.New("enforce: MaxBytes and MaxDepth must be positive (MaxDepth at most 10000)")
	}
	var err error
	if e.upstream, err = parseBase(cfg.UpstreamBase); err != nil {
		return nil, fmt.Errorf("enforce: UpstreamBase: %w", err)
	}
	if e.public, err = parseBase(cfg.PublicBase); err != nil {
		return nil, fmt.Errorf("enforce: PublicBase: %w", err)
	}
	if e.forbidden, err = forbiddenLabels(cfg.ForbiddenLabels); err != nil {
		return nil, err
	}
	aliases := cfg.SystemAliases
	if aliases == nil {
		aliases = DefaultSystemAliases()
	}
	for _, group := range aliases {
		id := e.nSystems
		e.nSystems++
		for _, sys := range group {
			if sys == "" || !utf8.ValidString(sys) {
				return nil, errors.New("enforce: empty or invalid system in SystemAliases")
			}
			if _, dup := e.systems[sys]; dup {
				return nil, fmt.Errorf("enforce: system %q is in two alias groups", sys)
			}
			e.systems[sys] = id
		}
	}
	for typ, paths := range cfg.Compartment {
		if !validTypeName(typ) {
			return nil, fmt.Errorf("enforce: invalid resource type %q in Compartment", typ)
		}
		if typ == "Patient" || len(paths) == 0 {
			continue
		}
		root := &pathNode{}
		for _, p := range paths {
			if err := root.add(p); err != nil {
				return nil, fmt.Errorf("enforce: Compartment[%q]: %w", typ, err)
			}
		}
		e.compartment[typ] = root
	}
	return e, nil
}

// reservedHeads are resource members the checker reads for their own sake.
var reservedHeads = []string{"resourceType", "id", "meta", "contained"}

func (n *pathNode) add(path []string) error {
	if len(path) == 0 {
		return errors.New("empty path")
	}
	for _, r := range reservedHeads {
		if strings.EqualFold(path[0], r) {
			return fmt.Errorf("path may not start with %q", path[0])
		}
	}
	cur := n
	for _, seg := range path {
		if !validElementName(seg) {
			return fmt.Errorf("invalid element name %q", seg)
		}
		next := cur.child([]byte(seg))
		if next == nil {
			next = &pathNode{name: seg}
			cur.children = append(cur.children, next)
			cur.lens |= 1 << (len(seg) & 63)
		}
		cur = next
	}
	cur.terminal = true
	return nil
}

func parseBase(raw string) (base, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return base{}, errors.New("must be an absolute http(s) URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" || !utf8.ValidString(raw) {
		return base{}, errors.New("must be an absolute http(s) URL without user info, query or fragment")
	}
	trimmed := strings.TrimRight(raw, "/")
	return base{url: trimmed, path: trimmed[len(u.Scheme)+3+len(u.Host):], json: string(appendJSONStringBody(nil, trimmed))}, nil
}

// underBase reports whether u is the base itself or lies under it, and
// returns what follows the base ("", or starting with '/', '?' or '#').
// A bare prefix is not enough: ".../fhir" does not cover ".../fhirx".
func underBase(u []byte, b string) ([]byte, bool) {
	if len(u) < len(b) || string(u[:len(b)]) != b {
		return nil, false
	}
	rest := u[len(b):]
	if len(rest) > 0 && rest[0] != '/' && rest[0] != '?' && rest[0] != '#' {
		return nil, false
	}
	return rest, true
}

// validTypeName: FHIR resource type names are [A-Z][A-Za-z]*.
func validTypeName(t string) bool {
	if len(t) == 0 || len(t) > 64 || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

func validElementName(n string) bool {
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || ((c < '0' || c > '9') && c != '_')) {
			return false
		}
	}
	return true
}
