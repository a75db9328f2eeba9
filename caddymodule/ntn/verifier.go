package ntn

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hdp-il/fhir-pep/internal/caddyblock"
	"github.com/hdp-il/fhir-pep/internal/thumbprint"
	"github.com/hdp-il/fhir-pep/trust"
)

func init() {
	caddy.RegisterModule(Verifier{})
}

// Verifier is the TLS client certificate verifier
// tls.client_auth.verifier.ntn: a handshake succeeds only when the client
// certificate belongs to an active member of the current, fresh NTN
// manifest held by the ntn app. Use it with "mode require": crypto/tls
// then checks nothing itself, and this verifier alone decides; it never
// consults system roots, only the manifest (pinned certificates and each
// member's own CAs). Caddy calls it for resumed sessions too.
type Verifier struct {
	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Verifier) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.client_auth.verifier.ntn",
		New: func() caddy.Module { return new(Verifier) },
	}
}

// Provision connects the verifier to the ntn app, which must be configured.
func (v *Verifier) Provision(ctx caddy.Context) error {
	v.logger = ctx.Logger()
	appVal, err := ctx.AppIfConfigured("ntn")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return fmt.Errorf("tls.client_auth.verifier.ntn needs the ntn app (the ntn global option): %w", err)
	}
	if err != nil {
		// The app is configured but failed (a missing trust_anchor file,
		// say): its own error says which option to fix.
		return err
	}
	app, ok := appVal.(*App)
	if !ok {
		return fmt.Errorf("tls.client_auth.verifier.ntn: ntn app has unexpected type %T", appVal)
	}
	v.app = app
	return nil
}

// VerifyClientCertificate implements caddytls.ClientCertificateVerifier.
// rawCerts is the chain the client sent (leaf first); verifiedChains is
// ignored, because with "mode require" there are none, and trust comes
// from the manifest only.
func (v *Verifier) VerifyClientCertificate(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if v.app == nil {
		return errors.New("ntn: verifier not provisioned")
	}
	member, err := v.app.verifyHandshake(rawCerts)
	if err == nil {
		return nil
	}
	reason := trust.ReasonOf(err)
	if reason == "" {
		reason = otherReason
	}
	// An operator asked why a client cannot connect must find the answer
	// at the default level. The record names the reason, the member (when
	// the certificate is a member's) and the certificate's thumbprint, the
	// value NTN and the member can look up; never the certificate itself.
	// Certificates of organizations carry no patient data.
	if ce := v.logger.Check(zapcore.InfoLevel, "NTN client certificate refused"); ce != nil {
		fields := []zap.Field{zap.String("reason", string(reason)), zap.String("member_id", member), zap.Error(err)}
		if len(rawCerts) > 0 {
			fields = append(fields, zap.String("thumbprint", thumbprint.Of(rawCerts[0])))
		}
		ce.Write(fields...)
	}
	// crypto/tls turns this into a bad_certificate alert; the text reaches
	// only the server log, and holds nothing but the reason.
	return fmt.Errorf("ntn: client certificate rejected: %s", reason)
}

// UnmarshalCaddyfile sets up the verifier. It takes no arguments and no
// block. Syntax (inside tls { client_auth { ... } }):
//
//	client_auth {
//		mode     require
//		verifier ntn
//	}
func (v *Verifier) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	// No subdirectives: the same parser as every other block still gives
	// a stray one a positioned error.
	_, err := caddyblock.Parse(d, "verifier ntn", caddyblock.Handlers{})
	return err
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*Verifier)(nil)
	_ caddytls.ClientCertificateVerifier = (*Verifier)(nil)
	_ caddyfile.Unmarshaler              = (*Verifier)(nil)
)
