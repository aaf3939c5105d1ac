package discover

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"nrfline/station"
)

// Defaults of Options.
const (
	// DefaultDebounce is how long a device must stay away before it is
	// reported Detached. A J-Link OB re-enumerates within ~100 ms of its
	// own reset; a removed unit's slot must show EMPTY within 1 s.
	DefaultDebounce = 400 * time.Millisecond
	// DefaultPoll is the rescan interval where no uevents arrive (no
	// netlink, or the "tool" discovery).
	DefaultPoll = time.Second
	// DefaultToolDebounce is the "tool" discovery's debounce: a probe
	// listing through the flash tool misses a J-Link that another process
	// holds, so one listing without it is no removal.
	DefaultToolDebounce = 3 * time.Second
	// safetyRescan rescans even with uevents flowing, in case one was lost
	// without the socket saying so.
	safetyRescan = 30 * time.Second
	// settleQuiet and settleMax coalesce a burst of uevents (one USB
	// device brings a device, interfaces and ttys) into one rescan: scan
	// once no event came for settleQuiet, at the latest settleMax after
	// the first.
	settleQuiet = 15 * time.Millisecond
	settleMax   = 100 * time.Millisecond
)

// Options tune a discovery. Zero values take the defaults.
type Options struct {
	Debounce time.Duration // see DefaultDebounce
	Poll     time.Duration // see DefaultPoll
	Clock    station.Clock // nil: the system clock
	Log      *slog.Logger  // diagnostics; nil discards
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Clock == nil {
		o.Clock = station.SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// USB is the "usb" discovery: the debug probes (J-Link, Nordic USB) among
// the USB serial devices in sysfs, rescanned whenever a kernel uevent about
// a tty or USB device arrives, and every Options.Poll where uevents are
// unavailable.
type USB struct {
	sysRoot string
	socket  string
	opt     Options
	cache   portCache
}

var _ station.Discovery = (*USB)(nil)

// NewUSB returns the "usb" discovery. sysRoot is where sys/class/tty and
// dev/ are read ("" or "/" for this machine). ueventSocket, when set, is a
// unix SOCK_SEQPACKET socket that broadcasts kernel-format uevents for
// that tree (the virtual line); otherwise the kernel's netlink broadcast
// is used for the real root, and a fake root without a socket is polled.
func NewUSB(sysRoot, ueventSocket string, opt Options) *USB {
	return &USB{sysRoot: sysRoot, socket: ueventSocket, opt: opt.withDefaults()}
}

// Scan lists the probes present now.
func (u *USB) Scan(ctx context.Context) ([]station.Device, error) {
	devs, err := Lister{SysRoot: u.sysRoot, Log: u.opt.Log, cache: &u.cache}.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]station.Device, 0, len(devs))
	for _, d := range devs {
		if IsProbe(d.VID) {
			out = append(out, StationDevice(d))
		}
	}
	return out, nil
}

// Watch implements station.Discovery.
func (u *USB) Watch(ctx context.Context) (<-chan station.DeviceEvent, error) {
	var conn ueventConn
	var err error
	switch {
	case u.socket != "":
		conn, err = openSocket(u.socket)
		if err != nil {
			return nil, err // configured: a wrong path is the operator's to fix
		}
	case u.sysRoot == "" || u.sysRoot == "/":
		if conn, err = openNetlink(); err != nil {
			u.opt.Log.Warn("no kernel uevents; polling USB instead", "every", u.opt.Poll, "err", err)
		}
	}
	return watch(ctx, u.Scan, conn, u.opt)
}

// Tool is the "tool" discovery: a probe listing (the flash tool's, which
// knows probe serials only) polled every Options.Poll.
type Tool struct {
	list func(context.Context) ([]string, error)
	opt  Options
}

var _ station.Discovery = (*Tool)(nil)

// NewTool returns the "tool" discovery over list. Its debounce defaults
// to DefaultToolDebounce.
func NewTool(list func(context.Context) ([]string, error), opt Options) *Tool {
	if opt.Debounce <= 0 {
		opt.Debounce = DefaultToolDebounce
	}
	return &Tool{list: list, opt: opt.withDefaults()}
}

// Scan lists the probes present now.
func (t *Tool) Scan(ctx context.Context) ([]station.Device, error) {
	serials, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]station.Device, 0, len(serials))
	seen := map[string]bool{}
	for _, s := range serials {
		p := station.NormalizeSerial(s)
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		board, _ := Board(s)
		out = append(out, station.Device{Probe: p, Board: board})
	}
	return out, nil
}

// Watch implements station.Discovery.
func (t *Tool) Watch(ctx context.Context) (<-chan station.DeviceEvent, error) {
	return watch(ctx, t.Scan, nil, t.opt)
}

