package caddymodule

import (
	"encoding/json"
	"net/http"
	"strings"
)

// smartConfigPath is the SMART App Launch 2.0 discovery document, relative
// to the FHIR base URL.
const smartConfigPath = "/.well-known/smart-configuration"

// smartConfiguration is the discovery document. It is built from
// configuration only and says how a member obtains a token for this data
// source, so it is served without one (the client certificate is still
// required by the TLS layer). Fields:
//   - issuer: PCM's issuer (pcm issuer), the iss of the tokens accepted here;
//   - token_endpoint: PCM's token endpoint (pcm token_endpoint): tokens are
//     PCM's, never this server's;
//   - grant_types_supported, token_endpoint_auth_methods_supported: PCM's
//     client_credentials with a private_key_jwt client assertion signed with
//     the key of the member's NTN certificate (DESIGN.md section 4);
//   - capabilities: permission-v2 and permission-v1 (both scope syntaxes
//     are parsed), permission-patient (patient/ scopes only: user/ and
//     system/ scopes are not honoured), client-confidential-asymmetric;
//   - scopes_supported: the SMART v2 patient-level read and search form;
//     bucket constraints go in the _security query of a scope.
//
// No authorization or introspection endpoint is listed: there is no
// interactive launch here, and introspection is for data sources, not
// clients.
type smartConfiguration struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	Capabilities                      []string `json:"capabilities"`
	ScopesSupported                   []string `json:"scopes_supported"`
}

// discovery answers GET (or HEAD) <base>/.well-known/smart-configuration;
// ok is false for any other request.
func (p *PEP) discovery(r *http.Request) (result, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return result{}, false
	}
	if strings.TrimPrefix(r.URL.EscapedPath(), p.BasePath) != smartConfigPath || r.URL.RawQuery != "" {
		return result{}, false
	}
	doc := smartConfiguration{
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"},
		Capabilities:                      []string{"client-confidential-asymmetric", "permission-patient", "permission-v1", "permission-v2"},
		ScopesSupported:                   []string{"patient/*.rs"},
	}
	if p.PCM != nil {
		doc.Issuer, doc.TokenEndpoint = p.PCM.Issuer, p.PCM.TokenEndpoint
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return p.answer(denyInternal), true
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return result{status: http.StatusOK, body: body, header: h, out: outcome{reason: "smart_configuration"}}, true
}
