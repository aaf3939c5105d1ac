package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time by the Makefile:
//
//	-ldflags "-X main.buildVersion=v1.2.0 -X main.buildCommit=abc123 -X main.buildDate=2026-12-06T03:00:00Z"
var (
	buildVersion = ""
	buildCommit  = ""
	buildDate    = ""
)

// buildInfo is what `station version` reports.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"build_date"`
	Go      string `json:"go"`
}

// currentBuild fills what the linker was not told from the module's build
// information (go install, a VCS stamp), else "unknown".
func currentBuild() buildInfo {
	b := buildInfo{Version: buildVersion, Commit: buildCommit, Date: buildDate, Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
	}
	for _, f := range []*string{&b.Version, &b.Commit, &b.Date} {
		if *f == "" {
			*f = "unknown"
		}
	}
	if b.Version == "unknown" {
		b.Version = "dev"
	}
	return b
}

// version is the short version recorded with every run.
func version() string {
	b := currentBuild()
	if b.Version == "dev" && b.Commit != "unknown" && len(b.Commit) >= 12 {
		return "dev-" + b.Commit[:12]
	}
	return b.Version
}

func versionString() string {
	b := currentBuild()
	return fmt.Sprintf("station %s\ncommit  %s\nbuilt   %s\ngo      %s", b.Version, b.Commit, b.Date, b.Go)
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), currentBuild())
			}
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return cmd
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return infraErr(fmt.Errorf("write output: %w", err))
	}
	return nil
}
