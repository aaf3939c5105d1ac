package inject

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"nrfline/inject/at"
	"nrfline/inject/at/attest"
	"nrfline/station"
)

// composedLog is lwm2m-bootstrap.md §5 as the UART prints it: colours,
// CR LF, a URC in between.
func composedLog() string {
	l := attest.LogLine
	ep := "urn:imei:352656100367872"
	return "*** Booting nRF Connect SDK v3.0.0-3bfc46578e42 ***\r\n" +
		"*** Using Zephyr OS v4.0.99-3e0ce7636fa6 ***\r\n" +
		l("00:00:00.251,831", "inf", "app_lwm2m_client", "Run LWM2M client") +
		l("00:00:00.517,120", "inf", "app_lwm2m_client", "endpoint: "+ep) +
		l("00:00:00.531,005", "inf", "app_lwm2m_client", "Connecting to network.") +
		l("00:00:00.531,036", "inf", "app_lwm2m_client", "This may take several minutes.") +
		"+CEREG: 5,\"0901\",\"02024720\",7\r\n" +
		l("00:00:05.123,456", "inf", "app_lwm2m_client", "Connected to LTE network") +
		l("00:00:05.124,000", "inf", "app_lwm2m_client", "Client connect to server") +
		l("00:00:05.124,200", "inf", "net_lwm2m_rd_client", "Start LWM2M Client: "+ep) +
		l("00:00:05.124,500", "inf", "app_lwm2m_client", "LwM2M is connecting to server") +
		l("00:00:05.130,000", "inf", "net_lwm2m_rd_client", "Bootstrap started with endpoint '"+ep+"' using security object 0") +
		l("00:00:07.800,000", "inf", "net_lwm2m_rd_client", "Bootstrap registration done!") +
		l("00:00:07.800,100", "dbg", "app_lwm2m_client", "rd_client_event: Bootstrap registration complete") +
		l("00:00:07.800,300", "inf", "app_lwm2m_client", "LwM2M is bootstrapping") +
		l("00:00:08.900,000", "inf", "net_lwm2m_rd_client", "Bootstrap data transfer done!") +
		l("00:00:09.900,000", "dbg", "app_lwm2m_client", "rd_client_event: Bootstrap transfer complete") +
		l("00:00:09.901,000", "inf", "net_lwm2m_rd_client", "RD Client started with endpoint '"+ep+"' with client lifetime 43200 using server object 0") +
		l("00:00:09.902,000", "inf", "lwm2m_security", "Need to write credentials, requesting LTE and GNSS offline...") +
		l("00:00:10.300,000", "inf", "lwm2m_security", "Requesting LTE and GNSS online") +
		l("00:00:12.500,000", "inf", "lwm2m_security", "Modem connection restored") +
		l("00:00:14.100,000", "inf", "net_lwm2m_rd_client", "Registration Done (EP='Xy12abCD')") +
		l("00:00:14.100,200", "dbg", "app_lwm2m_client", "rd_client_event: Registration complete") +
		l("00:00:14.100,400", "inf", "app_lwm2m_client", "LwM2M is connected to server")
}

// TestWatchComposedLog: the §5 log read through the port after a reset:
// booted, attached, bootstrapped, registered, endpoint. A registration
// line printed before Watch began does not count.
func TestWatchComposedLog(t *testing.T) {
	r := newRig(t, false, at.ModeAT, nil)
	ctx := ctxT(t)
	r.peer.Write(attest.LogLine("00:01:00.000,000", "inf", "app_lwm2m_client", "LwM2M is connected to server"))
	if _, err := r.m.Session().Command(ctx, "AT"); err != nil { // the old line is consumed meanwhile
		t.Fatal(err)
	}
	resets := 0
	trigger := func(context.Context) error {
		resets++
		r.peer.Write(composedLog() + attest.LogLine("00:00:15.000,000", "inf", "app", "after the end"))
		return nil
	}
	rep, err := r.m.Watch(ctx, station.Markers{}, trigger)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if resets != 1 {
		t.Errorf("trigger ran %d times", resets)
	}
	if !rep.Booted || rep.Reboots != 0 || !rep.Attached || !rep.Bootstrapped || !rep.Registered ||
		rep.Endpoint != "urn:imei:352656100367872" || rep.Failure != station.CodeNone {
		t.Errorf("report %+v", rep)
	}
	if rep.BootstrapAt <= 0 || rep.RegisteredAt < rep.BootstrapAt {
		t.Errorf("times: bootstrap %v, registered %v", rep.BootstrapAt, rep.RegisteredAt)
	}
	if _, err := r.m.ListTag(ctx, 101); err != nil {
		t.Errorf("the session must keep working after the watch: %v", err)
	}
}

