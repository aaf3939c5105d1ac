package station

import (
	"strings"
	"testing"
)

func TestCentralURLNeverCarriesAPassword(t *testing.T) {
	for _, tc := range []struct {
		url, want string // want: "" accepted, else a fragment of the error
	}{
		{"postgres://station@db.line1:5432/line?sslmode=require", ""},
		{"postgresql:///line?host=/run/postgresql&service=line", ""},
		{"postgres://station:s3cret@db.line1/line", "must not contain a password"},
		{"postgres://db.line1/line?password=s3cret", "must not contain a password"},
		{"postgres://db.line1/line?PassWord=s3cret", "must not contain a password"},
		{"mysql://db.line1/line", "must be a postgres:// URL"},
		{"host=db.line1 password=s3cret", "must be a postgres:// URL"},
	} {
		src := goodConfig + "\n[central]\nurl = \"" + tc.url + "\"\n"
		_, err := ParseConfig("station.toml", []byte(src))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.url, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("%s: the error repeats the password: %v", tc.url, err)
		case err != nil && !strings.Contains(err.Error(), "central.url"):
			t.Errorf("%s: the error does not name the key: %v", tc.url, err)
		}
	}
}
