package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"nrfline/lwm2m"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// slowDelay is the simulated per-request delay of the portal-slow fault,
// before Config.Delay scales it.
const slowDelay = 5 * time.Second

// api holds what both HTTP APIs (bootstrap portal, DM server) share: the
// fault hooks and a channel closed on shutdown.
type api struct {
	log       *slog.Logger
	faults    Faults
	delay     func(time.Duration) time.Duration
	onRequest func(endpoint string)
	closing   <-chan struct{}
}

// endpointHandler serves a request that concerns one endpoint.
type endpointHandler func(w http.ResponseWriter, r *http.Request, endpoint string, body []byte)

// withEndpoint reads the body, finds the endpoint the request concerns
// (via find), runs the OnRequest hook and the endpoint's faults, then h.
func (a *api) withEndpoint(find func(r *http.Request, body []byte) string, h endpointHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			httpError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
			return
		}
		ep := find(r, body)
		log := a.log.With("method", r.Method, "path", r.URL.Path, "endpoint", ep)
		if ep != "" && !a.applyFaults(w, r, ep, log) {
			return
		}
		log.Debug("portal request")
		h(w, r, ep, body)
	}
}

// applyFaults runs OnRequest and the endpoint's faults; false means the
// request was answered (500) or abandoned (timeout).
func (a *api) applyFaults(w http.ResponseWriter, r *http.Request, ep string, log *slog.Logger) bool {
	if a.onRequest != nil {
		a.onRequest(ep)
	}
	var f Fault
	if a.faults != nil {
		f = a.faults(ep)
	}
	switch {
	case f.PortalTimeout:
		log.Info("portal fault: never answering")
		select {
		case <-r.Context().Done():
		case <-a.closing:
		}
		panic(http.ErrAbortHandler) // drop the connection without a response
	case f.PortalSlow:
		log.Info("portal fault: slow")
		if !a.wait(r.Context(), slowDelay) {
			return false
		}
	}
	if f.Portal500 {
		log.Info("portal fault: 500")
		httpError(w, http.StatusInternalServerError, "simulated portal failure")
		return false
	}
	return true
}

// wait sleeps the scaled delay d unless ctx ends or the servers close.
func (a *api) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(a.delay(d))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-a.closing:
	}
	return false
}

// pathEndpoint finds the endpoint in the {endpoint} path segment.
func pathEndpoint(r *http.Request, _ []byte) string { return r.PathValue("endpoint") }

// bodyEndpoint finds the endpoint in a security entry body.
func bodyEndpoint(_ *http.Request, body []byte) string {
	var s struct {
		Endpoint string `json:"endpoint"`
	}
	_ = json.Unmarshal(body, &s)
	return s.Endpoint
}

// securityRoutes registers Leshan's security API on mux for store.
func (a *api) securityRoutes(mux *http.ServeMux, store *credStore) {
	put := a.withEndpoint(bodyEndpoint, func(w http.ResponseWriter, _ *http.Request, _ string, body []byte) {
		a.putSecurity(w, store, body)
	})
	mux.Handle("PUT /api/security/clients/{$}", put)
	mux.Handle("PUT /api/security/clients", put)
	mux.Handle("DELETE /api/security/clients/{endpoint}", a.withEndpoint(pathEndpoint,
		func(w http.ResponseWriter, _ *http.Request, ep string, _ []byte) {
			if !store.remove(ep) {
				httpError(w, http.StatusNotFound, "no security info for "+ep)
				return
			}
			a.log.Info("security info removed", "endpoint", ep)
			w.WriteHeader(http.StatusOK)
		}))
	list := func(w http.ResponseWriter, _ *http.Request) {
		out := []SecurityInfo{}
		for _, c := range store.list() {
			out = append(out, securityInfo(c))
		}
		writeJSON(w, http.StatusOK, out)
	}
	mux.HandleFunc("GET /api/security/clients", list)
	mux.HandleFunc("GET /api/security/clients/{$}", list)
}