// TestBootWatch: each log shape gives its report (lwm2m-bootstrap.md §5).
func TestBootWatch(t *testing.T) {
	l := func(lvl, module, msg string) string {
		return strings.TrimSuffix(attest.LogLine("00:00:01.000,000", lvl, module, msg), "\r\n")
	}
	banner := "*** Booting nRF Connect SDK v3.0.0 ***"
	for _, tc := range []struct {
		name    string
		markers station.Markers
		lines   []string
		done    bool
		want    station.BootReport
	}{
		{"rejected", station.Markers{}, []string{banner, l("inf", "app_lwm2m_client", "Connected to LTE network"),
			l("err", "net_lwm2m_rd_client", "Failed with code 4.0 (Bad Request). Not Retrying.")}, true,
			station.BootReport{Booted: true, Attached: true, Failure: station.BootstrapRejected,
				FailureLine: "[00:00:01.000,000] <err> net_lwm2m_rd_client: Failed with code 4.0 (Bad Request). Not Retrying."}},
		{"rejected at dbg only", station.Markers{}, []string{banner, l("dbg", "app_lwm2m_client", "rd_client_event: Bootstrap registration failure!")}, true,
			station.BootReport{Booted: true, Failure: station.BootstrapRejected, FailureLine: "[00:00:01.000,000] <dbg> app_lwm2m_client: rd_client_event: Bootstrap registration failure!"}},
		{"no credentials", station.Markers{}, []string{banner, l("err", "lwm2m_security", "No security credentials provisioned")}, true,
			station.BootReport{Booted: true, Failure: station.BootstrapNoCredentials, FailureLine: "[00:00:01.000,000] <err> lwm2m_security: No security credentials provisioned"}},
		{"cannot init", station.Markers{}, []string{banner, l("err", "app_lwm2m_client", "Cannot init LWM2M engine (-2)")}, true,
			station.BootReport{Booted: true, Failure: station.BootstrapNoCredentials, FailureLine: "[00:00:01.000,000] <err> app_lwm2m_client: Cannot init LWM2M engine (-2)"}},
		{"network", station.Markers{}, []string{banner, l("err", "net_lwm2m_rd_client", "Network error, max retries reached (5)")}, true,
			station.BootReport{Booted: true, Failure: station.BootstrapNetwork, FailureLine: "[00:00:01.000,000] <err> net_lwm2m_rd_client: Network error, max retries reached (5)"}},
		{"registration refused", station.Markers{}, []string{banner, l("inf", "app_lwm2m_client", "LwM2M is bootstrapping"),
			l("err", "net_lwm2m_rd_client", "Failed with code 4.3 (Forbidden).")}, true,
			station.BootReport{Booted: true, Bootstrapped: true, Failure: station.RegistrationFailed, FailureLine: "[00:00:01.000,000] <err> net_lwm2m_rd_client: Failed with code 4.3 (Forbidden)."}},
		{"registration refused at wrn only", station.Markers{}, []string{banner, l("inf", "app_lwm2m_client", "LwM2M is bootstrapping"),
			l("wrn", "app_lwm2m_client", "Registration failure!")}, true,
			station.BootReport{Booted: true, Bootstrapped: true, Failure: station.RegistrationFailed, FailureLine: "[00:00:01.000,000] <wrn> app_lwm2m_client: Registration failure!"}},
		// any refusal code, not only Leshan's 4.00 (lwm2m-bootstrap.md §3)
		{"bootstrap refused 4.03", station.Markers{}, []string{banner, l("err", "net_lwm2m_rd_client", "Failed with code 4.3 (Forbidden). Not Retrying.")}, true,
			station.BootReport{Booted: true, Failure: station.BootstrapRejected, FailureLine: "[00:00:01.000,000] <err> net_lwm2m_rd_client: Failed with code 4.3 (Forbidden). Not Retrying."}},
		{"old fork's refusal", station.Markers{}, []string{banner, "Failed: 4.03 - Forbidden.  Not Retrying."}, true,
			station.BootReport{Booted: true, Failure: station.BootstrapRejected, FailureLine: "Failed: 4.03 - Forbidden.  Not Retrying."}},
		// a refusal once the RD client registers is the LwM2M server's
		{"registration refused without bootstrap", station.Markers{}, []string{banner,
			l("inf", "net_lwm2m_rd_client", "RD Client started with endpoint 'urn:imei:1' with client lifetime 43200 using server object 0"),
			l("err", "net_lwm2m_rd_client", "Failed with code 4.3 (Forbidden). Not Retrying.")}, true,
			station.BootReport{Booted: true, Endpoint: "urn:imei:1", Failure: station.RegistrationFailed,
				FailureLine: "[00:00:01.000,000] <err> net_lwm2m_rd_client: Failed with code 4.3 (Forbidden). Not Retrying."}},
		// the LwM2M server's refusal at the RD client's default level (WRN:
		// no "RD Client started" line) on a unit that did not bootstrap
		{"registration refused, default log level", station.Markers{}, []string{banner,
			l("err", "net_lwm2m_rd_client", "Failed with code 4.3 (Forbidden).")}, true,
			station.BootReport{Booted: true, Failure: station.RegistrationFailed,
				FailureLine: "[00:00:01.000,000] <err> net_lwm2m_rd_client: Failed with code 4.3 (Forbidden)."}},
		// the client retries after a timeout: not a failure yet
		{"timeouts are retried", station.Markers{}, []string{banner, l("wrn", "net_lwm2m_rd_client", "Bootstrap Timeout"),
			l("wrn", "net_lwm2m_rd_client", "Registration Timeout")}, false,
			station.BootReport{Booted: true}},
		// printed by the previous boot while the reset tool starts
		{"lines before the reset's banner", station.Markers{}, []string{l("err", "app_lwm2m_client", "LwM2M engine reported a network error."),
			l("inf", "app_lwm2m_client", "LwM2M is connected to server"), banner}, false,
			station.BootReport{Booted: true}},
		{"registered without bootstrap", station.Markers{}, []string{banner, l("inf", "app_lwm2m_client", "LwM2M is connecting to server"),
			l("inf", "app_lwm2m_client", "LwM2M is connected to server")}, true,
			station.BootReport{Booted: true, Registered: true}},
		{"old spelling, plain lines", station.Markers{}, []string{banner, "LwM2M is boosttrapping", "Registration complete"}, true,
			station.BootReport{Booted: true, Bootstrapped: true, Registered: true}},
		{"reboot in the middle", station.Markers{}, []string{banner, l("inf", "app_lwm2m_client", "LwM2M is bootstrapping"), banner,
			"*** Using Zephyr OS v4.0.99 ***", l("inf", "app_lwm2m_client", "LwM2M is connected to server")}, true,
			station.BootReport{Booted: true, Reboots: 1, Bootstrapped: true, Registered: true}},
		{"mcuboot then app is one boot", station.Markers{}, []string{"*** Booting MCUboot v2.1.0-dev ***", "I: Starting bootloader",
			banner, "*** Booting MCUboot v2.1.0-dev ***", banner}, false,
			station.BootReport{Booted: true, Reboots: 1}},
		{"module name is not the message", station.Markers{}, []string{banner, "[00:00:01.000,000] <inf> Registration_complete: x"}, false,
			station.BootReport{Booted: true}},
		{"configured markers", station.Markers{Registered: []string{"APP READY"}, Boot: []string{"HELLO"}}, []string{"HELLO",
			"LwM2M is connected to server", l("inf", "app", "APP READY")}, true,
			station.BootReport{Booted: true, Registered: true}},
		{"endpoint from the RD client", station.Markers{}, []string{banner, l("inf", "net_lwm2m_rd_client", "Start LWM2M Client: urn:imei:1")}, false,
			station.BootReport{Booted: true, Endpoint: "urn:imei:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBootWatch(tc.markers.WithDefaults())
			when := w.start.Add(time.Second)
			done := false
			for _, line := range tc.lines {
				if done {
					t.Fatalf("line %q after the watch ended", line)
				}
				done = w.line(at.StripANSI(line), when)
			}
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			got := w.rep
			if got.Bootstrapped {
				got.BootstrapAt = 0
			}
			if got.Registered {
				got.RegisteredAt = 0
			}
			if got != tc.want {
				t.Errorf("report:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestBootWatchBannerLost: once the reset returned, the new boot's lines
// count even if its banner never arrived whole (line noise at reset); lines
// from before the reset returned still do not.
func TestBootWatchBannerLost(t *testing.T) {
	w := newBootWatch(station.DefaultMarkers())
	w.triggered = w.start.Add(time.Second)
	before, after := w.start.Add(500*time.Millisecond), w.start.Add(2*time.Second)
	if w.line("[00:00:09.000,000] <inf> app_lwm2m_client: LwM2M is connected to server", before) {
		t.Fatal("a line from before the reset returned ended the watch")
	}
	for _, line := range []string{"*** Using Zephyr OS v4.1.99 ***", "[00:00:07.800,300] <inf> app_lwm2m_client: LwM2M is bootstrapping"} {
		if w.line(line, after) {
			t.Fatalf("%q ended the watch", line)
		}
	}
	if !w.line("[00:00:14.100,400] <inf> app_lwm2m_client: LwM2M is connected to server", after) {
		t.Fatal("registration after the reset did not end the watch")
	}
	if w.rep.Booted || !w.rep.Bootstrapped || !w.rep.Registered {
		t.Errorf("report %+v, want bootstrapped and registered without a banner", w.rep)
	}
}

// TestWatchEnds: ctx running out returns the report so far with ctx's
// error; a failing trigger and an unplug are reported as such.
func TestWatchEnds(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		r := newRig(t, false, at.ModeAT, nil)
		ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
		defer cancel()
		rep, err := r.m.Watch(ctx, station.Markers{}, func(context.Context) error {
			r.peer.Write("*** Booting nRF Connect SDK v3.0.0 ***\r\n" + attest.LogLine("00:00:05.0", "inf", "app", "Connected to LTE network"))
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) || !rep.Booted || !rep.Attached || rep.Registered {
			t.Errorf("got %+v, %v", rep, err)
		}
	})
	t.Run("trigger fails", func(t *testing.T) {
		r := newRig(t, false, at.ModeAT, nil)
		_, err := r.m.Watch(ctxT(t), station.Markers{}, func(context.Context) error {
			return station.Errorf(station.FlashJLink, nil, "reset")
		})
		if station.CodeOf(err) != station.FlashJLink {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unplug", func(t *testing.T) {
		r := newRig(t, false, at.ModeAT, nil)
		rep, err := r.m.Watch(ctxT(t), station.Markers{}, func(context.Context) error {
			r.peer.Write("*** Booting nRF Connect SDK v3.0.0 ***\r\n")
			go func() { // unplug once the banner got through (a hangup flushes the tty)
				for end := time.Now().Add(10 * time.Second); !r.obs.has("log: *** Booting nRF Connect SDK v3.0.0 ***") && time.Now().Before(end); {
					time.Sleep(5 * time.Millisecond)
				}
				r.peer.Unplug()
			}()
			return nil
		})
		if station.CodeOf(err) != station.UnitUnplugged || !rep.Booted {
			t.Errorf("got %+v, %v", rep, err)
		}
	})
}
