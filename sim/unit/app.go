package unit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"nrfline/lwm2m"
)

// Log modules of the NCS lwm2m_client sample (lwm2m-bootstrap.md §3–§4).
const (
	modApp      = "app_lwm2m_client"
	modRD       = "net_lwm2m_rd_client"
	modSecurity = "lwm2m_security"
)

// LwM2M client constants.
const (
	defaultLifetime = 43200            // CONFIG_LWM2M_ENGINE_DEFAULT_LIFETIME (NCS sample)
	maxRetries      = 5                // CONFIG_LWM2M_RD_CLIENT_MAX_RETRIES
	exchangeTimeout = 30 * time.Second // one bootstrap/registration attempt (real time, not scaled)
	finishWait      = time.Second      // the client waits 1 s after Bootstrap-Finish
	offlineTime     = 400 * time.Millisecond
)

// Zephyr errno values printed in "RD Client socket error: <n>".
const (
	errnoEIO          = 5
	errnoECONNREFUSED = 111
	errnoETIMEDOUT    = 116
)

// appStart is the application up to its request to connect (before the
// console is ready): the first log lines, CEREG subscription, CFUN=1.
func (u *Unit) appStart(b *boot) bool {
	steps := []struct {
		at  time.Duration
		msg string
	}{
		{251831 * time.Microsecond, "Run LWM2M client"},
		{517120 * time.Microsecond, "endpoint: " + u.endpoint()},
		{531005 * time.Microsecond, "Connecting to network."},
		{531036 * time.Microsecond, "This may take several minutes."},
	}
	for _, s := range steps {
		if !u.sleepUntil(b, s.at) {
			return false
		}
		u.logf(b, lvlInf, modApp, "%s", s.msg)
	}
	u.mu.Lock()
	if u.current(b) {
		u.mdm.ceregN = 2 // lte_lc subscribes; at_host forwards every notification
	}
	u.mu.Unlock()
	return u.setFun(b, 1)
}

func (u *Unit) endpoint() string { return "urn:imei:" + u.cfg.IMEI }

// plan is what the application finds in the modem and settings at start.
type plan struct {
	bsPSK     *lwm2m.PSK // nil: bootstrap credentials missing
	serverPSK *lwm2m.PSK // nil: server tag lacks PSK or identity
	settings  *settings  // stored LwM2M settings, nil if none
}

func (u *Unit) plan() plan {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := plan{
		bsPSK:     u.tagPSKLocked(u.cfg.BootstrapTag),
		serverPSK: u.tagPSKLocked(u.cfg.ServerTag),
	}
	if u.st.Settings != nil && u.st.Settings.ServerURI != "" {
		s := *u.st.Settings
		p.settings = &s
	}
	return p
}

// tagPSKLocked reads identity (type 4) and PSK (type 3, hex) of a tag.
func (u *Unit) tagPSKLocked(tag uint32) *lwm2m.PSK {
	id, hasID := u.store.get(tag, typeIdentity)
	keyHex, hasKey := u.store.get(tag, typePSK)
	if !hasID || !hasKey {
		return nil
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) == 0 {
		return nil
	}
	return &lwm2m.PSK{Identity: id, Key: key}
}

// appRun is the application after the console is ready: wait for LTE,
// then bootstrap if needed and register (the §5 composed log).
func (u *Unit) appRun(b *boot) {
	if !u.waitRegistered(b) {
		return
	}
	ep := u.endpoint()
	u.logf(b, lvlInf, modApp, "Connected to LTE network")
	u.logf(b, lvlInf, modApp, "Client connect to server")
	u.logf(b, lvlInf, modRD, "Start LWM2M Client: %s", ep)
	u.logf(b, lvlInf, modApp, "LwM2M is connecting to server")
	p := u.plan()
	switch {
	case p.bsPSK == nil:
		u.logf(b, lvlErr, modSecurity, "No security credentials provisioned")
		u.logf(b, lvlErr, modRD, "Cannot init LWM2M engine (-2)")
	case p.serverPSK != nil && p.settings != nil:
		s := p.settings
		u.logf(b, lvlInf, modRD, "RD Client started with endpoint '%s' with client lifetime %d using server object %d",
			ep, s.Lifetime, s.ServerObject)
		u.register(b, s.ServerURI, p.serverPSK, s.Lifetime)
	default:
		u.bootstrapAndRegister(b, p.bsPSK)
	}
}

