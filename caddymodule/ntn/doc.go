// Package ntn is the Caddy glue of the National Trusted Network (NTN) member
// manifest, kept in a package of its own as Caddy keeps
// reverseproxy/fastcgi. It registers, in init:
//
//   - the ntn app (App, the "ntn" global option of the Caddyfile), which
//     owns the manifest (trust.Store), refreshes it in the background and
//     shares it across config reloads;
//   - tls.client_auth.verifier.ntn (Verifier), which lets a TLS handshake
//     through only with the certificate of an active member of a fresh
//     manifest, and logs every refusal at INFO;
//   - the caddy_fhir_pep_ntn_* metrics, read from the store when scraped;
//   - the "fhir-pep ntn verify" command, which checks a manifest offline.
//
// The manifest format, verification and staleness rules live in package
// trust, which knows nothing of Caddy. The fhir_pep handler (package
// caddymodule) does not import this package, nor this package it: the
// handler finds the app with ctx.AppIfConfigured("ntn") and uses it through
// interfaces of its own (VerifyPeer, OnRevoke, ClientCertificateFiles,
// Stats), so either side can change without the other. The contract is
// docs/ntn.md.
package ntn
