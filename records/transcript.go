package records

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// transcript keeps a run's AT traffic, device log, tool output and notes:
// the first headLimit bytes of lines, then the last tailLimit bytes, with a
// marker for what was cut between them. Every line is scrubbed of key
// material on the way in, whatever the producer already did.
type transcript struct {
	mu        sync.Mutex
	headLimit int
	tailLimit int
	head      []string
	headBytes int
	tail      []string
	tailBytes int
	cutLines  int
	cutBytes  int
	inKey     bool // inside a PEM private key block
}

func newTranscript(head, tail int) *transcript {
	return &transcript{headLimit: head, tailLimit: tail}
}

// add appends one event's text (possibly several lines) with its time and tag.
func (t *transcript) add(at time.Time, tag, text string) {
	stamp := at.UTC().Format(timeLayout) // RFC 3339, like the exports
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(text, "\r\n"), "\n") {
		line = t.scrub(strings.TrimRight(line, "\r"))
		if line == "" && t.inKey {
			continue
		}
		t.push(stamp + " " + tag + " " + line)
	}
}

func (t *transcript) push(line string) {
	n := len(line) + 1
	if len(t.tail) == 0 && t.headBytes+n <= t.headLimit {
		t.head = append(t.head, line)
		t.headBytes += n
		return
	}
	t.tail = append(t.tail, line)
	t.tailBytes += n
	for t.tailBytes > t.tailLimit && len(t.tail) > 0 {
		t.cutLines++
		t.cutBytes += len(t.tail[0]) + 1
		t.tailBytes -= len(t.tail[0]) + 1
		t.tail[0] = ""
		t.tail = t.tail[1:]
	}
}

// Key material the modem may see. Writes: AT%CMNG=0,<tag>,<type>,"<content>"
// with type 2 (private key) or 3 (PSK), quoted or not (the Zephyr shell
// drops quotes); reads: %CMNG: <tag>,<type>,"<sha>","<content>".
var (
	cmngWrite = regexp.MustCompile(`(?i)(%CMNG=\s*0\s*,\s*\d+\s*,\s*[23]\s*,\s*)("[^"]*"?|[^\s,"']+)`)
	cmngRead  = regexp.MustCompile(`(?i)(%CMNG:\s*\d+\s*,\s*[23]\s*,\s*"[^"]*"\s*,\s*)("[^"]*"?|\S+)`)
	pemBegin  = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	pemEnd    = regexp.MustCompile(`-----END [A-Z ]*PRIVATE KEY-----`)
)

const redacted = `"<redacted>"`

// scrub removes PSKs and private keys from a line.
func (t *transcript) scrub(line string) string {
	if t.inKey {
		if loc := pemEnd.FindStringIndex(line); loc != nil {
			t.inKey = false
			return "<redacted private key>" + t.scrub(line[loc[1]:])
		}
		return ""
	}
	if loc := pemBegin.FindStringIndex(line); loc != nil {
		rest := line[loc[1]:]
		if end := pemEnd.FindStringIndex(rest); end != nil {
			return line[:loc[0]] + "<redacted private key>" + t.scrub(rest[end[1]:])
		}
		t.inKey = true
		return line[:loc[0]] + "<redacted private key>"
	}
	line = cmngWrite.ReplaceAllString(line, "${1}"+redacted)
	return cmngRead.ReplaceAllString(line, "${1}"+redacted)
}

// transcriptStats describes what encode kept.
type transcriptStats struct {
	lines, cutLines, bytes int
}

// text returns the transcript: head, the cut marker, tail.
func (t *transcript) text() ([]byte, transcriptStats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var buf bytes.Buffer
	for _, l := range t.head {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	if t.cutLines > 0 {
		fmt.Fprintf(&buf, "… %d lines (%d bytes) cut …\n", t.cutLines, t.cutBytes)
	}
	for _, l := range t.tail {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), transcriptStats{lines: len(t.head) + len(t.tail), cutLines: t.cutLines, bytes: buf.Len()}
}

// gzipper compresses transcripts, reusing its writers (each holds about a
// megabyte of state).
type gzipper struct{ pool sync.Pool }

func (g *gzipper) compress(text []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, _ := g.pool.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&out)
	} else {
		zw.Reset(&out)
	}
	defer g.pool.Put(zw)
	if _, err := zw.Write(text); err != nil {
		return nil, fmt.Errorf("compress transcript: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress transcript: %w", err)
	}
	return out.Bytes(), nil
}

// gunzip decodes a stored transcript.
func gunzip(b []byte) (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("decompress transcript: %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return "", fmt.Errorf("decompress transcript: %w", err)
	}
	return string(out), nil
}
