package fhir

import (
	"net/http"
	"strings"
)

// Interaction names the FHIR RESTful interaction a request performs
// (https://hl7.org/fhir/R4/http.html), using the R4 code names.
type Interaction string

// The interactions ParseRequest recognises.
const (
	InteractionRead              Interaction = "read"
	InteractionVRead             Interaction = "vread"
	InteractionUpdate            Interaction = "update"
	InteractionPatch             Interaction = "patch"
	InteractionDelete            Interaction = "delete"
	InteractionHistoryInstance   Interaction = "history-instance"
	InteractionHistoryType       Interaction = "history-type"
	InteractionHistorySystem     Interaction = "history-system"
	InteractionCreate            Interaction = "create"
	InteractionSearchType        Interaction = "search-type"
	InteractionSearchSystem      Interaction = "search-system"
	InteractionSearchCompartment Interaction = "search-compartment"
	InteractionCapabilities      Interaction = "capabilities"
	InteractionBatch             Interaction = "batch"
	InteractionTransaction       Interaction = "transaction"
	InteractionOperation         Interaction = "operation"
)

// OperationLevel is where an extended operation is invoked.
type OperationLevel string

// Operation levels: [base]/$op, [base]/Type/$op, [base]/Type/id/$op.
const (
	OperationSystem   OperationLevel = "system"
	OperationType     OperationLevel = "type"
	OperationInstance OperationLevel = "instance"
)

// Compartment is the compartment of a compartment search such as
// Patient/123/Observation.
type Compartment struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Operation is an extended operation call such as Patient/123/$everything.
type Operation struct {
	// Name includes the leading "$".
	Name  string         `json:"name"`
	Level OperationLevel `json:"level"`
}

// Request is the parsed, validated model of one FHIR request.
type Request struct {
	// Method is the HTTP method: GET, POST, PUT, PATCH or DELETE.
	Method      string      `json:"method"`
	Interaction Interaction `json:"interaction"`
	// ResourceType is the type the request acts on: empty at system level,
	// the target type of a compartment search, "*" for Patient/x/*.
	ResourceType string `json:"resource_type,omitempty"`
	// ID is the logical id for instance-level interactions.
	ID string `json:"id,omitempty"`
	// VersionID is set for vread only.
	VersionID   string       `json:"version_id,omitempty"`
	Compartment *Compartment `json:"compartment"`
	Operation   *Operation   `json:"operation"`
	// Params are the query parameters in order, followed by the form body
	// parameters of a POST _search.
	Params []Param `json:"params"`
	// Conditional marks conditional create/update/patch/delete: a type-level
	// PUT, PATCH or DELETE (whose Params are the match criteria) or a create
	// carrying If-None-Exist (whose criteria this model does not parse).
	Conditional bool `json:"conditional,omitempty"`
	// WantsXML is set when XML is asked for or sent: a _format value, an
	// Accept media range, or the Content-Type of a resource body naming XML.
	WantsXML bool `json:"wants_xml,omitempty"`
	// WantsNonJSON is set when any of those names something other than JSON
	// (XML included, also HTML, Turtle, ...). "*/*" counts as JSON.
	WantsNonJSON bool `json:"wants_non_json,omitempty"`
}

// ParseRequest validates and models one FHIR request.
//
// path is the escaped request path (http.Request.URL.EscapedPath()) with the
// configured base path already removed: "" or "/" is the base, otherwise it
// starts with "/". rawQuery is http.Request.URL.RawQuery. body is the full
// request body (may be nil). header may be nil.
//
// Every input that is not in canonical form, or that names no modelled
// interaction, is rejected with one of the package's *Error values; see the
// package documentation for the rules.
func ParseRequest(method, path, rawQuery string, header http.Header, body []byte) (*Request, error) {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, ErrUnsupportedRequest
	}
	segs, n, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	r := &Request{Method: method}
	formSearch, err := r.route(segs[:n])
	if err != nil {
		return nil, err
	}
	if r.Params, err = ParseQuery(rawQuery); err != nil {
		return nil, err
	}

	contentType := mediaType(headerValue(header, "Content-Type"))
	resourceBody := false
	switch {
	case formSearch:
		if len(body) > 0 {
			if contentType != "application/x-www-form-urlencoded" {
				return nil, ErrUnsupportedMediaType
			}
			bodyParams, err := ParseQuery(string(body))
			if err != nil {
				return nil, err
			}
			if len(r.Params)+len(bodyParams) > MaxParams {
				return nil, ErrInvalidQuery
			}
			r.Params = append(r.Params, bodyParams...)
		}
	case method == http.MethodGet || method == http.MethodDelete:
		// A body on GET or DELETE has no FHIR meaning; some servers would
		// still read it (as form parameters), so refuse it.
		if len(body) > 0 {
			return nil, ErrInvalidBody
		}
	case r.Interaction == InteractionBatch:
		switch contentType {
		case "application/fhir+json", "application/json", "application/json+fhir":
		default:
			return nil, ErrUnsupportedMediaType
		}
		typ, err := bundleType(body)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "batch":
		case "transaction":
			r.Interaction = InteractionTransaction
		default:
			return nil, ErrInvalidBody
		}
		resourceBody = true
	default:
		resourceBody = len(body) > 0
	}

	switch {
	case r.Conditional && len(r.Params) == 0:
		// Conditional update/patch/delete without criteria is not FHIR and
		// some servers would apply it to every resource of the type.
		return nil, ErrUnsupportedRequest
	case r.Interaction == InteractionCreate && headerValue(header, "If-None-Exist") != "":
		r.Conditional = true
	}
	r.flagFormats(header, contentType, resourceBody)
	return r, nil
}

