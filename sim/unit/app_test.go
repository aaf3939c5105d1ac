package unit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"nrfline/lwm2m"
	"nrfline/sim/server"
)

const (
	ep    = "urn:imei:" + testIMEI
	epLog = "'" + ep + "'"
)

func appConfig(t testing.TB) Config {
	cfg := testConfig(t)
	cfg.NoApp = false
	cfg.Delay = fast
	return cfg
}

// bootLog is the §5 composed log up to "LwM2M is connecting to server".
var bootLog = []string{
	"<inf> app_lwm2m_client: Run LWM2M client",
	"<inf> app_lwm2m_client: endpoint: " + ep,
	"<inf> app_lwm2m_client: Connecting to network.",
	"<inf> app_lwm2m_client: This may take several minutes.",
	"<inf> app_lwm2m_client: Connected to LTE network",
	"<inf> app_lwm2m_client: Client connect to server",
	"<inf> net_lwm2m_rd_client: Start LWM2M Client: " + ep,
	"<inf> app_lwm2m_client: LwM2M is connecting to server",
}

func withBoot(lines ...string) []string { return append(slices.Clone(bootLog), lines...) }

func checkLog(t *testing.T, out string, want []string) {
	t.Helper()
	if got := logMessages(out); !slices.Equal(got, want) {
		t.Errorf("log lines:\n%s\nwant:\n%s\nraw: %q", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
}

// TestAppNoCredentials: boot output of the LwM2M firmware in the AT host,
// in order, with the exact log line format, ending in the no-credentials
// failure of §5.
func TestAppNoCredentials(t *testing.T) {
	u := mustStart(t, appConfig(t))
	c := mustOpen(t, u.Port())
	out := c.waitFor("Cannot init LWM2M engine (-2)")
	if !strings.HasPrefix(out, banner+"The AT host sample started\r\n") {
		t.Errorf("boot starts %q", out)
	}
	checkLog(t, out, withBoot(
		"<err> lwm2m_security: No security credentials provisioned",
		"<err> net_lwm2m_rd_client: Cannot init LWM2M engine (-2)"))
	prev := -1
	for _, ev := range []string{"Connecting to network.", "+CEREG: 2,\"0901\",\"02024720\",7\r\n", "\r\nReady\r\n"} {
		i := strings.Index(out, ev)
		if i <= prev {
			t.Errorf("%q at %d, not after the previous event (%d): %q", ev, i, prev, out)
		}
		prev = i
	}
	prev = strings.Index(out, "\r\nReady\r\n")
	for _, ev := range []string{"+CEREG: 1,\"0901\",\"02024720\",7\r\n", "Connected to LTE network"} {
		i := strings.Index(out, ev)
		if i <= prev {
			t.Errorf("%q at %d, not after the previous event (%d): %q", ev, i, prev, out)
		}
		prev = i
	}
	line := regexp.MustCompile(`(?m)^\[\d\d:\d\d:\d\d\.\d{3},\d{3}\] \x1b\[0m<inf> app_lwm2m_client: Run LWM2M client\x1b\[0m\r$`)
	if !line.MatchString(out) {
		t.Errorf("log line format: %q", out)
	}
	if !strings.Contains(out, "\x1b[1;31m<err> net_lwm2m_rd_client: Cannot init LWM2M engine (-2)\x1b[0m\r\n") {
		t.Errorf("error colour missing: %q", out)
	}
}

// TestAppShellBoot: in the shell the prompt is erased before each log line
// and printed again after it.
func TestAppShellBoot(t *testing.T) {
	cfg := appConfig(t)
	cfg.Shell = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	out := c.waitFor("Cannot init LWM2M engine (-2)")
	checkLog(t, out, withBoot(
		"<err> lwm2m_security: No security credentials provisioned",
		"<err> net_lwm2m_rd_client: Cannot init LWM2M engine (-2)"))
	erase := "\x1b[8D\x1b[J"
	if !strings.Contains(out, promptText()+erase+"[") {
		t.Errorf("no prompt erase before a log line: %q", out)
	}
	if strings.Contains(out, "+CEREG") {
		t.Errorf("notification printed without events_enable: %q", out)
	}
	c.expect(promptText())
	c.send("at AT+CGMM\r")
	c.expect("at AT+CGMM\r\nnRF9151-LACA\r\r\nOK\r\r\n\r\n" + promptText())
}

// TestAppCFUN4StopsAttach: the station's AT+CFUN=4 during the attach stops
// the application until the next reset, even when LTE comes back.
func TestAppCFUN4StopsAttach(t *testing.T) {
	cfg := appConfig(t)
	cfg.Delay = func(d time.Duration) time.Duration {
		if d == firstAttach {
			return time.Hour // the station is always faster
		}
		return d / 100
	}
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.waitFor("Ready")
	c.cmd("AT+CFUN=4", "OK\r\n+CEREG: 0\r\n")
	c.cmd("AT+CMEE=1", "OK\r\n")
	writeBootstrapCreds(c)
	c.cmd("AT+CFUN=1", "OK\r\n+CEREG: 2,\"0901\",\"02024720\",7\r\n")
	c.waitFor("+CEREG: 1,")
	if got := c.quiet(300 * time.Millisecond); len(logMessages(string(got))) != 0 {
		t.Errorf("application continued after CFUN=4: %q", got)
	}
}

// TestAppLTENever: no attach, so the application never gets past
// "Connecting to network".
func TestAppLTENever(t *testing.T) {
	cfg := appConfig(t)
	cfg.Faults.LTENever = true
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	out := c.waitFor("Ready")
	out += string(c.quiet(500 * time.Millisecond)) // 100 times the attach time
	checkLog(t, out, bootLog[:4])
	c.cmd("AT+CEREG?", "+CEREG: 2,2,\"0901\",\"02024720\",7\r\nOK\r\n")
}

// TestAppNetworkError: nothing answers at the bootstrap URI.
func TestAppNetworkError(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "coaps://" + pc.LocalAddr().String()
	pc.Close()
	cfg := appConfig(t)
	cfg.BootstrapURI = dead
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.waitFor("Ready")
	provisionUnit(t, c)
	u.Reset()
	c.waitFor("*** Booting")
	out := c.waitFor("LwM2M engine reported a network error.")
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, "<inf> net_lwm2m_rd_client: Bootstrap started with endpoint "+epLog+" using security object 0")
		want = append(want, "<err> net_lwm2m_rd_client: RD Client socket error: <n>")
		if i < 5 {
			want = append(want, fmt.Sprintf("<err> net_lwm2m_rd_client: sm_do_network_error, retries %d", i))
		}
	}
	want = append(want, "<err> net_lwm2m_rd_client: Network error, max retries reached (5)",
		"<err> app_lwm2m_client: LwM2M engine reported a network error.")
	got := logMessages(out)
	for i, l := range got {
		got[i] = regexp.MustCompile(`socket error: \d+$`).ReplaceAllString(l, "socket error: <n>")
	}
	if w := withBoot(want...); !slices.Equal(got, w) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
}

