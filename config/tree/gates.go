package tree

import (
	"fmt"

	"github.com/s3sftpd/s3sftpd/auth"
)

// Have is what the config provides that content gates need.
type Have struct {
	Clamd       bool // [scan] clamd is set
	GatewayKey  bool // [pgp] private_key_file is set
	PartnerKeys bool // the user's pgp_public_keys_file is set
}

// GateProblems checks the content gates of m, a place of user's tree,
// against what the config has, at the keys that set them. A group's folder
// is checked for each of its users; the message then names the user.
func GateProblems(user string, m Mount, have Have) []Problem {
	var ps []Problem
	g, who := m.Gates, ""
	if m.fromGroup() {
		who = fmt.Sprintf(" (user %q)", user)
	}
	if g.Scan && !have.Clamd {
		ps = append(ps, problem(m.Key+".scan", "needs a malware scanner: set [scan] clamd"))
	}
	switch g.PGP {
	case "":
	case auth.PGPDecrypt, auth.PGPEncrypt:
		if !have.GatewayKey {
			ps = append(ps, problem(m.Key+".pgp", "needs the gateway's own key: set [pgp] private_key_file"))
		} else if !have.PartnerKeys && (g.PGP == auth.PGPEncrypt || g.RequireSignature) {
			ps = append(ps, problem(m.Key+".pgp", "%q needs the partner's keys%s: set pgp_public_keys_file on the user", g.PGP, who))
		}
	default:
		ps = append(ps, problem(m.Key+".pgp", `must be "decrypt" or "encrypt", not %q`, g.PGP))
	}
	if g.RequireSignature && g.PGP != auth.PGPDecrypt {
		ps = append(ps, problem(m.Key+".pgp_require_signature", `applies only with pgp = "decrypt"`))
	}
	return ps
}
