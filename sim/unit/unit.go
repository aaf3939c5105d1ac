// Package unit is a virtual Nordic nRF9151 unit on a pseudo-terminal: the
// modem's AT interface (AT host or Zephyr AT shell, modem-at.md), the %CMNG
// credential store, LTE attach and SIM timing, boot output, and an LwM2M
// client application that bootstraps and registers like the NCS lwm2m_client
// sample (lwm2m-bootstrap.md §1–§5).
//
// It is written from the device's side and shares no code with the
// station's AT session. The virtual J-Link drives it through Halt, Erase,
// Program, Reset and Unplug.
//
// Opening the port: the station opens Port() with go.bug.st/serial. A pty
// has no modem-control lines, so serial.Open with Mode.InitialStatusBits
// set fails (PortError InvalidSerialPort, "error getting modem bits status:
// inappropriate ioctl for device"), and SetDTR/SetRTS return ENOTTY. Open a
// virtual unit with InitialStatusBits nil.
//
// Choices where modem-at.md is unsure (the stricter behaviour, unless noted):
//
//   - Command names are case-sensitive ("at+cgsn" → ERROR); no trailing
//     spaces; syntax and parameter errors are plain ERROR even with CMEE=1.
//   - SIM reads (+CIMI, %XICCID, +CPIN) with the UICC off → +CME ERROR: 0;
//     during the ~1 s power-up after CFUN=1/21/41 → +CME ERROR: 14.
//     %XSIM? answers "%XSIM: 0" until the UICC is ready.
//   - AT+CFUN? reports the value last set (0 after boot). "Activated" for
//     %CMNG (518) means LTE on, i.e. after CFUN=1 or 21.
//   - %CMNG write over an existing <sec_tag>,<type> → +CME ERROR: 519 (the
//     station must delete first). Writable types 0–5; a type-3 PSK must be
//     even-length hex text (else 527); empty content → ERROR.
//   - %CMNG read of types 2 and 3 (key, PSK) → +CME ERROR: 514, checked
//     before existence; read/write/delete of tags above 2147483647 → 514.
//   - Modem firmware below 1.3.2 lists placeholder digests (§6.5).
//   - CFUN=0/4/20/40 while registered takes 200 ms (detach) before OK; RX
//     stays disabled meanwhile.
//   - The shell firmware is built as Nordic advises: wildcards off (so
//     `at 'AT+CFUN?'` works), CONFIG_AT_SHELL_UNESCAPE_LF=y, colours on,
//     255-character lines, no history or tab completion.
//
// Boot (AT host with the LwM2M client): banner, "The AT host sample
// started", the application's first four log lines, its CFUN=1 (and
// "+CEREG: 2,…" since it subscribes with AT+CEREG=2), then "Ready". The
// application switches LTE on before "Ready", so a station that sends
// AT+CFUN=4 after "Ready" reliably takes the modem offline. LTE attach then
// takes 5 s (later attaches 2.2 s). In the shell the prompt takes the place
// of "Ready"; a log line erases the prompt line (VT100) and prints it again
// after itself, so with escapes stripped the prompt text precedes the log
// line on the same line.
//
// LwM2M client: the application stops for good (until the next reset) if
// LTE goes off before it is registered or between exchanges. Registration
// refused (4.03) stops it too; Zephyr would fall back to bootstrap.
package unit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Unit is one running virtual unit. Its methods are safe for concurrent use.
type Unit struct {
	cfg   Config
	log   *slog.Logger
	scale float64 // Delay(1s)/1s: converts real elapsed time to uptime

	port  *port
	out   chan outItem
	gen   atomic.Uint64 // boot generation: output of older boots is dropped
	token atomic.Uint64 // AT host: id of the command holding RX disabled, 0 = RX on
	ids   atomic.Uint64 // command id source

	io  sync.Mutex // console state and output order; taken before mu
	con console

	mu        sync.Mutex // unit state below
	st        state
	store     *credStore
	mdm       *modem
	b         *boot // running boot, nil when the core does not run
	halted    bool
	unplugged bool
	closed    bool
	bsReset   bool          // ResetDuringBootstrap already fired
	netCh     chan struct{} // closed and replaced on every network change

	settled    chan struct{} // closed once the first boot settled (see Settled)
	settleOnce sync.Once

	wg sync.WaitGroup
}

