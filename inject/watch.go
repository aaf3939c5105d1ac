package inject

import (
	"context"
	"regexp"
	"strings"
	"time"

	"nrfline/inject/at"
	"nrfline/station"
)

// Watch follows the unit's log: lines queued before the call are
// discarded (observed only), then trigger runs (the reset), then every log
// line is matched against the markers until the unit registered or a
// failure marker appeared — Watch returns at once then — or ctx ended (the
// report so far and ctx's error). It reports what it saw and decides
// nothing: the engine's line rules turn the report into a verdict.
func (m *Modem) Watch(ctx context.Context, mk station.Markers, trigger func(context.Context) error) (station.BootReport, error) {
	w := newBootWatch(mk.WithDefaults())
	start := func(ctx context.Context) error {
		w.start = time.Now()
		defer func() { w.triggered = time.Now() }()
		if trigger == nil {
			return nil
		}
		return trigger(ctx)
	}
	err := m.s.Follow(ctx, start, func(l at.LogLine) bool { return w.line(l.Text, l.At) })
	return w.rep, err
}

// bootWatch turns log lines into a BootReport (lwm2m-bootstrap.md §3–§5).
// It is pure apart from the times it is given.
type bootWatch struct {
	m     station.Markers
	start time.Time
	rep   station.BootReport
	// bootloader: the last banner was MCUboot's, so the application's
	// banner that follows belongs to the same boot.
	bootloader bool
	// registering: the RD client started registration (INF, optional), so
	// a refusal now is the LwM2M server's, not the bootstrap server's.
	registering bool
	// triggered is when the reset returned; zero until then.
	triggered time.Time
}

func newBootWatch(m station.Markers) *bootWatch { return &bootWatch{m: m, start: time.Now()} }

// line takes one log line (ANSI already removed); true when the watch is over.
// Lines received before the reset returned, unless the reset's boot banner
// came first, are the previous boot's (printed while the reset tool
// starts): they neither fail nor pass the unit. The banner is not required
// after that: a banner garbled by line noise at reset must not fail a unit
// that registers (modem-at.md §9).
func (w *bootWatch) line(text string, when time.Time) bool {
	msg := logMessage(strings.TrimSpace(text))
	if contains(msg, w.m.Boot) {
		w.boot(msg)
		return false
	}
	if !w.rep.Booted && (w.triggered.IsZero() || when.Before(w.triggered)) {
		return false
	}
	if w.rep.Endpoint == "" {
		w.rep.Endpoint = endpointIn(msg)
	}
	if strings.Contains(msg, "RD Client started with endpoint") {
		w.registering = true
	}
	if code := w.failure(msg); code != station.CodeNone {
		w.rep.Failure, w.rep.FailureLine = code, text
		return true
	}
	switch {
	case contains(msg, w.m.Attached):
		w.rep.Attached = true
	case contains(msg, w.m.Bootstrapped):
		if !w.rep.Bootstrapped {
			w.rep.Bootstrapped, w.rep.BootstrapAt = true, w.since(when)
		}
	case contains(msg, w.m.Registered):
		w.rep.Registered, w.rep.RegisteredAt = true, w.since(when)
		return true
	}
	return false
}

// notRetrying ends the RD client's refusal of a bootstrap request, not of a
// registration (lwm2m-bootstrap.md §3); the INF line that tells
// registration has started is not printed at the module's default level.
const notRetrying = "Not Retrying"

// failure is the code of a failure marker in msg, if any.
func (w *bootWatch) failure(msg string) station.Code {
	switch {
	case contains(msg, w.m.Rejected):
		return station.BootstrapRejected
	case contains(msg, w.m.Refused) && strings.Contains(msg, notRetrying) && !w.rep.Bootstrapped && !w.registering:
		return station.BootstrapRejected
	case contains(msg, w.m.Refused):
		return station.RegistrationFailed
	case contains(msg, w.m.NoCreds):
		return station.BootstrapNoCredentials
	case contains(msg, w.m.Network):
		return station.BootstrapNetwork
	case contains(msg, w.m.RegFailed):
		return station.RegistrationFailed
	}
	return station.CodeNone
}

// boot counts a boot banner: the first is the boot after the reset, later
// ones are reboots — except the application's banner right after MCUboot's.
func (w *bootWatch) boot(msg string) {
	mcuboot := strings.Contains(msg, "MCUboot")
	switch {
	case !w.rep.Booted:
		w.rep.Booted = true
	case w.bootloader && !mcuboot:
		// the application's banner after the bootloader's: same boot
	default:
		w.rep.Reboots++
	}
	w.bootloader = mcuboot
}

func (w *bootWatch) since(t time.Time) time.Duration {
	return max(t.Sub(w.start), time.Nanosecond) // 0 means "not seen"
}

func contains(msg string, markers []string) bool {
	for _, mk := range markers {
		if mk != "" && strings.Contains(msg, mk) {
			return true
		}
	}
	return false
}

// zephyrLog is `[hh:mm:ss.mmm,uuu] <lvl> <module>: <message>`; the
// timestamp is optional (a build without it), so is the colour escape
// (already removed).
var zephyrLog = regexp.MustCompile(`^(?:\[[0-9:.,]+\]\s*)?<(?:err|wrn|inf|dbg)>\s+[A-Za-z0-9_.-]+:\s?(.*)$`)

// logMessage is the message part of a Zephyr log line, or the whole line.
func logMessage(line string) string {
	if m := zephyrLog.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return line
}

// endpointRE finds the endpoint name the firmware prints (§4, §3).
var endpointRE = []*regexp.Regexp{
	regexp.MustCompile(`^endpoint: (\S+)`),
	regexp.MustCompile(`Start LWM2M Client: (\S+)`),
	regexp.MustCompile(`Bootstrap started with endpoint '([^']+)'`),
	regexp.MustCompile(`RD Client started with endpoint '([^']+)'`),
}

func endpointIn(msg string) string {
	for _, re := range endpointRE {
		if m := re.FindStringSubmatch(msg); m != nil {
			return m[1]
		}
	}
	return ""
}