// provisionUnit is the station's inject step: offline, bootstrap PSK.
func provisionUnit(t *testing.T, c *term) {
	t.Helper()
	for _, cmd := range []string{"AT+CFUN=4", `AT%CMNG=0,100,4,"` + ep + `"`, `AT%CMNG=0,100,3,"` + testPSK + `"`} {
		c.send(cmd + "\r\n")
		if out := c.final(); !strings.HasSuffix(out, "\nOK\r\n") && out != "OK\r\n" {
			t.Fatalf("%s: %q", cmd, out)
		}
	}
	c.quiet(100 * time.Millisecond)
}

// lab is a virtual line's servers with one unit's accounts registered
// through the Leshan REST APIs, as the station does.
type lab struct {
	s     *server.Servers
	bsKey []byte
	dmKey []byte
}

func mustLab(t *testing.T, faults server.Faults, dmIdentity string) *lab {
	t.Helper()
	s, err := server.Start(context.Background(), server.Config{Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := &lab{s: s, dmKey: []byte("dm-key-0123456789abc")}
	l.bsKey, _ = hex.DecodeString(testPSK)
	sec := func(endpoint, identity string, key []byte) string {
		return fmt.Sprintf(`{"endpoint":%q,"tls":{"mode":"psk","details":{"identity":%q,"key":%q}}}`, endpoint, identity, hex.EncodeToString(key))
	}
	dmEndpoint := ep
	if dmIdentity != ep {
		dmEndpoint = "urn:imei:000000000000000" // the identity belongs to another endpoint
	}
	ints := func(b []byte) string { j, _ := json.Marshal(byteInts(b)); return string(j) }
	cfg := fmt.Sprintf(`{"servers":{"0":{"shortId":123,"lifetime":60,"defaultMinPeriod":1,"notifIfDisabled":true,"binding":"U"}},
 "security":{"1":{"uri":%q,"bootstrapServer":false,"securityMode":"PSK","publicKeyOrId":%s,"secretKey":%s,"serverId":123}},
 "oscore":{},"toDelete":["/0","/1"]}`, s.DMServerURI(), ints([]byte(dmIdentity)), ints(l.dmKey))
	for _, st := range []struct{ method, url, body string }{
		{"PUT", s.DMURL() + "/security/clients/", sec(dmEndpoint, dmIdentity, l.dmKey)},
		{"PUT", s.PortalURL() + "/security/clients/", sec(ep, ep, l.bsKey)},
		{"POST", s.PortalURL() + "/bootstrap/" + url.PathEscape(ep), cfg},
	} {
		req, err := http.NewRequest(st.method, st.url, strings.NewReader(st.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", st.method, st.url, resp.StatusCode, b)
		}
	}
	return l
}

// byteInts marshals as a JSON array of numbers (Leshan's byte arrays).
type byteInts []byte

func (b byteInts) MarshalJSON() ([]byte, error) {
	ints := make([]int, len(b))
	for i, v := range b {
		ints[i] = int(v)
	}
	return json.Marshal(ints)
}

var bootstrapLog = []string{
	"<inf> net_lwm2m_rd_client: Bootstrap started with endpoint " + epLog + " using security object 0",
	"<inf> net_lwm2m_rd_client: Bootstrap registration done!",
	"<dbg> app_lwm2m_client: rd_client_event: Bootstrap registration complete",
	"<inf> app_lwm2m_client: LwM2M is bootstrapping",
	"<inf> net_lwm2m_rd_client: Bootstrap data transfer done!",
	"<dbg> app_lwm2m_client: rd_client_event: Bootstrap transfer complete",
	"<inf> net_lwm2m_rd_client: RD Client started with endpoint " + epLog + " with client lifetime 43200 using server object 0",
	"<inf> lwm2m_security: Need to write credentials, requesting LTE and GNSS offline...",
	"<inf> lwm2m_security: Requesting LTE and GNSS online",
	"<inf> lwm2m_security: Modem connection restored",
}

func registeredLog(id string) []string {
	return []string{
		"<inf> net_lwm2m_rd_client: Registration Done (EP='" + id + "')",
		"<dbg> app_lwm2m_client: rd_client_event: Registration complete",
		"<inf> app_lwm2m_client: LwM2M is connected to server",
	}
}

// liveRun is one live scenario: servers, a provisioned unit, then a reset
// and the unit's output until a marker line.
type liveRun struct {
	l    *lab
	u    *Unit
	c    *term
	out  string
	want []string
	diag *logBuffer
}

type scenario struct {
	format     uint16 // the unit's pct
	faults     server.Faults
	dmIdentity string
	unit       Faults
	until      string
	want       func(l *lab) []string
}

func (sc scenario) run(t *testing.T) liveRun {
	t.Helper()
	l := mustLab(t, sc.faults, sc.dmIdentity)
	cfg := appConfig(t)
	log, diag := testLogger(t)
	cfg.Logger = log
	cfg.BootstrapURI = l.s.BootstrapURI()
	cfg.Faults = sc.unit
	cfg.BootstrapFormat = sc.format
	u := mustStart(t, cfg)
	c := mustOpen(t, u.Port())
	c.waitFor("Ready")
	provisionUnit(t, c)
	u.Reset()
	c.waitFor("*** Booting") // older output may still be in the pipe
	out := c.waitFor(sc.until)
	return liveRun{l: l, u: u, c: c, out: out, want: sc.want(l), diag: diag}
}

// live runs sc and checks the unit's log.
func (sc scenario) live(t *testing.T) liveRun {
	t.Helper()
	r := sc.run(t)
	checkLog(t, r.out, r.want)
	return r
}

// TestLiveBootstrap is the whole line for one unit: credentials written
// over the pty, accounts registered through the portal's REST API, reset,
// bootstrap and registration exactly as the §5 log; then a reset without
// bootstrap (verify_reboot).
func TestLiveBootstrap(t *testing.T) {
	r := scenario{
		dmIdentity: ep,
		until:      "LwM2M is connected to server",
		want: func(l *lab) []string {
			regs := l.s.Registrations(ep)
			if len(regs) != 1 {
				t.Fatalf("registrations %+v", regs)
			}
			return withBoot(append(slices.Clone(bootstrapLog), registeredLog(regs[0].ID)...)...)
		},
	}.live(t)
	srv := r.u.Credentials(101)
	if srv[4] != ep || srv[3] != hex.EncodeToString(r.l.dmKey) {
		t.Errorf("server tag %v", srv)
	}
	if !strings.Contains(r.out, "+CEREG: 0\r\n") {
		t.Errorf("no detach while writing credentials: %q", r.out)
	}

	r.u.Reset()
	r.c.waitFor("*** Booting")
	out := r.c.waitFor("LwM2M is connected to server")
	regs := r.l.s.Registrations(ep)
	if len(regs) != 2 {
		t.Fatalf("registrations %+v", regs)
	}
	checkLog(t, out, withBoot(append([]string{
		"<inf> net_lwm2m_rd_client: RD Client started with endpoint " + epLog + " with client lifetime 43200 using server object 0"},
		registeredLog(regs[1].ID)...)...))
}

// TestLiveBootstrapFormats: a unit that asks for SenML-JSON or SenML-CBOR
// (pct, as NCS LwM2M 1.1 builds do) gets its writes in that format, reads
// them and registers.
func TestLiveBootstrapFormats(t *testing.T) {
	for _, cf := range []uint16{lwm2m.FormatSenMLJSON, lwm2m.FormatSenMLCBOR} {
		t.Run(lwm2m.FormatName(cf), func(t *testing.T) {
			r := scenario{
				format: cf, dmIdentity: ep, until: "LwM2M is connected to server",
				want: func(l *lab) []string {
					regs := l.s.Registrations(ep)
					if len(regs) != 1 {
						t.Fatalf("registrations %+v", regs)
					}
					return withBoot(append(slices.Clone(bootstrapLog), registeredLog(regs[0].ID)...)...)
				},
			}.live(t)
			if want := "format=" + lwm2m.FormatName(cf); !r.diag.contains(want) {
				t.Errorf("unit diagnostics lack %q", want)
			}
		})
	}
}

// TestLiveFailures: the §5 failure shapes against the real servers.
func TestLiveFailures(t *testing.T) {
	tests := []struct {
		name string
		sc   scenario
	}{
		{"bootstrap rejected", scenario{
			faults:     func(string) server.Fault { return server.Fault{BootstrapReject: true} },
			dmIdentity: ep,
			until:      "Bootstrap registration failure!",
			want: func(*lab) []string {
				return withBoot(bootstrapLog[0],
					"<err> net_lwm2m_rd_client: Failed with code 4.0 (Bad Request). Not Retrying.",
					"<dbg> app_lwm2m_client: rd_client_event: Bootstrap registration failure!")
			},
		}},
		{"registration forbidden", scenario{
			dmIdentity: "someone-else",
			until:      "Registration failure!",
			want: func(*lab) []string {
				return withBoot(append(slices.Clone(bootstrapLog),
					"<err> net_lwm2m_rd_client: Failed with code 4.3 (Forbidden).",
					"<wrn> app_lwm2m_client: Registration failure!")...)
			},
		}},
		{"reset during bootstrap", scenario{
			dmIdentity: ep,
			unit:       Faults{ResetDuringBootstrap: true},
			until:      "LwM2M is connected to server",
			want: func(l *lab) []string {
				first := withBoot(bootstrapLog[:4]...)
				regs := l.s.Registrations(ep)
				if len(regs) != 1 {
					return nil
				}
				return append(first, withBoot(append(slices.Clone(bootstrapLog), registeredLog(regs[0].ID)...)...)...)
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.sc.live(t)
			if tt.sc.unit.ResetDuringBootstrap && strings.Count(r.out, banner) != 1 {
				t.Errorf("want a second boot: %q", r.out)
			}
		})
	}
}

// unitGoroutines returns the stacks of goroutines running the unit's code
// (the test's own goroutines excluded), apart from those named in keep.
func unitGoroutines(keep ...string) []string {
	buf := make([]byte, 1<<22)
	var out []string
next:
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "nrfline/sim/unit.(*Unit)") {
			continue
		}
		for _, k := range keep {
			if strings.Contains(g, "nrfline/sim/unit.(*Unit)."+k+"(") {
				continue next
			}
		}
		out = append(out, g)
	}
	return out
}

// TestStopsCleanly: Halt, Erase, Unplug and Close in the middle of a live
// bootstrap end the unit's goroutines (for Halt/Erase all but the pty
// reader and writer, which live until Unplug/Close).
func TestStopsCleanly(t *testing.T) {
	stops := []struct {
		name string
		stop func(u *Unit)
		keep []string
	}{
		{"halt", func(u *Unit) { u.Halt() }, []string{"reader", "writer"}},
		{"erase", func(u *Unit) { u.Halt(); u.Erase(true) }, []string{"reader", "writer"}},
		{"unplug", func(u *Unit) { u.Unplug() }, nil},
		{"close", func(u *Unit) { u.Close() }, nil},
	}
	for _, st := range stops {
		t.Run(st.name, func(t *testing.T) {
			l := mustLab(t, nil, ep)
			cfg := appConfig(t)
			cfg.BootstrapURI = l.s.BootstrapURI()
			u := mustStart(t, cfg)
			c := mustOpen(t, u.Port())
			c.waitFor("Ready")
			provisionUnit(t, c)
			u.Reset()
			c.waitFor("Bootstrap started")
			st.stop(u)
			deadline := time.Now().Add(10 * time.Second)
			for len(unitGoroutines(st.keep...)) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if left := unitGoroutines(st.keep...); len(left) > 0 {
				t.Errorf("%d unit goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
			}
		})
	}
}
