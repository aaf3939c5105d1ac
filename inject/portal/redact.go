package portal

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"nrfline/station"
)

// mask replaces every secret in text that leaves the package.
const mask = "[REDACTED]"

// minSecret is the shortest text treated as a secret: shorter ones would
// mangle ordinary text and protect nothing.
const minSecret = 4

// redactor removes secrets (keys in every encoding a portal might echo,
// tokens, Basic credentials) from text bound for errors and logs.
type redactor struct{ re *regexp.Regexp }

// newRedactor builds a redactor for the texts (tokens, credentials) and
// the keys, each in hex (either case), base64 (std/URL, padded or not, and
// URL-escaped), a JSON int array, and raw.
func newRedactor(texts []string, keys ...station.PSK) redactor {
	type secret struct {
		s    string
		fold bool // case-insensitive (hex)
	}
	var all []secret
	add := func(s string, fold bool) {
		if len(s) >= minSecret {
			all = append(all, secret{s, fold})
		}
	}
	addEscaped := func(s string) {
		for _, e := range []string{s, url.QueryEscape(s), escapeSegment(s)} {
			add(e, false)
			add(lowerEscapes(e), false)
		}
	}
	for _, k := range keys {
		b := k.Bytes()
		add(hex.EncodeToString(b), true)
		add(intArray(b), false)
		add(strings.ReplaceAll(intArray(b), ",", ", "), false)
		if utf8.Valid(b) {
			add(string(b), false)
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			addEscaped(enc.EncodeToString(b))
		}
		clear(b)
	}
	for _, t := range texts {
		addEscaped(t)
	}
	if len(all) == 0 {
		return redactor{}
	}
	// Longest first: a padded form wins over its unpadded prefix.
	slices.SortStableFunc(all, func(a, b secret) int { return len(b.s) - len(a.s) })
	alts := make([]string, 0, len(all))
	for _, sc := range all {
		q := regexp.QuoteMeta(sc.s)
		if sc.fold {
			q = "(?i:" + q + ")"
		}
		alts = append(alts, q)
	}
	alts = slices.Compact(alts)
	return redactor{re: regexp.MustCompile(strings.Join(alts, "|"))}
}

// lowerEscapes lowercases the hex digits of %XX escapes ("%2F" → "%2f").
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// text returns s with every secret masked.
func (r redactor) text(s string) string {
	if r.re == nil {
		return s
	}
	return r.re.ReplaceAllLiteralString(s, mask)
}

// url masks a URL's password and any secret in it.
func (r redactor) url(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		raw = u.Redacted()
	}
	return r.text(raw)
}

// err returns err with its text redacted; the original stays reachable
// with errors.As / errors.Is. A *url.Error keeps its type with the URL
// masked.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue == err {
		err = &url.Error{Op: ue.Op, URL: r.url(ue.URL), Err: ue.Err}
	}
	msg := r.text(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError shows a masked message and unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// intArray writes b as a JSON array of unsigned ints, Leshan's byte form.
func intArray(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(int(c)))
	}
	sb.WriteByte(']')
	return sb.String()
}

// escapeSegment percent-encodes everything but RFC 3986 unreserved
// characters, like JavaScript's encodeURIComponent but stricter: an
// endpoint "urn:imei:1" becomes "urn%3Aimei%3A1" (url.PathEscape keeps ':').
func escapeSegment(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&15])
	}
	return sb.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// excerpt is a reply body made fit for an error: secrets masked first (so
// trimming cannot leave half a key), then one line, at most maxExcerpt runes.
func excerpt(r redactor, body []byte) string {
	s := r.text(string(body))
	s = strings.Join(strings.Fields(s), " ")
	const maxExcerpt = 200
	if utf8.RuneCountInString(s) > maxExcerpt {
		s = string([]rune(s)[:maxExcerpt]) + "…"
	}
	return s
}
