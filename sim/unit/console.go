package unit

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// console is the UART side of one boot (guarded by Unit.io).
type console struct {
	boot   *boot
	accept bool // input is processed (after "Ready" / the first prompt)

	fr framer // AT host

	ed          lineEditor // shell
	shellBusy   bool       // a shell command is executing
	pending     []byte     // shell input received meanwhile (RX ring buffer)
	promptShown bool       // the prompt (and ed.buf) is the last thing printed
	events      bool       // `at events_enable`
}

// flushWait bounds flush when nobody reads the port.
const flushWait = time.Second

// outItem is one write to the pty. hook runs in the writer just before the
// bytes are written (or when they are dropped).
type outItem struct {
	gen  uint64
	data []byte
	hook func()
}

// Zephyr log levels and their colour escapes (modem-at.md §9).
const (
	lvlErr = "err"
	lvlWrn = "wrn"
	lvlInf = "inf"
	lvlDbg = "dbg"
)

func levelColor(lvl string) string {
	switch lvl {
	case lvlErr:
		return "\x1b[1;31m"
	case lvlWrn:
		return "\x1b[1;33m"
	}
	return "\x1b[0m"
}

// logLine formats `[hh:mm:ss.mmm,uuu] <lvl> <module>: <msg>` with colours.
func logLine(up time.Duration, lvl, module, msg string) string {
	us := up.Microseconds()
	h := us / 3_600_000_000
	m := us / 60_000_000 % 60
	s := us / 1_000_000 % 60
	ms := us / 1000 % 1000
	return fmt.Sprintf("[%02d:%02d:%02d.%03d,%03d] %s<%s> %s: %s\x1b[0m\r\n",
		h, m, s, ms, us%1000, levelColor(lvl), lvl, module, msg)
}

// reader feeds everything the station writes to the console.
func (u *Unit) reader() {
	defer u.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := u.port.master.Read(buf)
		if n > 0 {
			u.input(buf[:n])
		}
		if err != nil {
			u.log.Debug("pty reader stops", "err", err)
			return
		}
	}
}

// writer writes queued output in order; output of ended boots is dropped.
func (u *Unit) writer() {
	defer u.wg.Done()
	for {
		select {
		case <-u.port.done:
			return
		case it := <-u.out:
			if it.hook != nil {
				it.hook()
			}
			if it.gen != u.gen.Load() || len(it.data) == 0 {
				continue
			}
			if _, err := u.port.master.Write(it.data); err != nil {
				u.log.Debug("pty writer stops", "err", err)
				return
			}
		}
	}
}

// enqueueLocked queues output (io held). It never blocks: when the queue
// is full (nobody reads the port) the output is lost, as UART output is.
func (u *Unit) enqueueLocked(gen uint64, data string, hook func()) {
	select {
	case u.out <- outItem{gen: gen, data: []byte(data), hook: hook}:
	default:
		if hook != nil {
			hook()
		}
	}
}

// emit prints data for boot b (whole lines, or shell output).
func (u *Unit) emit(b *boot, data string, hook func()) {
	u.io.Lock()
	defer u.io.Unlock()
	if !u.current(b) {
		if hook != nil {
			hook()
		}
		return
	}
	u.enqueueLocked(b.gen, data, hook)
}

// flush waits (at most flushWait) until everything queued so far for boot b
// has been written to the pty.
func (u *Unit) flush(b *boot) {
	done := make(chan struct{})
	u.emit(b, "", func() { close(done) })
	t := time.NewTimer(flushWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-b.ctx.Done():
	}
}

// emitAsync prints a line that is not part of a command's output (a log
// line or a notification). In the shell, a shown prompt is erased first and
// printed again after it, with the partly typed line.
func (u *Unit) emitAsync(b *boot, line string) {
	u.io.Lock()
	defer u.io.Unlock()
	if !u.current(b) {
		return
	}
	if u.cfg.Shell && u.con.promptShown {
		line = eraseLine(len(u.con.ed.buf)) + line + promptText() + string(u.con.ed.buf)
	}
	u.enqueueLocked(b.gen, line, nil)
}

