package unit

import (
	"strings"
	"testing"
)

// response renders a result as the AT host sends it.
func response(r result) string { return r.text() }

// run executes commands in order and returns the last response.
func run(m *modem, cmds ...string) string {
	var r result
	for _, c := range cmds {
		r = m.exec(c)
	}
	return response(r)
}

func TestModemCommands(t *testing.T) {
	const (
		d3 = "D65DF89F702EEC58CA3C7BF2001C9FFC7CD80553AE01D42A799BA26756142D96"
		d4 = "A838F5916244861F5C1ED19CCE8512CDED03214494BEC07302AEAEB61C324042"
	)
	reserved := "%CMNG: 4294967293,10,\"2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1\"\r\n" +
		"%CMNG: 4294967294,6,\"A3CC4121A62D4BB103AE92F70A77A456886AE3CD5B2D156A200A1B90D9E92E05\"\r\n" +
		"%CMNG: 4294967292,11,\"2027C4699EAA90A414D33FA81B975C0FDEDEFB04A19CEA1ED43A8876CAD31E89\"\r\n"
	writeBoth := []string{`AT%CMNG=0,100,4,"urn:imei:352656100367872"`, `AT%CMNG=0,100,3,"` + testPSK + `"`}
	tests := []struct {
		name string
		cmds []string
		want string
	}{
		{"AT", []string{"AT"}, "OK\r\n"},
		{"lowercase is not a command", []string{"at+cgsn"}, "ERROR\r\n"},
		{"trailing space", []string{"AT+CGSN "}, "ERROR\r\n"},
		{"unknown", []string{"AT+FOO"}, "ERROR\r\n"},
		{"CMEE test", []string{"AT+CMEE=?"}, "+CMEE: (0,1)\r\nOK\r\n"},
		{"CMEE=2 refused", []string{"AT+CMEE=2"}, "ERROR\r\n"},
		{"CMEE read after set", []string{"AT+CMEE=1", "AT+CMEE?"}, "+CMEE: 1\r\nOK\r\n"},
		{"CGSN=1", []string{"AT+CGSN=1"}, "+CGSN: \"352656100367872\"\r\nOK\r\n"},
		{"CGSN=0 bare", []string{"AT+CGSN=0"}, "352656100367872\r\nOK\r\n"},
		{"CGSN test", []string{"AT+CGSN=?"}, "+CGSN: (0-3)\r\nOK\r\n"},
		{"CGSN=4", []string{"AT+CGSN=4"}, "ERROR\r\n"},
		{"CGMI", []string{"AT+CGMI"}, "Nordic Semiconductor ASA\r\nOK\r\n"},
		{"XMODEMUUID", []string{"AT%XMODEMUUID"}, "%XMODEMUUID: " + testUUID + "\r\nOK\r\n"},
		{"SHORTSWVER", []string{"AT%SHORTSWVER"}, "%SHORTSWVER: nrf91x1_2.0.2\r\nOK\r\n"},
		{"CFUN test", []string{"AT+CFUN=?"}, "+CFUN: (0,1,4,20,21,30,31,40,41,44)\r\nOK\r\n"},
		{"CFUN=2 not settable", []string{"AT+CFUN=2"}, "ERROR\r\n"},
		{"CFUN reads last set", []string{"AT+CFUN=21", "AT+CFUN?"}, "+CFUN: 21\r\nOK\r\n"},
		{"SIM off, CMEE=0", []string{"AT+CIMI"}, "ERROR\r\n"},
		{"SIM off, CMEE=1", []string{"AT+CMEE=1", "AT+CIMI"}, "+CME ERROR: 0\r\n"},
		{"SIM powering up", []string{"AT+CMEE=1", "AT+CFUN=41", "AT+CIMI"}, "+CME ERROR: 14\r\n"},
		{"XSIM powering up", []string{"AT+CFUN=41", "AT%XSIM?"}, "%XSIM: 0\r\nOK\r\n"},
		{"CEREG read searching", []string{"AT+CEREG=2", "AT+CFUN=1", "AT+CEREG?"}, "+CEREG: 2,2,\"0901\",\"02024720\",7\r\nOK\r\n"},
		{"CEREG read off", []string{"AT+CEREG?"}, "+CEREG: 0,0\r\nOK\r\n"},
		{"CEREG=6", []string{"AT+CEREG=6"}, "ERROR\r\n"},
		{"list empty", []string{"AT%CMNG=1,100"}, "OK\r\n"},
		{"list full includes reserved", []string{"AT%CMNG=1"}, reserved + "OK\r\n"},
		{"list by reserved tag", []string{"AT%CMNG=1,4294967294"}, "%CMNG: 4294967294,6,\"A3CC4121A62D4BB103AE92F70A77A456886AE3CD5B2D156A200A1B90D9E92E05\"\r\nOK\r\n"},
		{"list tag and type", append(writeBoth, "AT%CMNG=1,100,4"), "%CMNG: 100,4,\"" + d4 + "\"\r\nOK\r\n"},
		{"list while active", append(writeBoth, "AT+CFUN=1", "AT%CMNG=1,100"),
			"%CMNG: 100,3,\"" + d3 + "\"\r\n%CMNG: 100,4,\"" + d4 + "\"\r\nOK\r\n"},
		{"full list order", append(writeBoth, `AT%CMNG=0,7,4,"x"`, "AT%CMNG=1"),
			"%CMNG: 7,4,\"" + hexDigest("x") + "\"\r\n%CMNG: 100,3,\"" + d3 + "\"\r\n%CMNG: 100,4,\"" + d4 + "\"\r\n" + reserved + "OK\r\n"},
		{"write while LTE on", []string{"AT+CMEE=1", "AT+CFUN=21", `AT%CMNG=0,100,4,"x"`}, "+CME ERROR: 518\r\n"},
		{"write while LTE on CMEE=0", []string{"AT+CFUN=1", `AT%CMNG=0,100,4,"x"`}, "ERROR\r\n"},
		{"delete while LTE on", []string{"AT+CMEE=1", "AT+CFUN=1", "AT%CMNG=3,100,4"}, "+CME ERROR: 518\r\n"},
		{"write allowed with GNSS only", []string{"AT+CFUN=31", `AT%CMNG=0,100,4,"x"`}, "OK\r\n"},
		{"write over existing", []string{"AT+CMEE=1", `AT%CMNG=0,100,4,"x"`, `AT%CMNG=0,100,4,"y"`}, "+CME ERROR: 519\r\n"},
		{"empty content", []string{`AT%CMNG=0,100,4,""`}, "ERROR\r\n"},
		{"unquoted content", []string{`AT%CMNG=0,100,4,x`}, "ERROR\r\n"},
		{"PSK not hex", []string{"AT+CMEE=1", `AT%CMNG=0,100,3,"xyz"`}, "+CME ERROR: 527\r\n"},
		{"PSK odd length", []string{"AT+CMEE=1", `AT%CMNG=0,100,3,"abc"`}, "+CME ERROR: 527\r\n"},
		{"read PSK not supported", append([]string{"AT+CMEE=1"}, append(writeBoth, "AT%CMNG=2,100,3")...), "+CME ERROR: 514\r\n"},
		{"read identity", append(writeBoth, "AT%CMNG=2,100,4"), "%CMNG: 100,4,\"" + d4 + "\",\"urn:imei:352656100367872\"\r\nOK\r\n"},
		{"read missing", []string{"AT+CMEE=1", "AT%CMNG=2,4567,0"}, "+CME ERROR: 513\r\n"},
		{"delete", append(writeBoth, "AT%CMNG=3,100,3", "AT%CMNG=1,100"), "%CMNG: 100,4,\"" + d4 + "\"\r\nOK\r\n"},
		{"delete missing", []string{"AT+CMEE=1", "AT%CMNG=3,123,1"}, "+CME ERROR: 513\r\n"},
		{"delete reserved", []string{"AT+CMEE=1", "AT%CMNG=3,4294967293,10"}, "+CME ERROR: 514\r\n"},
		{"write reserved", []string{"AT+CMEE=1", `AT%CMNG=0,2147483648,4,"x"`}, "+CME ERROR: 514\r\n"},
		{"write highest user tag", []string{`AT%CMNG=0,2147483647,4,"x"`}, "OK\r\n"},
		{"tag beyond 32 bits", []string{"AT%CMNG=1,4294967296"}, "ERROR\r\n"},
		{"type out of range", []string{"AT%CMNG=1,100,12"}, "ERROR\r\n"},
		{"type not writable", []string{`AT%CMNG=0,100,10,"x"`}, "ERROR\r\n"},
		{"password only for keys", []string{`AT%CMNG=0,100,4,"x","pw"`}, "ERROR\r\n"},
		{"key with password", []string{`AT%CMNG=0,100,2,"k","pw"`}, "OK\r\n"},
		{"opcode 4", []string{"AT%CMNG=4"}, "ERROR\r\n"},
		{"CMNG read form", []string{"AT%CMNG?"}, "ERROR\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newModem(identity{IMEI: testIMEI, IMSI: testIMSI, ICCID: testICCID, UUID: testUUID, ModemFW: DefaultModemFW, Model: DefaultModel, HWVersion: DefaultHWVersion},
				newCredStore(nil), false)
			if got := run(m, tt.cmds...); got != tt.want {
				t.Errorf("%q →\n%q\nwant\n%q", tt.cmds, got, tt.want)
			}
		})
	}
}

