package at

import (
	"strings"

	"nrfline/station"
)

// fragment is the shortest piece of a secret that is treated as a leak: a
// line that holds any fragment-long piece of a secret (the shell may wrap
// its echo in the middle of the key) is withheld entirely.
const fragment = 8

// redactor keeps secrets out of everything observed and every error.
// The zero value redacts nothing.
type redactor struct {
	secrets []secret
}

type secret struct {
	text string
	mark string // "<redacted sha256:…>"
}

// with returns a redactor that also hides s. The receiver is not changed,
// so a redactor handed out earlier stays valid.
func (r redactor) with(s string) redactor {
	if s == "" {
		return r
	}
	for _, k := range r.secrets {
		if k.text == s {
			return r
		}
	}
	out := make([]secret, len(r.secrets), len(r.secrets)+1)
	copy(out, r.secrets)
	out = append(out, secret{text: s, mark: "<redacted sha256:" + station.HexDigest(s) + ">"})
	return redactor{secrets: out}
}

// text replaces every secret in s by its mark.
func (r redactor) text(s string) string {
	for _, k := range r.secrets {
		s = strings.ReplaceAll(s, k.text, k.mark)
	}
	return s
}

// line is text for a device line: a line that still holds a piece of a
// secret besides whole occurrences is withheld.
func (r redactor) line(s string) string {
	for _, k := range r.secrets {
		if k.holdsPiece(s) {
			return "<line withheld: it holds part of a secret " + k.mark + ">"
		}
	}
	return r.text(s)
}

func (k secret) holdsPiece(s string) bool {
	rest := strings.ReplaceAll(s, k.text, "\x00")
	n := min(fragment, len(k.text))
	for i := 0; i+n <= len(k.text); i++ {
		if strings.Contains(rest, k.text[i:i+n]) {
			return true
		}
	}
	return false
}