// route sets the interaction fields from the method and path segments. It
// reports whether the request is a POST _search whose form body carries
// parameters.
func (r *Request) route(segs []string) (formSearch bool, err error) {
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch len(segs) {
	case 0:
		switch {
		case get:
			r.Interaction = InteractionSearchSystem
		case post:
			r.Interaction = InteractionBatch // or transaction, from the body
		default:
			return false, ErrUnsupportedRequest
		}
		return false, nil
	case 1:
		s := segs[0]
		switch {
		case s == "metadata" && get:
			r.Interaction = InteractionCapabilities
		case s == "_history" && get:
			r.Interaction = InteractionHistorySystem
		case s == "_search" && post:
			r.Interaction = InteractionSearchSystem
			return true, nil
		case s == "metadata" || s == "_history" || s == "_search":
			return false, ErrUnsupportedRequest
		case s[0] == '$':
			return false, r.operation(s, OperationSystem)
		default:
			return false, r.typeLevel(s)
		}
		return false, nil
	}

	typ, second := segs[0], segs[1]
	if !IsResourceType(typ) {
		return false, ErrUnknownResourceType
	}
	r.ResourceType = typ
	if len(segs) == 2 {
		switch {
		case second == "_search" && post:
			r.Interaction = InteractionSearchType
			return true, nil
		case second == "_history" && get:
			r.Interaction = InteractionHistoryType
		case second[0] == '$':
			return false, r.operation(second, OperationType)
		case second[0] == '_':
			// _search / _history with the wrong method; ids never start with "_".
			return false, ErrUnsupportedRequest
		default:
			return false, r.instance(second)
		}
		return false, nil
	}

	if !IsID(second) {
		return false, ErrInvalidID
	}
	third := segs[2]
	switch {
	case third == "_history" && get:
		r.ID = second
		if len(segs) == 3 {
			r.Interaction = InteractionHistoryInstance
			return false, nil
		}
		if !IsID(segs[3]) {
			return false, ErrInvalidID
		}
		r.Interaction, r.VersionID = InteractionVRead, segs[3]
		return false, nil
	case third[0] == '$' && len(segs) == 3:
		r.ID = second
		return false, r.operation(third, OperationInstance)
	case IsCompartmentType(typ) && (third == "*" || IsResourceType(third)):
		r.Compartment = &Compartment{Type: typ, ID: second}
		r.ResourceType = third
		r.Interaction = InteractionSearchCompartment
		switch {
		case len(segs) == 3 && get:
			return false, nil
		case len(segs) == 4 && segs[3] == "_search" && post:
			return true, nil
		}
	case third[0] != '_' && third[0] != '$' && third != "*" && IsCompartmentType(typ):
		return false, ErrUnknownResourceType
	}
	return false, ErrUnsupportedRequest
}

// typeLevel handles [base]/Type.
func (r *Request) typeLevel(typ string) error {
	if !IsResourceType(typ) {
		return ErrUnknownResourceType
	}
	r.ResourceType = typ
	switch r.Method {
	case http.MethodGet:
		r.Interaction = InteractionSearchType
	case http.MethodPost:
		r.Interaction = InteractionCreate
	case http.MethodPut:
		r.Interaction, r.Conditional = InteractionUpdate, true
	case http.MethodPatch:
		r.Interaction, r.Conditional = InteractionPatch, true
	case http.MethodDelete:
		r.Interaction, r.Conditional = InteractionDelete, true
	}
	return nil
}

// instance handles [base]/Type/id.
func (r *Request) instance(id string) error {
	if !IsID(id) {
		return ErrInvalidID
	}
	r.ID = id
	switch r.Method {
	case http.MethodGet:
		r.Interaction = InteractionRead
	case http.MethodPut:
		r.Interaction = InteractionUpdate
	case http.MethodPatch:
		r.Interaction = InteractionPatch
	case http.MethodDelete:
		r.Interaction = InteractionDelete
	default:
		return ErrUnsupportedRequest
	}
	return nil
}

