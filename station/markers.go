package station

// DefaultMarkers are the log texts of Nordic's lwm2m_client sample and
// Zephyr's RD client (lwm2m-bootstrap.md §3–§5), at INF and DBG level, so
// the watch works whatever log level the firmware was built with.
//
// Only final failures end the watch: "Bootstrap Timeout" and "Registration
// Timeout" (WRN) are followed by the client's own retry, and a unit that
// never gets through ends at "Network error, max retries reached" or the
// step's timeout. Refused is a server's refusal of either exchange (ERR
// "Failed with code <c>.<d> (<text>)…", any code): the watch tells a
// bootstrap refusal from a registration refusal by where the unit was.
func DefaultMarkers() Markers {
	return Markers{
		Boot:     []string{"*** Booting ", "***** Booting Zephyr OS"},
		Attached: []string{"Connected to LTE network", "Connected to NB-IoT network"},
		Bootstrapped: []string{"LwM2M is bootstrapping", "LwM2M is boosttrapping", "Bootstrap registration complete",
			"Bootstrap registration done!", "Bootstrap data transfer done!", "Bootstrap transfer complete"},
		Registered: []string{"LwM2M is connected to server", "Registration complete", "Registration Done (EP="},
		Rejected:   []string{"Bootstrap registration failure!"},
		Refused:    []string{"Failed with code", "Not Retrying."},
		NoCreds:    []string{"No security credentials provisioned", "Cannot init LWM2M engine"},
		Network:    []string{"Network error, max retries reached", "LwM2M engine reported a network error."},
		RegFailed:  []string{"Registration failure!"},
	}
}

// WithDefaults fills every empty list of m from DefaultMarkers.
func (m Markers) WithDefaults() Markers {
	d := DefaultMarkers()
	pick := func(v, def []string) []string {
		if len(v) == 0 {
			return def
		}
		return v
	}
	return Markers{
		Boot:         pick(m.Boot, d.Boot),
		Attached:     pick(m.Attached, d.Attached),
		Bootstrapped: pick(m.Bootstrapped, d.Bootstrapped),
		Registered:   pick(m.Registered, d.Registered),
		Rejected:     pick(m.Rejected, d.Rejected),
		Refused:      pick(m.Refused, d.Refused),
		NoCreds:      pick(m.NoCreds, d.NoCreds),
		Network:      pick(m.Network, d.Network),
		RegFailed:    pick(m.RegFailed, d.RegFailed),
	}
}