// boot is one run of the firmware, from reset to the next reset/halt.
type boot struct {
	gen    uint64
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	cmds   chan command
}

// command is a complete console line handed to the executor.
type command struct {
	line  string
	token uint64
}

// Start opens the unit's pty and boots it, as after a reset: the firmware
// runs unless the state file says the flash was erased.
func Start(cfg Config) (*Unit, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := loadState(cfg.StatePath)
	if err != nil {
		return nil, fmt.Errorf("unit %d: %w", cfg.Index, err)
	}
	p, err := openPort(cfg.Link)
	if err != nil {
		return nil, fmt.Errorf("unit %d: %w", cfg.Index, err)
	}
	u := &Unit{
		cfg:     cfg,
		log:     cfg.Logger.With("unit", cfg.Index),
		scale:   float64(cfg.Delay(time.Second)) / float64(time.Second),
		port:    p,
		out:     make(chan outItem, 512),
		st:      st,
		store:   newCredStore(st.Credentials),
		netCh:   make(chan struct{}),
		settled: make(chan struct{}),
	}
	u.wg.Add(2)
	go u.reader()
	go u.writer()
	u.io.Lock()
	u.mu.Lock()
	u.bootLocked()
	u.mu.Unlock()
	u.io.Unlock()
	u.log.Info("unit started", "port", u.Port(), "shell", cfg.Shell, "firmware", !st.Firmware.Erased)
	return u, nil
}

// Settled is closed once the unit's first boot opened its console for
// commands ("Ready" or the shell prompt), or is known never to (no
// firmware, silent, garbage), or the unit was closed. Input typed before
// that is lost, as on a real unit that is still booting.
func (u *Unit) Settled() <-chan struct{} { return u.settled }

func (u *Unit) settle() { u.settleOnce.Do(func() { close(u.settled) }) }

// Port is the path the station opens: Link if set, else the pty slave.
func (u *Unit) Port() string {
	if u.cfg.Link != "" {
		return u.cfg.Link
	}
	return u.port.path
}

// Close stops the unit, closes its pty, removes Link and waits for every
// goroutine. The state file stays.
func (u *Unit) Close() error {
	u.io.Lock()
	u.mu.Lock()
	u.closed = true
	u.stopLocked()
	u.mu.Unlock()
	u.io.Unlock()
	u.settle()
	err := u.port.close()
	u.wg.Wait()
	return err
}

// Halt is the debugger halting the core: output stops, AT is not
// processed, the application stops, until Reset.
func (u *Unit) Halt() {
	u.io.Lock()
	defer u.io.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gone() {
		return
	}
	u.halted = true
	u.stopLocked()
	u.log.Debug("halted")
}

// Erase erases the flash. A chip erase removes the application firmware
// and the stored LwM2M settings; a sector erase removes the firmware area
// only and keeps the settings. The modem's %CMNG store always survives.
// The core does not run afterwards until Program and Reset.
func (u *Unit) Erase(chip bool) {
	u.io.Lock()
	defer u.io.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gone() {
		return
	}
	u.stopLocked()
	u.st.Firmware = firmware{Erased: true}
	if chip {
		u.st.Settings = nil
	}
	u.saveLocked()
	u.log.Debug("erased", "chip", chip)
}

// Program marks new application firmware present (after Erase).
func (u *Unit) Program(size int, sha256hex string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gone() {
		return
	}
	u.st.Firmware = firmware{Size: size, SHA256: sha256hex}
	u.saveLocked()
	u.log.Debug("programmed", "size", size, "sha256", sha256hex)
}

// Reset is a system reset: reboot, boot banner, then the application if
// firmware is present (none: the unit stays silent).
func (u *Unit) Reset() {
	u.io.Lock()
	defer u.io.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gone() {
		return
	}
	u.halted = false
	u.bootLocked()
	u.log.Debug("reset")
}

// Unplug is the USB cable pulled: the pty master closes (the station reads
// EIO / port closed), Link is removed. Permanent.
func (u *Unit) Unplug() {
	u.io.Lock()
	u.mu.Lock()
	if u.gone() {
		u.mu.Unlock()
		u.io.Unlock()
		return
	}
	u.unplugged = true
	u.stopLocked()
	u.mu.Unlock()
	u.io.Unlock()
	if err := u.port.close(); err != nil {
		u.log.Warn("unplug: close pty", "err", err)
	}
	u.log.Info("unplugged")
	if u.cfg.OnUnplug != nil {
		u.cfg.OnUnplug()
	}
}

