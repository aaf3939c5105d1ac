package at

import (
	"strings"

	"nrfline/station"
)

// fragment is the shortest piece of a secret that is treated as a leak: a
// line that holds any fragment-long piece of the secret (the shell may wrap
// its echo in the middle of the key) is withheld entirely.
const fragment = 8

// redactor keeps a secret out of everything observed and every error.
// The zero value redacts nothing.
type redactor struct {
	secret string
	mark   string
}

func newRedactor(secret string) redactor {
	if secret == "" {
		return redactor{}
	}
	return redactor{secret: secret, mark: "<redacted sha256:" + station.HexDigest(secret) + ">"}
}

// text replaces the secret in s by its mark.
func (r redactor) text(s string) string {
	if r.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, r.secret, r.mark)
}

// line is text for a device line: a line that still holds a piece of the
// secret besides whole occurrences is withheld.
func (r redactor) line(s string) string {
	if r.secret == "" {
		return s
	}
	rest := strings.ReplaceAll(s, r.secret, "\x00")
	n := min(fragment, len(r.secret))
	for i := 0; i+n <= len(r.secret); i++ {
		if strings.Contains(rest, r.secret[i:i+n]) {
			return "<line withheld: it holds part of a secret " + r.mark + ">"
		}
	}
	return r.text(s)
}