// operation handles $op segments; operations may be invoked with GET or POST.
func (r *Request) operation(seg string, level OperationLevel) error {
	if !isOperation(seg) {
		return ErrInvalidOperation
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return ErrUnsupportedRequest
	}
	r.Interaction = InteractionOperation
	r.Operation = &Operation{Name: seg, Level: level}
	return nil
}

// flagFormats sets WantsXML and WantsNonJSON from _format, Accept and the
// Content-Type of a resource body.
func (r *Request) flagFormats(header http.Header, contentType string, resourceBody bool) {
	note := func(mt string) {
		if strings.Contains(mt, "xml") {
			r.WantsXML = true
		}
		if !isJSONMedia(mt) {
			r.WantsNonJSON = true
		}
	}
	for _, p := range r.Params {
		if p.Name == "_format" {
			for _, v := range p.Values {
				note(mediaType(v))
			}
		}
	}
	for _, accept := range header.Values("Accept") {
		for _, part := range strings.Split(accept, ",") {
			note(mediaType(part))
		}
	}
	if resourceBody {
		note(contentType)
	}
}

// isJSONMedia reports whether mt (lower case, no parameters) is a JSON media
// type, a _format shorthand for it, a wildcard or empty.
func isJSONMedia(mt string) bool {
	switch mt {
	case "", "*/*", "application/*", "json":
		return true
	}
	return strings.HasPrefix(mt, "application/") && strings.Contains(mt, "json")
}

// mediaType returns the lower-cased media type of a header value without its
// parameters ("Application/FHIR+JSON; charset=utf-8" -> "application/fhir+json").
func mediaType(v string) string {
	if semi := strings.IndexByte(v, ';'); semi >= 0 {
		v = v[:semi]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func headerValue(h http.Header, key string) string {
	if h == nil {
		return ""
	}
	return h.Get(key)
}

// ParamsMap returns the parameters keyed by Key (name with modifier and
// chain), each with its raw values in request order. It is the "params"
// object of the policy input.
func (r *Request) ParamsMap() map[string][]string {
	m := make(map[string][]string, len(r.Params))
	for _, p := range r.Params {
		m[p.Key] = append(m[p.Key], p.Raw)
	}
	return m
}

// AddParam appends one parameter, given as a decoded key and a raw FHIR search
// value (commas separate alternatives, "\" escapes as in a query). It
// validates both exactly as ParseQuery would. The narrowing step uses it to
// inject the patient and scope constraints before CanonicalQuery.
func (r *Request) AddParam(key, raw string) error {
	if !cleanText(key) || !cleanText(raw) || hasEscape(key) || hasEscape(raw) {
		return ErrInvalidQuery
	}
	if len(r.Params) >= MaxParams {
		return ErrInvalidQuery
	}
	p, err := newParam(key, raw)
	if err != nil {
		return err
	}
	r.Params = append(r.Params, p)
	return nil
}

// CanonicalQuery re-encodes Params (see EncodeQuery). A POST _search's body
// parameters are included, so the result can be sent upstream as the query
// of a GET search or as a form body.
func (r *Request) CanonicalQuery() string {
	return EncodeQuery(r.Params)
}

// CanonicalPath renders the request path relative to the FHIR base, the
// inverse of what ParseRequest accepted: "" for the base itself,
// otherwise starting with "/".
func (r *Request) CanonicalPath() string {
	var b strings.Builder
	seg := func(s string) {
		b.WriteByte('/')
		b.WriteString(s)
	}
	switch r.Interaction {
	case InteractionSearchSystem:
		if r.Method == http.MethodPost {
			seg("_search")
		}
	case InteractionBatch, InteractionTransaction:
	case InteractionCapabilities:
		seg("metadata")
	case InteractionHistorySystem:
		seg("_history")
	case InteractionSearchCompartment:
		seg(r.Compartment.Type)
		seg(r.Compartment.ID)
		seg(r.ResourceType)
		if r.Method == http.MethodPost {
			seg("_search")
		}
	default:
		if r.ResourceType != "" {
			seg(r.ResourceType)
		}
		if r.ID != "" {
			seg(r.ID)
		}
		switch r.Interaction {
		case InteractionSearchType:
			if r.Method == http.MethodPost {
				seg("_search")
			}
		case InteractionHistoryType, InteractionHistoryInstance:
			seg("_history")
		case InteractionVRead:
			seg("_history")
			seg(r.VersionID)
		case InteractionOperation:
			seg(r.Operation.Name)
		}
	}
	return b.String()
}
