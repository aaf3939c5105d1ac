// Package attest is a scripted nRF91 console for tests of the AT session:
// the device end of a real pseudo-terminal whose other end the station
// opens like a serial port. It speaks the AT host dialect (no echo, lines
// end "\r\n") or the Zephyr shell with the AT shell (echo wrapped at 80
// columns, "\r\r\n", an extra "\r\n", the coloured prompt), byte for byte as
// modem-at.md §1, §8 and §11 describe. Only tests import it.
package attest

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"nrfline/internal/rawtty"
)

// Shell output (modem-at.md §8; colours as Zephyr prints them).
const (
	Prompt      = "uart:~$ "
	PromptBytes = "\x1b[1;32m" + Prompt + "\x1b[m"
	width       = 80
)

// Reply is the device's answer to one command.
type Reply struct {
	Lines []string // information text lines
	Final string   // OK, ERROR, +CME ERROR: n …; "" sends no final result
	Raw   string   // if set, written verbatim instead of Lines/Final
	Drop  bool     // no answer at all (the command was lost)
	After func()   // runs after the answer is written
}

// OK is a reply with lines and OK.
func OK(lines ...string) Reply { return Reply{Lines: lines, Final: "OK"} }

// Err is a reply with only a final result.
func Err(final string) Reply { return Reply{Final: final} }

// Peer is the device end of a pty.
type Peer struct {
	tb     testing.TB
	Path   string // what the station opens
	master *os.File
	slave  *os.File // kept open so the master never sees a hangup between station opens

	mu   sync.Mutex
	raw  bytes.Buffer // everything the station sent
	cmds []string     // every command line received (CR/LF removed)

	lines  chan string
	closed chan struct{}
	once   sync.Once
}

// NewPeer opens a pty and starts reading what the station sends.
func NewPeer(tb testing.TB) *Peer {
	tb.Helper()
	m, s, err := pty.Open()
	if err != nil {
		tb.Fatalf("open pty: %v", err)
	}
	if err := rawtty.Set(int(s.Fd())); err != nil {
		tb.Fatalf("pty raw mode: %v", err)
	}
	// A pollable, non-blocking master, so that Close interrupts Read.
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		tb.Fatalf("dup pty master: %v", err)
	}
	m.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		tb.Fatalf("pty master non-blocking: %v", err)
	}
	p := &Peer{tb: tb, Path: s.Name(), master: os.NewFile(uintptr(fd), "ptmx"), slave: s,
		lines: make(chan string, 256), closed: make(chan struct{})}
	go p.read()
	tb.Cleanup(p.Unplug)
	return p
}

func (p *Peer) read() {
	buf := make([]byte, 4096)
	var line []byte
	for {
		n, err := p.master.Read(buf)
		p.mu.Lock()
		p.raw.Write(buf[:n])
		p.mu.Unlock()
		for _, b := range buf[:n] {
			switch b {
			case '\r':
			case '\n':
				p.mu.Lock()
				p.cmds = append(p.cmds, string(line))
				p.mu.Unlock()
				select {
				case p.lines <- string(line):
				case <-p.closed:
					return
				}
				line = line[:0]
			default:
				line = append(line, b)
			}
		}
		if err != nil {
			return
		}
	}
}

// Write sends s to the station as it is.
func (p *Peer) Write(s string) {
	select {
	case <-p.closed:
		return
	default:
	}
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.tb.Logf("peer write: %v", err)
	}
}

// Next returns the next line the station sent (CR and LF removed), or
// false after timeout or when the peer is closed.
func (p *Peer) Next(timeout time.Duration) (string, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-p.lines:
		return l, true
	case <-t.C:
		return "", false
	case <-p.closed:
		return "", false
	}
}

// Raw is every byte the station sent so far.
func (p *Peer) Raw() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// Commands is every line the station sent so far.
func (p *Peer) Commands() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.cmds...)
}

// Done is closed when the peer is unplugged.
func (p *Peer) Done() <-chan struct{} { return p.closed }

