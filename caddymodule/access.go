package caddymodule

import (
	"errors"
	"strings"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/policy"
)

// accessFor turns the policy's response obligation into the enforcer's
// per-request scope. Buckets arrive as "<canonical system>|<lower-case code>".
// When the policy gives rules (one per scope, with its constraints), they
// decide and types is only their summary: granting types as well would let
// out, without the constraints, what the rules hold back.
func (p *PEP) accessFor(resp policy.Response, ids []string) (*enforce.Access, error) {
	return p.accesses.get(resp, ids, func() (*enforce.Access, error) { return p.buildAccess(resp, ids) })
}

// buildAccess is accessFor without the memo.
func (p *PEP) buildAccess(resp policy.Response, ids []string) (*enforce.Access, error) {
	if len(resp.Rules) > 0 || len(resp.Depths) > 0 {
		return p.ruleAccess(resp, ids)
	}
	grants := make(map[string][]enforce.Bucket, len(resp.Types))
	for typ, buckets := range resp.Types {
		list := make([]enforce.Bucket, 0, len(buckets))
		for _, b := range buckets {
			bk, err := obligationBucket(b)
			if err != nil {
				return nil, err
			}
			list = append(list, bk)
		}
		grants[typ] = list
	}
	return p.enforcer.Access(enforce.Scope{PatientIDs: ids, Grants: grants})
}

// ruleAccess builds the enforcer's scope from the policy's rules and
// depths (see accessFor).
func (p *PEP) ruleAccess(resp policy.Response, ids []string) (*enforce.Access, error) {
	sc := enforce.Scope{PatientIDs: ids}
	rules := resp.Rules
	if len(rules) == 0 {
		// Depths without rules (a custom policy): each type grant is a
		// rule without constraints.
		for typ, buckets := range resp.Types {
			rules = append(rules, policy.ResponseRule{Type: typ, Buckets: buckets})
		}
	}
	for _, r := range rules {
		er := enforce.Rule{Type: r.Type, Narrowed: r.Narrowed}
		for _, b := range r.Buckets {
			bk, err := obligationBucket(b)
			if err != nil {
				return nil, err
			}
			er.Buckets = append(er.Buckets, bk)
		}
		for _, c := range r.Constraints {
			er.Constraints = append(er.Constraints, enforce.Constraint{Name: c.Name, Value: c.Value})
		}
		sc.Rules = append(sc.Rules, er)
	}
	for key, since := range resp.Depths {
		bk, err := obligationBucket(key)
		if err != nil {
			return nil, err
		}
		sc.Depths = append(sc.Depths, enforce.Depth{Bucket: bk, Since: since})
	}
	return p.enforcer.Access(sc)
}

// obligationBucket reads "<canonical system>|<lower-case code>".
func obligationBucket(b string) (enforce.Bucket, error) {
	if b == "*" {
		// "any bucket" (require_bucket off) has no response-side meaning
		// yet: refuse rather than guess.
		return enforce.Bucket{}, errors.New("wildcard bucket grants are not supported by response enforcement")
	}
	system, code, ok := strings.Cut(b, "|")
	if !ok || system == "" || code == "" {
		return enforce.Bucket{}, errors.New("malformed bucket in policy obligations")
	}
	return enforce.Bucket{System: system, Code: code}, nil
}
