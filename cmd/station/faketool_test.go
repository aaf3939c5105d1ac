package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// The virtual line runs its fake tools with station-faketool when it sits
// next to the station binary, is executable and was built with it; else
// with the station.
func TestFakeToolExePrefersTheLeanBinary(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "station")
	lean := filepath.Join(dir, fakeToolName)
	if got := siblingOr(self, fakeToolName); got != self {
		t.Errorf("no sibling: %s, want %s", got, self)
	}
	if err := os.WriteFile(lean, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := siblingOr(self, fakeToolName); got != self {
		t.Errorf("a sibling that is no Go binary of this build: %s, want %s", got, self)
	}
}

func TestSameBuild(t *testing.T) {
	info := func(ldflags string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "-compiler", Value: "gc"}}}
		if ldflags != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "-ldflags", Value: ldflags})
		}
		return bi
	}
	const build = "-X main.buildVersion=abc -X main.buildCommit=abc1 -X main.buildDate=2026-12-06T07:10:08Z"
	const older = "-X main.buildVersion=abc -X main.buildCommit=abc1 -X main.buildDate=2026-12-06T06:51:00Z"
	for _, tc := range []struct {
		name        string
		self, other string
		want        bool
	}{
		{"one make build", build, build, true},
		{"left from an earlier build", build, older, false},
		{"station built without make", "", "", false},
		{"faketool built without make", build, "", false},
	} {
		if got := sameBuild(info(tc.self), info(tc.other)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