// logf prints a Zephyr log line.
func (u *Unit) logf(b *boot, lvl, module, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	u.emitAsync(b, logLine(u.uptime(b), lvl, module, msg))
}

// emitURC prints an unsolicited result code: in the AT host every
// notification is forwarded (at_monitor ANY); in the shell only after
// `at events_enable`.
func (u *Unit) emitURC(b *boot, urc string) {
	if !u.cfg.Shell {
		u.emitAsync(b, urc+"\r\n")
		return
	}
	u.io.Lock()
	events := u.con.events
	u.io.Unlock()
	if events {
		u.emitAsync(b, shellPrint("AT event handler:\n"+urc+"\r\n"))
	}
}

// input handles bytes from the station.
func (u *Unit) input(p []byte) {
	u.io.Lock()
	defer u.io.Unlock()
	b := u.con.boot
	if b == nil || !u.con.accept {
		return
	}
	if u.cfg.Shell {
		u.shellInputLocked(b, p)
		return
	}
	for _, c := range p {
		if u.token.Load() != 0 {
			return // RX disabled while a command executes: bytes are lost
		}
		if line, done := u.con.fr.feed(c); done {
			id := u.ids.Add(1)
			u.token.Store(id)
			u.dispatchLocked(b, command{line: line, token: id})
		}
	}
}

func (u *Unit) dispatchLocked(b *boot, c command) {
	select {
	case b.cmds <- c:
	default:
		u.token.CompareAndSwap(c.token, 0)
	}
}

// shellInputLocked runs the shell's line editor over p (io held).
func (u *Unit) shellInputLocked(b *boot, p []byte) {
	for i, c := range p {
		if u.con.shellBusy {
			room := max(shellRXBuffer-len(u.con.pending), 0)
			u.con.pending = append(u.con.pending, p[i:i+min(room, len(p)-i)]...)
			return
		}
		r := u.con.ed.feed(c)
		if r.echo != "" {
			u.enqueueLocked(b.gen, r.echo, nil)
		}
		switch {
		case r.enter:
			u.con.promptShown = false
			u.con.shellBusy = true
			u.dispatchLocked(b, command{line: r.line})
		case r.redo:
			u.enqueueLocked(b.gen, promptText()+string(u.con.ed.buf), nil)
			u.con.promptShown = true
		}
	}
}

// shellDone prints the prompt after a command and resumes input.
func (u *Unit) shellDone(b *boot) {
	u.io.Lock()
	defer u.io.Unlock()
	if !u.current(b) {
		return
	}
	u.enqueueLocked(b.gen, promptText(), nil)
	u.con.promptShown = true
	u.con.shellBusy = false
	p := u.con.pending
	u.con.pending = nil
	u.shellInputLocked(b, p)
}

// ready opens the console for input: "Ready" in the AT host, the prompt in
// the shell. It starts the command executor.
func (u *Unit) ready(b *boot) {
	u.io.Lock()
	defer u.io.Unlock()
	if !u.current(b) {
		return
	}
	u.con.accept = true
	if u.cfg.Shell {
		u.enqueueLocked(b.gen, promptText(), nil)
		u.con.promptShown = true
	} else {
		u.enqueueLocked(b.gen, "Ready\r\n", nil)
	}
	u.wg.Add(1)
	go u.executor(b)
	u.settle()
}

// garbage sends random bytes, as a console read at the wrong baud rate:
// mostly bytes with the high bit set, with a line break now and then.
func (u *Unit) garbage(b *boot) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(u.cfg.Index)))
	period := max(u.scaled(100*time.Millisecond), 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		buf := make([]byte, 16+rng.IntN(48))
		for i := range buf {
			buf[i] = byte(0x80 + rng.IntN(0x80))
		}
		if rng.IntN(3) == 0 {
			buf = append(buf, '\r', '\n')
		}
		u.emit(b, string(buf), nil)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			return
		}
	}
}