// bootstrapAndRegister runs the bootstrap, stores what it delivered and
// registers at the delivered server.
func (u *Unit) bootstrapAndRegister(b *boot, psk *lwm2m.PSK) {
	d, good := u.bootstrap(b, psk)
	if !good || !u.sleep(b, finishWait) {
		return
	}
	u.logf(b, lvlDbg, modApp, "rd_client_event: Bootstrap transfer complete")
	sec, srv, found := pickServer(d)
	if !found {
		u.logf(b, lvlErr, modRD, "No LwM2M server in the bootstrap data")
		return
	}
	lifetime := max(srv.Lifetime, defaultLifetime)
	u.logf(b, lvlInf, modRD, "RD Client started with endpoint '%s' with client lifetime %d using server object %d",
		u.endpoint(), lifetime, srv.ID)
	st := settings{ServerURI: sec.URI, ShortServerID: sec.ShortServerID, Lifetime: lifetime, ServerObject: srv.ID}
	acct := &lwm2m.PSK{Identity: string(sec.Identity), Key: sec.SecretKey}
	if !u.storeServer(b, st, acct) {
		return
	}
	u.register(b, sec.URI, acct, lifetime)
}

// bootstrap runs Bootstrap-Request … Finish with Zephyr's retry rules.
func (u *Unit) bootstrap(b *boot, psk *lwm2m.PSK) (*lwm2m.Delivered, bool) {
	ep := u.endpoint()
	opts := []lwm2m.ClientOption{lwm2m.WithEvents(func(ev lwm2m.ClientEvent) { u.bootstrapEvent(b, ev) }), lwm2m.WithLogger(u.log)}
	if u.cfg.BootstrapFormat != 0 {
		opts = append(opts, lwm2m.WithPreferredFormat(u.cfg.BootstrapFormat))
	}
	for attempt := 1; ; attempt++ {
		if !u.online(b) {
			return nil, false
		}
		u.logf(b, lvlInf, modRD, "Bootstrap started with endpoint '%s' using security object 0", ep)
		u.log.Debug("bootstrap", "uri", u.cfg.BootstrapURI, "psk", psk)
		ctx, cancel := context.WithTimeout(b.ctx, exchangeTimeout)
		d, err := lwm2m.Bootstrap(ctx, u.cfg.BootstrapURI, ep, psk, opts...)
		cancel()
		if err == nil {
			u.log.Info("bootstrap delivered", "format", lwm2m.FormatName(d.Format), "security", len(d.Security), "servers", len(d.Servers))
			return d, true
		}
		if b.ctx.Err() != nil {
			return nil, false
		}
		u.log.Info("bootstrap failed", "attempt", attempt, "err", err)
		var re *lwm2m.ResponseError
		if errors.As(err, &re) {
			u.logf(b, lvlErr, modRD, "Failed with code %s (%s). Not Retrying.", codeDot(re.Code), codeName(re.Code))
			u.logf(b, lvlDbg, modApp, "rd_client_event: Bootstrap registration failure!")
			return nil, false
		}
		if !u.networkError(b, attempt, err, "Bootstrap Timeout") {
			return nil, false
		}
	}
}

// bootstrapEvent logs the client's progress like Zephyr and fires the
// reset-during-bootstrap fault once.
func (u *Unit) bootstrapEvent(b *boot, ev lwm2m.ClientEvent) {
	switch ev {
	case lwm2m.BootstrapRegDone:
		u.logf(b, lvlInf, modRD, "Bootstrap registration done!")
		u.logf(b, lvlDbg, modApp, "rd_client_event: Bootstrap registration complete")
		u.logf(b, lvlInf, modApp, "LwM2M is bootstrapping")
		if u.takeBootstrapReset() {
			u.flush(b) // the lines above reach the station before the reset
			u.rebootFrom(b)
		}
	case lwm2m.BootstrapTransferDone:
		u.logf(b, lvlInf, modRD, "Bootstrap data transfer done!")
	}
}

func (u *Unit) takeBootstrapReset() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.cfg.Faults.ResetDuringBootstrap || u.bsReset {
		return false
	}
	u.bsReset = true
	return true
}

// online reports whether the modem is attached. The station switching LTE
// off (AT+CFUN=4) stops all LwM2M activity until the next reset.
func (u *Unit) online(b *boot) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.current(b) && u.mdm.reg == 1
}

