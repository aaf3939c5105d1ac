package portal

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"nrfline/station"
)

// CheckResult is what one read-only request to the portal showed.
type CheckResult struct {
	URL    string // the request's URL, secrets masked
	Status int
}

// Check asks the portal one read-only question with the configured token
// (`station check --online`): Leshan's bootstrap config list, Coiote's
// domains, the "http" kind's base URL. Any answer proves the portal is
// there; 401 or 403 is an error saying the token was refused. It never
// registers anything.
func Check(ctx context.Context, cfg station.PortalConfig, getenv func(string) string, opts ...Option) (CheckResult, error) {
	s := settings{first: DefaultBackoff, max: MaxBackoff, clock: station.SystemClock{}}
	for _, o := range opts {
		o(&s)
	}
	cl, err := newClient(cfg, getenv, s, slog.New(slog.DiscardHandler))
	if err != nil {
		return CheckResult{}, err
	}
	base, err := checkBaseURL("portal.url", cfg.URL)
	if err != nil {
		return CheckResult{}, err
	}
	url := base
	switch cfg.Kind {
	case "leshan":
		url = base + "/bootstrap"
	case "coiote":
		url = base + "/domains"
	}
	red := newRedactor(cl.auth.secrets)
	res := CheckResult{URL: red.url(url)}
	rep, err := cl.once(ctx, call{op: "check", method: http.MethodGet, url: url, header: http.Header{"Accept": {"application/json"}}}, red)
	if err != nil {
		return res, fmt.Errorf("GET %s: %s", res.URL, red.err(err))
	}
	res.Status = rep.status
	if rep.status == http.StatusUnauthorized || rep.status == http.StatusForbidden {
		what := "no token is configured (portal.token_env)"
		if cfg.TokenEnv != "" {
			what = "the token in $" + cfg.TokenEnv + " was refused"
		}
		return res, fmt.Errorf("GET %s: HTTP %d %s: %s", res.URL, rep.status, http.StatusText(rep.status), what)
	}
	if rep.status >= 500 {
		return res, fmt.Errorf("GET %s: HTTP %d %s: %s", res.URL, rep.status, http.StatusText(rep.status), strings.TrimSpace(excerpt(red, rep.body)))
	}
	return res, nil
}