// Unplug closes both ends: the station sees the port go away.
func (p *Peer) Unplug() {
	p.once.Do(func() {
		close(p.closed)
		p.master.Close()
		p.slave.Close()
	})
}

// Device answers commands in one dialect.
type Device struct {
	Peer   *Peer
	Shell  bool
	Handle func(cmd string) Reply // the AT command (shell quoting removed)

	editLen int // characters typed on the current shell line
}

// Serve answers every line until the peer closes. Run it in a goroutine.
func (d *Device) Serve() {
	for {
		l, ok := d.Peer.Next(time.Hour)
		if !ok {
			return
		}
		d.Answer(l)
	}
}

// Answer handles one received line.
func (d *Device) Answer(line string) {
	if !d.Shell {
		if strings.HasPrefix(strings.TrimLeft(line, "\f\x15"), "at ") {
			d.Peer.Write("ERROR\r\n") // the AT host does not know the shell's `at`
			return
		}
		d.write(d.Handle(line), "\r\n")
		return
	}
	typed := d.echo(line)
	cmd, ok := shellArg(typed)
	if !ok {
		d.Peer.Write(fmt.Sprintf("%s: command not found\r\n", strings.Fields(typed + " x")[0]) + PromptBytes)
		return
	}
	r := d.Handle(cmd)
	if r.Drop {
		return
	}
	d.write(r, "\r\r\n")
	d.Peer.Write("\r\n" + PromptBytes)
}

// echo prints what the shell echoes for line and returns the typed text.
func (d *Device) echo(line string) string {
	var out strings.Builder
	for len(line) > 0 && (line[0] == '\f' || line[0] == '\x15') {
		if line[0] == '\f' {
			out.WriteString("\x1b[H\x1b[2J" + PromptBytes)
		} else {
			out.WriteString("\x1b[J")
		}
		line = line[1:]
	}
	d.editLen = 0
	wrapped := false
	for i := 0; i < len(line); i++ {
		out.WriteByte(line[i])
		d.editLen++
		wrapped = (d.editLen+len(Prompt))%width == 0
		if wrapped {
			out.WriteString("\r\n")
		}
	}
	if !wrapped {
		out.WriteString("\r\n")
	}
	d.Peer.Write(out.String())
	return line
}

func (d *Device) write(r Reply, eol string) {
	switch {
	case r.Drop:
		return
	case r.Raw != "":
		d.Peer.Write(r.Raw)
	default:
		var b strings.Builder
		for _, l := range r.Lines {
			b.WriteString(l + eol)
		}
		if r.Final != "" {
			b.WriteString(r.Final + eol)
		}
		d.Peer.Write(b.String())
	}
	if r.After != nil {
		r.After()
	}
}

// shellArg parses `at '<cmd>'` or `at <cmd>` as Zephyr's argument parser
// does for one argument (single quotes removed, \' \xHH unescaped).
func shellArg(typed string) (string, bool) {
	rest, ok := strings.CutPrefix(typed, "at ")
	if !ok {
		return "", false
	}
	if !strings.HasPrefix(rest, "'") {
		return rest, !strings.ContainsAny(rest, " '\"")
	}
	if len(rest) < 2 || !strings.HasSuffix(rest, "'") {
		return "", false
	}
	body := rest[1 : len(rest)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body) && body[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\\' && i+3 < len(body) && body[i+1] == 'x':
			var v byte
			fmt.Sscanf(body[i+2:i+4], "%02x", &v)
			b.WriteByte(v)
			i += 3
		case c == '\'':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// LogLine formats a Zephyr log line with colours, as the UART prints it.
func LogLine(ts, lvl, module, msg string) string {
	color := "\x1b[0m"
	switch lvl {
	case "err":
		color = "\x1b[1;31m"
	case "wrn":
		color = "\x1b[1;33m"
	}
	return fmt.Sprintf("[%s] %s<%s> %s: %s\x1b[0m\r\n", ts, color, lvl, module, msg)
}
