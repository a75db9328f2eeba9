package caddymodule

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hdp-il/fhir-pep/trust"
)

func init() {
	caddy.RegisterModule(NTNVerifier{})
}

// NTNVerifier is the TLS client certificate verifier
// tls.client_auth.verifier.ntn: a handshake succeeds only when the client
// certificate belongs to an active member of the current, fresh NTN
// manifest held by the ntn app. Use it with "mode require": crypto/tls
// then checks nothing itself, and this verifier alone decides; it never
// consults system roots, only the manifest (pinned certificates and each
// member's own CAs). Caddy calls it for resumed sessions too.
type NTNVerifier struct {
	app    *NTNApp
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (NTNVerifier) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.client_auth.verifier.ntn",
		New: func() caddy.Module { return new(NTNVerifier) },
	}
}

// Provision connects the verifier to the ntn app, which must be configured.
func (v *NTNVerifier) Provision(ctx caddy.Context) error {
	v.logger = ctx.Logger()
	appVal, err := ctx.AppIfConfigured("ntn")
	if err != nil {
		return fmt.Errorf("tls.client_auth.verifier.ntn needs the ntn app (the ntn global option): %w", err)
	}
	app, ok := appVal.(*NTNApp)
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
func (v *NTNVerifier) VerifyClientCertificate(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if v.app == nil {
		return errors.New("ntn: verifier not provisioned")
	}
	member, err := v.app.verifyHandshake(rawCerts)
	if err == nil {
		return nil
	}
	reason := trust.ReasonOf(err)
	if ce := v.logger.Check(zapcore.DebugLevel, "NTN client certificate rejected"); ce != nil {
		fields := []zap.Field{zap.String("reason", string(reason)), zap.String("member_id", member), zap.Error(err)}
		if len(rawCerts) > 0 {
			sum := sha256.Sum256(rawCerts[0])
			fields = append(fields, zap.String("thumbprint", base64.RawURLEncoding.EncodeToString(sum[:])))
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
func (v *NTNVerifier) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("unrecognized subdirective %q", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*NTNVerifier)(nil)
	_ caddytls.ClientCertificateVerifier = (*NTNVerifier)(nil)
	_ caddyfile.Unmarshaler              = (*NTNVerifier)(nil)
)
