package station

// DefaultMarkers are the log texts of Nordic's lwm2m_client sample and
// Zephyr's RD client (lwm2m-bootstrap.md §3–§5), at INF and DBG level, so
// the watch works whatever log level the firmware was built with.
func DefaultMarkers() Markers {
	return Markers{
		Boot:     []string{"*** Booting ", "***** Booting Zephyr OS"},
		Attached: []string{"Connected to LTE network", "Connected to NB-IoT network"},
		Bootstrapped: []string{"LwM2M is bootstrapping", "LwM2M is boosttrapping", "Bootstrap registration complete",
			"Bootstrap registration done!", "Bootstrap data transfer done!", "Bootstrap transfer complete"},
		Registered: []string{"LwM2M is connected to server", "Registration complete", "Registration Done (EP="},
		Rejected:   []string{"Bootstrap registration failure!", "Failed with code 4.0 (Bad Request). Not Retrying."},
		NoCreds:    []string{"No security credentials provisioned", "Cannot init LWM2M engine"},
		Network: []string{"Network error, max retries reached", "LwM2M engine reported a network error.",
			"Bootstrap Timeout"},
		RegFailed: []string{"Registration failure!", "Registration Timeout"},
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
		NoCreds:      pick(m.NoCreds, d.NoCreds),
		Network:      pick(m.Network, d.Network),
		RegFailed:    pick(m.RegFailed, d.RegFailed),
	}
}
