package paging

import (
	"bytes"
	"encoding/json"

	"github.com/hdp-il/fhir-pep/fhir"
)

// SelfOnlyLinkArray rewrites the raw JSON of Bundle.link (an array) to the
// array of one self link, or nil when self is empty (the member is then
// removed): every upstream link goes, paging links included, unsealed. It
// is for Bundles whose paging links cannot be bound to a decision a page
// request could make again: the searchsets inside a batch-response,
// decided as entries of the batch. The response check calls it on the
// member it finds (enforce.FilterOptions.Links), as it calls
// RewriteLinkArray on a searchset's own links. raw that is not a JSON
// array is fhir.ErrInvalidBody.
func SelfOnlyLinkArray(raw []byte, self string) ([]byte, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("null")) {
		return nil, fhir.ErrInvalidBody
	}
	if self == "" {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode([]Link{{Relation: "self", URL: self}}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
