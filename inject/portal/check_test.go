package portal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nrfline/station"
)

// check --online: a portal that answers with the token accepted passes, a
// refused token and a portal that is not there fail, each saying which,
// and the token never shows.
func TestCheckPortalAnswersAndTokenAccepted(t *testing.T) {
	var paths []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer s3cret-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("{}"))
	}))
	defer ts.Close()
	env := func(tok string) func(string) string { return func(string) string { return tok } }
	cfg := station.PortalConfig{Kind: "leshan", URL: ts.URL + "/api", TokenEnv: "PORTAL_TOKEN"}

	res, err := Check(t.Context(), cfg, env("s3cret-token"))
	if err != nil || res.Status != 200 {
		t.Fatalf("good token: %+v %v", res, err)
	}
	if paths[0] != "GET /api/bootstrap" {
		t.Errorf("asked %q, want the read-only GET /api/bootstrap", paths[0])
	}
	_, err = Check(t.Context(), cfg, env("wrong-token"))
	if err == nil || !strings.Contains(err.Error(), "$PORTAL_TOKEN was refused") || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("refused token: %v", err)
	}
	ts.Close()
	if _, err := Check(t.Context(), cfg, env("s3cret-token")); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("portal gone: %v", err)
	}
}