// FromConfig returns the discovery [line] selects: "usb" with its
// sysfs_root and uevent_socket, or "tool" over list (the flash tool's
// probe listing).
func FromConfig(line station.LineConfig, list func(context.Context) ([]string, error), logger *slog.Logger) (station.Discovery, error) {
	opt := Options{Log: logger}
	switch line.Discovery {
	case "", "usb":
		return NewUSB(line.SysfsRoot, line.UeventSocket, opt), nil
	case "tool":
		if list == nil {
			return nil, fmt.Errorf("line.discovery = \"tool\": the flash tool cannot list probes")
		}
		return NewTool(list, opt), nil
	default:
		return nil, fmt.Errorf("line.discovery %q is not one of usb, tool", line.Discovery)
	}
}

// StationDevice is d as the engine sees it.
func StationDevice(d Device) station.Device {
	sd := station.Device{Probe: d.Probe, USB: d.USB, Board: d.Board}
	for _, p := range d.Ports {
		sd.Ports = append(sd.Ports, p.Path)
	}
	if c, err := d.Console(); err == nil {
		sd.Console = c.Path
	}
	return sd
}

// watch runs the discovery loop: the first listing now (its failure is
// Watch's error), then rescans on wakes from conn (if any), on the poll
// interval, and detaches when their debounce ends.
func watch(ctx context.Context, scan func(context.Context) ([]station.Device, error), conn ueventConn, opt Options) (<-chan station.DeviceEvent, error) {
	first, err := scan(ctx)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("discover devices: %w", err)
	}
	tr := newTracker(opt.Debounce)
	initial := tr.update(opt.Clock.Now(), first)
	out := make(chan station.DeviceEvent, len(initial)+16)
	for _, ev := range initial {
		out <- ev
	}
	l := &loop{scan: scan, opt: opt, tr: tr, out: out}
	if conn != nil {
		wake := make(chan struct{}, 1)
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			readWakes(conn, wake, opt.Log)
		}()
		l.wake = wake
		l.stop = func() { conn.Close(); <-readerDone }
	}
	go l.run(ctx)
	return out, nil
}

// readWakes signals wake (without blocking) for every uevent that can
// change the device list, until conn fails or is closed; then it closes
// wake.
func readWakes(conn ueventConn, wake chan<- struct{}, log *slog.Logger) {
	defer close(wake)
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		if overflowed(err) {
			log.Debug("uevents lost (buffer overflow); rescanning")
			signal(wake)
			continue
		}
		if err != nil {
			log.Debug("uevents ended", "err", err)
			return
		}
		ev, err := ParseUevent(buf[:n])
		if err != nil {
			log.Debug("uevent ignored", "err", err)
			continue
		}
		if ev.wakes() {
			signal(wake)
		}
	}
}

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

type loop struct {
	scan func(context.Context) ([]station.Device, error)
	opt  Options
	tr   *tracker
	out  chan station.DeviceEvent
	wake <-chan struct{} // nil: poll
	stop func()
}

func (l *loop) run(ctx context.Context) {
	defer close(l.out)
	if l.stop != nil {
		defer l.stop()
	}
	for {
		every := l.opt.Poll
		if l.wake != nil {
			every = safetyRescan
		}
		var due <-chan time.Time
		if at, ok := l.tr.next(); ok {
			due = l.opt.Clock.After(max(at.Sub(l.opt.Clock.Now()), 0))
		}
		var ok bool
		select {
		case <-ctx.Done():
			return
		case _, open := <-l.wake:
			if !open {
				l.opt.Log.Warn("kernel uevents stopped; polling USB instead", "every", l.opt.Poll)
				l.wake = nil
				continue
			}
			ok = l.settle(ctx) && l.rescan(ctx)
		case <-l.opt.Clock.After(every):
			ok = l.rescan(ctx)
		case <-due:
			ok = l.send(ctx, l.tr.expire(l.opt.Clock.Now()))
		}
		if !ok {
			return
		}
	}
}

// settle waits for a burst of uevents to end (see settleQuiet). It
// reports false when ctx ended.
func (l *loop) settle(ctx context.Context) bool {
	limit := l.opt.Clock.After(settleMax)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-limit:
			return true
		case <-l.opt.Clock.After(settleQuiet):
			return true
		case _, open := <-l.wake:
			if !open {
				return true
			}
		}
	}
}

// rescan lists the devices and sends what changed. A failed listing keeps
// the previous one: a transient sysfs or tool error must not look like
// every unit pulled out.
func (l *loop) rescan(ctx context.Context) bool {
	devs, err := l.scan(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		l.opt.Log.Warn("device listing failed; keeping the last one", "err", err)
		return true
	}
	return l.send(ctx, l.tr.update(l.opt.Clock.Now(), devs))
}

func (l *loop) send(ctx context.Context, evs []station.DeviceEvent) bool {
	for _, ev := range evs {
		select {
		case l.out <- ev:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