// Credentials returns type → content stored under tag (a test helper).
func (u *Unit) Credentials(tag uint32) map[uint8]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.store.tag(tag)
}

// SeedServerAccount stores LwM2M server credentials and settings as a
// completed bootstrap would: identity (type 4) and key (type 3, hex) in the
// server tag, and uri as the stored server. With them the unit registers at
// uri without bootstrapping (the stale-server-creds fault). Call it before
// the station starts on the unit; existing entries are replaced.
func (u *Unit) SeedServerAccount(uri, identity string, key []byte) error {
	if uri == "" || identity == "" || len(key) == 0 {
		return errors.New("seed server account: uri, identity and key are required")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.store.put(u.cfg.ServerTag, typeIdentity, identity)
	u.store.put(u.cfg.ServerTag, typePSK, hex.EncodeToString(key))
	u.st.Settings = &settings{ServerURI: uri, Lifetime: defaultLifetime}
	return u.saveErrLocked()
}

func (u *Unit) gone() bool { return u.unplugged || u.closed }

// stopLocked ends the running boot (io and mu held).
func (u *Unit) stopLocked() {
	if u.b != nil {
		u.b.cancel()
		u.b = nil
	}
	u.gen.Add(1)
	u.token.Store(0)
	u.con = console{}
	u.netSignalLocked()
}

// bootLocked starts a new boot (io and mu held). The modem restarts with
// its power-on state (CFUN 0, CMEE 0, no subscriptions).
func (u *Unit) bootLocked() {
	u.stopLocked()
	u.mdm = newModem(identity{
		IMEI: u.cfg.IMEI, ICCID: u.cfg.ICCID, IMSI: u.cfg.IMSI, UUID: u.cfg.UUID,
		ModemFW: u.cfg.ModemFW, Model: u.cfg.Model, HWVersion: u.cfg.HWVersion,
	}, u.store, u.cfg.Faults.CME515)
	if u.st.Firmware.Erased || u.halted || u.gone() {
		u.settle()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &boot{gen: u.gen.Load(), ctx: ctx, cancel: cancel, start: time.Now(), cmds: make(chan command, 1)}
	u.b = b
	u.con.boot = b
	u.wg.Add(1)
	go u.run(b)
}

// rebootFrom reboots the unit if b is still the running boot (a reboot the
// firmware causes itself).
func (u *Unit) rebootFrom(b *boot) {
	u.io.Lock()
	defer u.io.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.b != b {
		return
	}
	u.bootLocked()
	u.log.Info("unit rebooted itself")
}

func (u *Unit) saveLocked() {
	if err := u.saveErrLocked(); err != nil {
		u.log.Error("persist unit state", "err", err)
	}
}

func (u *Unit) saveErrLocked() error {
	u.st.Credentials = u.store.all()
	return saveState(u.cfg.StatePath, u.st)
}

// netSignalLocked wakes everything waiting for a network change.
func (u *Unit) netSignalLocked() {
	close(u.netCh)
	u.netCh = make(chan struct{})
}

// current reports whether b is still the running boot.
func (u *Unit) current(b *boot) bool { return u.gen.Load() == b.gen }

// scaled applies Config.Delay.
func (u *Unit) scaled(d time.Duration) time.Duration { return u.cfg.Delay(d) }

// sleep waits the simulated duration d; false if the boot ended first.
func (u *Unit) sleep(b *boot, d time.Duration) bool {
	d = u.scaled(d)
	if d <= 0 {
		return b.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// after runs fn once the simulated duration d has passed, unless the boot
// ends first. A zero scaled duration runs fn at once, synchronously.
func (u *Unit) after(b *boot, d time.Duration, fn func()) {
	d = u.scaled(d)
	if d <= 0 {
		fn()
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-b.ctx.Done():
		}
	}()
}

// uptime is the boot's simulated uptime.
func (u *Unit) uptime(b *boot) time.Duration {
	elapsed := time.Since(b.start)
	if u.scale <= 0 {
		return elapsed
	}
	return time.Duration(float64(elapsed) / u.scale)
}

// sleepUntil waits until the boot's uptime reaches at.
func (u *Unit) sleepUntil(b *boot, at time.Duration) bool {
	return u.sleep(b, at-u.uptime(b))
}