func (a *api) putSecurity(w http.ResponseWriter, store *credStore, body []byte) {
	var info SecurityInfo
	if len(body) == 0 {
		httpError(w, http.StatusBadRequest, "Invalid request body: no content")
		return
	}
	if err := strictUnmarshal(body, &info); err != nil {
		httpError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	c, err := info.credential()
	if err != nil {
		httpError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	if err := store.put(c); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.log.Info("security info stored", "endpoint", c.endpoint, "identity", c.identity, "key_sha256", lwm2m.Fingerprint(c.key))
	w.WriteHeader(http.StatusOK)
}

// bootstrapRoutes registers the bootstrap-config API on mux.
func (a *api) bootstrapRoutes(mux *http.ServeMux, configs *configStore) {
	noEndpoint := func(w http.ResponseWriter, _ *http.Request) {
		httpError(w, http.StatusBadRequest, "endpoint name should be specified in the URL")
	}
	mux.HandleFunc("POST /api/bootstrap", noEndpoint)
	mux.HandleFunc("POST /api/bootstrap/{$}", noEndpoint)
	mux.Handle("POST /api/bootstrap/{endpoint}", a.withEndpoint(pathEndpoint,
		func(w http.ResponseWriter, _ *http.Request, ep string, body []byte) {
			if len(body) == 0 {
				httpError(w, http.StatusBadRequest, "no content")
				return
			}
			c, err := parseBootstrapConfig(body)
			if err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
			configs.put(ep, c)
			a.log.Info("bootstrap config stored", "endpoint", ep, "security", len(c.Security), "servers", len(c.Servers))
			w.WriteHeader(http.StatusOK)
		}))
	list := func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, configs.all()) }
	mux.HandleFunc("GET /api/bootstrap", list)
	mux.HandleFunc("GET /api/bootstrap/{$}", list)
	mux.Handle("DELETE /api/bootstrap/{endpoint}", a.withEndpoint(pathEndpoint,
		func(w http.ResponseWriter, _ *http.Request, ep string, _ []byte) {
			if !configs.remove(ep) {
				httpError(w, http.StatusNotFound, "no config for "+ep)
				return
			}
			a.log.Info("bootstrap config removed", "endpoint", ep)
			w.WriteHeader(http.StatusNoContent)
		}))
}

// ClientInfo is one registration as GET /api/clients shows it.
type ClientInfo struct {
	Endpoint       string    `json:"endpoint"`
	RegistrationID string    `json:"registrationId"`
	Registered     time.Time `json:"registrationDate"`
	LastUpdate     time.Time `json:"lastUpdate"`
	Address        string    `json:"address"`
	Version        string    `json:"lwM2mVersion"`
	Lifetime       uint32    `json:"lifetime"`
	Binding        string    `json:"bindingMode"`
	Identity       string    `json:"identity"`
	Secure         bool      `json:"secure"`
	ObjectLinks    string    `json:"objectLinks"`
}

func clientInfo(r lwm2m.Registration) ClientInfo {
	return ClientInfo{
		Endpoint: r.Endpoint, RegistrationID: r.ID, Registered: r.Registered, LastUpdate: r.Updated,
		Address: r.Addr, Version: r.Version, Lifetime: r.Lifetime, Binding: r.Binding,
		Identity: r.Identity, Secure: r.Identity != "", ObjectLinks: r.Objects,
	}
}

// clientRoutes registers the DM server's registration listing on mux.
func clientRoutes(mux *http.ServeMux, rs *lwm2m.RegistrationServer) {
	mux.HandleFunc("GET /api/clients", func(w http.ResponseWriter, _ *http.Request) {
		out := []ClientInfo{}
		for _, r := range rs.Registrations() {
			out = append(out, clientInfo(r))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/clients/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		reg, ok := rs.Registration(r.PathValue("endpoint"))
		if !ok {
			httpError(w, http.StatusNotFound, "no registered client with endpoint "+r.PathValue("endpoint"))
			return
		}
		writeJSON(w, http.StatusOK, clientInfo(reg))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("encode: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}
