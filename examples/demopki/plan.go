package demopki

// certKind selects the extensions of a generated certificate.
type certKind int

const (
	kindCA     certKind = iota // issues other certificates
	kindSigner                 // signs documents (the NTN manifest); no EKU, so any verifier accepts it
	kindServer                 // TLS server
	kindClient                 // TLS client (NTN member)
)

// certSpec describes one certificate of the demo PKI. path is relative to the
// state directory and has no extension: path+".crt" and path+".key".
type certSpec struct {
	path         string
	issuer       string // path of the issuing spec; empty means self-signed
	commonName   string
	organization string
	kind         certKind
	hosts        []string
	expired      bool
}

// memberPlan is one demo organization and its client certificates.
type memberPlan struct {
	id, name, role string
	// ownCA: the member runs a CA listed in the manifest (use "ca");
	// otherwise its certificates are self-signed and pinned (use "tls").
	ownCA bool
	// listed: the member appears in the NTN manifest.
	listed  bool
	clients []clientPlan
}

// clientPlan is one client certificate: its name in pki.json and its file.
type clientPlan struct {
	name, file string
	expired    bool
}

// serverHosts are the subject alternative names of every demo server: all
// services run on the loopback interface.
var serverHosts = []string{"localhost", "127.0.0.1", "::1"}

// Server names in TLSFiles.Servers.
const (
	ServerPEP = "pep"
	ServerPCM = "pcm"
	ServerNTN = "ntn"
)

var demoServers = []string{ServerPEP, ServerPCM, ServerNTN}

// demoMembers is the cast of the demo. The data source runs its own CA; the
// hospital too (plus a deliberately expired certificate); the clinic pins a
// self-signed certificate; the unknown organization is not in the manifest.
var demoMembers = []memberPlan{
	{
		id: "org-ds-hmo-b", name: "HMO B - Clinical Data Source", role: "data-source",
		ownCA: true, listed: true,
		clients: []clientPlan{{name: "hmo-b", file: "client"}},
	},
	{
		id: "org-sp-hospital-a", name: "Hospital A", role: "service-provider",
		ownCA: true, listed: true,
		clients: []clientPlan{
			{name: "hospital-a", file: "client"},
			{name: "hospital-a-expired", file: "client-expired", expired: true},
		},
	},
	{
		id: "org-sp-clinic-c", name: "Clinic C", role: "service-provider",
		listed:  true,
		clients: []clientPlan{{name: "clinic-c", file: "client"}},
	},
	{
		id: "org-sp-unknown", name: "Unknown Organization", role: "service-provider",
		clients: []clientPlan{{name: "unknown", file: "client"}},
	},
}

const (
	pathTrustAnchor = "ntn/trust-anchor"
	pathDownload    = "ntn/download"
	pathTLSCA       = "tls/ca"
)

func memberCAPath(m memberPlan) string { return "members/" + m.id + "/ca" }

func clientPath(m memberPlan, c clientPlan) string { return "members/" + m.id + "/" + c.file }

// demoSpecs lists every certificate, issuers before what they issue.
func demoSpecs() []certSpec {
	specs := []certSpec{
		{path: pathTrustAnchor, commonName: "NTN Demo Trust Anchor", organization: "National Trusted Network (demo)", kind: kindCA},
		{path: pathDownload, issuer: pathTrustAnchor, commonName: "NTN Manifest Download (demo)", organization: "National Trusted Network (demo)", kind: kindSigner},
		{path: pathTLSCA, commonName: "fhir-pep Demo TLS CA", organization: "fhir-pep demo", kind: kindCA},
	}
	for _, name := range demoServers {
		specs = append(specs, certSpec{
			path: "tls/" + name, issuer: pathTLSCA, commonName: name + ".localhost",
			organization: "fhir-pep demo", kind: kindServer, hosts: append([]string{name + ".localhost"}, serverHosts...),
		})
	}
	for _, m := range demoMembers {
		issuer := ""
		if m.ownCA {
			issuer = memberCAPath(m)
			specs = append(specs, certSpec{path: issuer, commonName: m.name + " Member CA", organization: m.name, kind: kindCA})
		}
		for _, c := range m.clients {
			specs = append(specs, certSpec{
				path: clientPath(m, c), issuer: issuer, commonName: m.id, organization: m.name,
				kind: kindClient, expired: c.expired,
			})
		}
	}
	return specs
}