// networkError logs a failed exchange; true if the client retries. An
// exchange that got no reply logs the RD client's WRN timeout line (which a
// station must not take for a final failure: the client retries).
func (u *Unit) networkError(b *boot, attempt int, err error, timeoutLine string) bool {
	if errno := errnoOf(err); errno == errnoETIMEDOUT {
		u.logf(b, lvlWrn, modRD, "%s", timeoutLine)
	} else {
		u.logf(b, lvlErr, modRD, "RD Client socket error: %d", errno)
	}
	if attempt >= maxRetries {
		u.logf(b, lvlErr, modRD, "Network error, max retries reached (%d)", attempt)
		u.logf(b, lvlErr, modApp, "LwM2M engine reported a network error.")
		return false
	}
	u.logf(b, lvlErr, modRD, "sm_do_network_error, retries %d", attempt)
	return u.sleep(b, time.Duration(attempt)*time.Second)
}

func errnoOf(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errnoETIMEDOUT
	case errors.Is(err, lwm2m.ErrHandshake):
		return errnoECONNREFUSED
	}
	return errnoEIO
}

// pickServer finds the delivered LwM2M server account: the first PSK
// security instance that is not a bootstrap server, and its server
// instance (paired by Short Server ID).
func pickServer(d *lwm2m.Delivered) (lwm2m.SecurityInstance, lwm2m.ServerInstance, bool) {
	for _, s := range d.Security {
		if s.BootstrapServer || s.Mode != lwm2m.ModePSK || s.URI == "" {
			continue
		}
		for _, srv := range d.Servers {
			if srv.ShortServerID == s.ShortServerID {
				return s, srv, true
			}
		}
		if len(d.Servers) > 0 {
			return s, d.Servers[0], true
		}
		return s, lwm2m.ServerInstance{ShortServerID: s.ShortServerID}, true
	}
	return lwm2m.SecurityInstance{}, lwm2m.ServerInstance{}, false
}

// storeServer writes the delivered account into the server tag (the modem
// must go offline for that) and stores the settings.
func (u *Unit) storeServer(b *boot, st settings, acct *lwm2m.PSK) bool {
	u.logf(b, lvlInf, modSecurity, "Need to write credentials, requesting LTE and GNSS offline...")
	if !u.setFun(b, 4) {
		return false
	}
	u.mu.Lock()
	if !u.current(b) {
		u.mu.Unlock()
		return false
	}
	tag := u.cfg.ServerTag
	u.store.del(tag, typePSK)
	u.store.del(tag, typeIdentity)
	u.store.put(tag, typeIdentity, acct.Identity)
	u.store.put(tag, typePSK, hex.EncodeToString(acct.Key))
	u.st.Settings = &st
	u.saveLocked()
	u.mu.Unlock()
	u.log.Info("server credentials stored", "tag", tag, "psk", acct)
	if !u.sleep(b, offlineTime) {
		return false
	}
	u.logf(b, lvlInf, modSecurity, "Requesting LTE and GNSS online")
	if !u.setFun(b, 1) || !u.waitRegistered(b) {
		return false
	}
	u.logf(b, lvlInf, modSecurity, "Modem connection restored")
	return true
}

// register registers at the LwM2M server with Zephyr's retry rules.
func (u *Unit) register(b *boot, uri string, psk *lwm2m.PSK, lifetime uint32) {
	for attempt := 1; ; attempt++ {
		if !u.online(b) {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, exchangeTimeout)
		loc, err := lwm2m.Register(ctx, uri, u.endpoint(), psk, lifetime)
		cancel()
		if err == nil {
			u.logf(b, lvlInf, modRD, "Registration Done (EP='%s')", loc)
			u.logf(b, lvlDbg, modApp, "rd_client_event: Registration complete")
			u.logf(b, lvlInf, modApp, "LwM2M is connected to server")
			return
		}
		if b.ctx.Err() != nil {
			return
		}
		u.log.Info("registration failed", "attempt", attempt, "err", err)
		var re *lwm2m.ResponseError
		if errors.As(err, &re) {
			u.logf(b, lvlErr, modRD, "Failed with code %s (%s).", codeDot(re.Code), codeName(re.Code))
			u.logf(b, lvlWrn, modApp, "Registration failure!")
			return
		}
		if !u.networkError(b, attempt, err, "Registration Timeout") {
			return
		}
	}
}

// codeDot prints a CoAP code as Zephyr does: 4.00 → "4.0", 4.03 → "4.3".
func codeDot(c codes.Code) string { return fmt.Sprintf("%d.%d", c>>5, c&0x1f) }

func codeName(c codes.Code) string {
	switch c {
	case codes.BadRequest:
		return "Bad Request"
	case codes.Forbidden:
		return "Forbidden"
	case codes.NotFound:
		return "Not Found"
	case codes.PreconditionFailed:
		return "Precondition Failed"
	}
	return "Unknown"
}
