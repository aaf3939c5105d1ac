package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Hot-plug of the virtual line: an operator pulls a unit out of its place,
// plugs it back, or plugs another unit in its place. `station sim ctl`
// sends these over the line's control socket.

// Verbs of the control socket.
const (
	VerbPlug    = "plug"    // plug the unit of a place back in
	VerbUnplug  = "unplug"  // pull the unit out of its place
	VerbReplace = "replace" // pull it out (if in) and plug a new unit in its place
	VerbClone   = "clone"   // replace it with a new unit that has another unit's IMEI
)

// controlSock is the line's hot-plug control socket in DIR (control.sock
// is the fake flash tools').
const controlSock = "hotplug.sock"

// Unplug pulls unit n (1-based place) out: its pty closes (a run in
// flight sees the port go away), its J-Link leaves the USB tree and the
// flash tools' listing.
func (l *Line) Unplug(n int) (string, error) {
	l.mu.Lock()
	p, err := l.placeOf(n)
	if err == nil && !p.in {
		err = fmt.Errorf("unit %d is not plugged in", n)
	}
	if err != nil {
		l.mu.Unlock()
		return "", err
	}
	u, loc, probe := p.unit, p.loc, p.id.Probe
	l.mu.Unlock()
	u.Unplug() // its OnUnplug takes the J-Link off the bus
	return fmt.Sprintf("unit %d unplugged from usb %s (probe %s)", n, loc, probe), nil
}

// Plug plugs the unit last in place n back in: the same unit (IMEI, probe,
// credential store) on a new pty. The faults that fire once (unplug@STEP,
// jlink-transient) and the probe's read-back protection are not armed
// again; the unit's own behaviour faults stay.
func (l *Line) Plug(n int) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.placeOf(n)
	if err != nil {
		return "", err
	}
	if p.in {
		return "", fmt.Errorf("unit %d is plugged in already", n)
	}
	p.faults.UnplugAt, p.faults.JLinkTransient, p.faults.Protected = "", false, false
	if err := l.plugLocked(p); err != nil {
		return "", err
	}
	return fmt.Sprintf("unit %d plugged into usb %s (probe %s, IMEI %s)", n, p.loc, p.id.Probe, p.id.IMEI), nil
}

// Replace puts a new unit into place n, as on a line of DK-style units
// where every unit brings its own J-Link: a new IMEI and a new probe
// serial at the same USB location. The unit there, if any, is pulled out
// first. The new unit has no faults and a blank credential store.
func (l *Line) Replace(n int) (string, error) {
	return l.replaceWith(n, func(*place) (string, error) { return "", nil })
}

// Clone is Replace with a new unit that carries the IMEI of the unit last
// in place of: a cloned IMEI, as when a line's IMEI programming went
// wrong. The station must refuse the second of the two (DUPLICATE_IMEI)
// while both are in the fixture.
func (l *Line) Clone(n, of int) (string, error) {
	return l.replaceWith(n, func(p *place) (string, error) {
		src, err := l.placeOf(of)
		if err != nil {
			return "", err
		}
		if src == p {
			return "", fmt.Errorf("unit %d cannot be a clone of itself", n)
		}
		return src.id.IMEI, nil
	})
}

