package auth

// Gates are the content gates of one place of a user's tree (issue 21):
// what its uploads must pass before they are stored, and what its
// downloads become. The zero value is no gate. It is comparable, so a
// reload that changes a gate is a change of reach.
type Gates struct {
	// Scan streams every upload to clamd; an infected file is never stored.
	Scan bool
	// PGP is "" (none), PGPDecrypt (uploads are OpenPGP messages to the
	// gateway's key, stored decrypted) or PGPEncrypt (downloads are
	// encrypted to the user's keys).
	PGP string
	// RequireSignature, with PGPDecrypt: an upload must be signed by one of
	// the user's OpenPGP keys, or it is refused.
	RequireSignature bool
}

// Values of Gates.PGP.
const (
	PGPDecrypt = "decrypt"
	PGPEncrypt = "encrypt"
)

// Any reports whether g holds a gate.
func (g Gates) Any() bool { return g != Gates{} }