func TestModemIdentityUnset(t *testing.T) {
	m := newModem(identity{ModemFW: DefaultModemFW}, newCredStore(nil), false)
	for _, c := range []string{"AT+CGSN", "AT+CGSN=1", "AT%XMODEMUUID"} {
		if got := run(m, c); got != "ERROR\r\n" {
			t.Errorf("%s with identity unset = %q, want ERROR", c, got)
		}
	}
	if got := run(m, "AT+CFUN=41"); got != "OK\r\n" {
		t.Fatal(got)
	}
	m.uiccUp(m.uiccEpoch)
	for _, c := range []string{"AT+CIMI", "AT%XICCID"} {
		if got := run(m, c); got != "ERROR\r\n" {
			t.Errorf("%s with SIM data unset = %q, want ERROR", c, got)
		}
	}
}

func TestOldFirmwarePlaceholderDigest(t *testing.T) {
	tests := []struct {
		fw  string
		old bool
	}{
		{"mfw_nrf9160_1.2.3", true},
		{"mfw_nrf9160_1.3.1", true},
		{"mfw_nrf9160_1.3.2", false},
		{"mfw_nrf91x1_2.0.2", false},
		{"mfw_nrf9151-ntn_1.0.0-1.alpha", false},
		{"mfw_nrf91x1_2.0.2-FOTA-TEST", false},
	}
	for _, tt := range tests {
		if got := oldFirmware(tt.fw); got != tt.old {
			t.Errorf("oldFirmware(%q) = %v, want %v", tt.fw, got, tt.old)
		}
	}
	m := newModem(identity{ModemFW: "mfw_nrf9160_1.2.3"}, newCredStore(nil), false)
	got := run(m, `AT%CMNG=0,64738,1,"cert"`, "AT%CMNG=1,64738")
	if want := "%CMNG: 64738,1,\"" + strings.Repeat("01", 32) + "\"\r\nOK\r\n"; got != want {
		t.Errorf("old firmware list = %q, want %q", got, want)
	}
}

func TestCME515(t *testing.T) {
	m := newModem(identity{ModemFW: DefaultModemFW}, newCredStore(nil), true)
	if got := run(m, `AT%CMNG=0,100,4,"x"`); got != "ERROR\r\n" {
		t.Errorf("CMEE=0: %q", got)
	}
	if got := run(m, "AT+CMEE=1", `AT%CMNG=0,100,4,"x"`); got != "+CME ERROR: 515\r\n" {
		t.Errorf("CMEE=1: %q", got)
	}
	if got := run(m, "AT%CMNG=1,100"); got != "OK\r\n" {
		t.Errorf("nothing may be stored: %q", got)
	}
}

func TestValidIMEI(t *testing.T) {
	for imei, valid := range map[string]bool{
		"352656100367872": true, "352656106647673": true, "352656100367873": false,
		"35265610036787": false, "35265610036787a": false,
	} {
		if validIMEI(imei) != valid {
			t.Errorf("validIMEI(%q) != %v", imei, valid)
		}
	}
}