// replaceWith pulls the unit out of place n (if in) and plugs a new one
// there; imei (l.mu held) gives the IMEI it must carry, "" for its own.
func (l *Line) replaceWith(n int, imei func(p *place) (string, error)) (string, error) {
	l.mu.Lock()
	p, err := l.placeOf(n)
	var clone string
	if err == nil {
		clone, err = imei(p)
	}
	var old func()
	if err == nil && p.in {
		old = p.unit.Unplug
	}
	l.mu.Unlock()
	if err != nil {
		return "", err
	}
	if old != nil {
		old()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.in {
		return "", fmt.Errorf("unit %d was plugged in again meanwhile", n)
	}
	p.gen++
	p.id = l.replacementIdentity(p)
	if clone != "" {
		p.id.IMEI = clone
	}
	p.faults = Faults{}
	if err := l.plugLocked(p); err != nil {
		return "", err
	}
	return fmt.Sprintf("unit %d replaced at usb %s (probe %s, IMEI %s)", n, p.loc, p.id.Probe, p.id.IMEI), nil
}

// replacementIdentity is a new unit for place p (l.mu held): derived from
// the line's folder, the place and the replacement count, so a reused
// --dir replays the same replacements; an IMEI the line already had is
// skipped. The probe serial keeps the nRF9151 DK prefix.
func (l *Line) replacementIdentity(p *place) unitIdentity {
	for salt := 0; ; salt++ {
		id := newIdentity(fmt.Sprintf("%s/replacement-%d-%d", l.dir, p.gen, salt), p.index)
		if l.imeis[id.IMEI] {
			continue
		}
		l.imeis[id.IMEI] = true
		id.Probe = fmt.Sprintf("0010512%05d", p.gen*1000+p.index)
		return id
	}
}

func (l *Line) placeOf(n int) (*place, error) {
	if n < 1 || n > len(l.place) {
		return nil, fmt.Errorf("no unit %d on this line (1-%d)", n, len(l.place))
	}
	return l.place[n-1], nil
}

// maxReplacements bounds replace per place: probe serials are
// 0010512GGNNN (GG replacements, NNN the place).
const maxReplacements = 99

// serveControl answers `station sim ctl` on DIR/hotplug.sock: one request
// line "VERB N", one answer line "ok TEXT" or "error TEXT".
func (l *Line) serveControl() error {
	sock := filepath.Join(l.dir, controlSock)
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sim control socket: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("sim control socket: %w", err)
	}
	l.control = ln
	l.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.wg.Go(func() { l.answer(c) })
		}
	})
	return nil
}

func (l *Line) answer(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	text, err := l.do(strings.TrimSpace(line))
	if err != nil {
		fmt.Fprintf(c, "error %v\n", err)
		return
	}
	l.opt.Logger.Info("hot-plug", "did", text)
	fmt.Fprintf(c, "ok %s\n", text)
}

func (l *Line) do(req string) (string, error) {
	f := strings.Fields(req)
	nums := make([]int, 0, 2)
	for _, a := range f[min(1, len(f)):] {
		n, err := strconv.Atoi(a)
		if err != nil {
			return "", fmt.Errorf("want VERB UNIT [UNIT], got %q", req)
		}
		nums = append(nums, n)
	}
	verb := ""
	if len(f) > 0 {
		verb = f[0]
	}
	want := 1
	if verb == VerbClone {
		want = 2
	}
	if len(nums) != want {
		return "", fmt.Errorf("%s takes %d unit number(s), got %q", verb, want, req)
	}
	n := nums[0]
	switch verb {
	case VerbPlug:
		return l.Plug(n)
	case VerbUnplug:
		return l.Unplug(n)
	case VerbReplace, VerbClone:
		l.mu.Lock()
		p, err := l.placeOf(n)
		full := err == nil && p.gen >= maxReplacements
		l.mu.Unlock()
		if full {
			return "", fmt.Errorf("unit %d was replaced %d times; start a new line", n, maxReplacements)
		}
		if verb == VerbClone {
			return l.Clone(n, nums[1])
		}
		return l.Replace(n)
	default:
		return "", fmt.Errorf("unknown verb %q (want %s, %s, %s or %s)", verb, VerbPlug, VerbUnplug, VerbReplace, VerbClone)
	}
}

// Control sends one hot-plug command to the virtual line running in dir
// (`station sim ctl --dir DIR VERB UNIT [UNIT]`) and returns its answer.
func Control(ctx context.Context, dir, verb string, units ...int) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(dir, controlSock))
	if err != nil {
		return "", fmt.Errorf("no virtual line running in %s: %w", dir, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	req := verb
	for _, n := range units {
		req += " " + strconv.Itoa(n)
	}
	if _, err := fmt.Fprintln(c, req); err != nil {
		return "", fmt.Errorf("send %s: %w", verb, err)
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read the line's answer: %w", err)
	}
	answer = strings.TrimSpace(answer)
	if text, ok := strings.CutPrefix(answer, "ok "); ok {
		return text, nil
	}
	if text, ok := strings.CutPrefix(answer, "error "); ok {
		return "", errors.New(text)
	}
	return "", fmt.Errorf("unexpected answer %q", answer)
}
