package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// globalFlags are the persistent flags every command shares.
type globalFlags struct {
	debug     bool
	logFormat string
}

// newRootCmd builds the whole command tree. Each command lives in its own
// file with a newXxxCmd constructor; add a command by adding a file and one
// line below.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "station",
		Short: "Provision Nordic nRF9151 units: flash, inject credentials, register, bootstrap, record",
		Long: `station provisions Nordic nRF9151 cellular units on a factory line: it flashes each unit
plugged into a bench or fixture, writes its bootstrap credentials over AT, registers it
with the LwM2M bootstrap portal, watches it bootstrap and register, and records the
verdict and every step in SQLite. No hardware? Try 'station demo'.

Exit codes, the same for every command:
  0  success
  1  a unit failed, a check failed, or nothing matched (report unit)
  2  bad usage, configuration or firmware (the message names the file, line or key)
  3  the station or its infrastructure failed (database, USB, internal error)

With --json, a failing command prints one JSON object on stderr:
  {"exit":2,"code":"config","message":"…","file":"…","line":3,"key":"flash.toool"}`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	// Long form only: -v is batch's --verbose.
	root.Flags().Bool("version", false, "print the version, commit, build date and Go version")
	root.SetFlagErrorFunc(flagUsageError)
	root.PersistentFlags().BoolVar(&g.debug, "debug", false, "diagnostic logs on stderr (never secrets)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", `diagnostic log format: "text" (human) or "json" (one object per line)`)
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if g.logFormat != "text" && g.logFormat != "json" {
			return usageErr(`--log-format %q: want "text" or "json"`, g.logFormat)
		}
		return nil
	}
	root.AddCommand(
		newRunCmd(g),
		newBatchCmd(g),
		newSimCmd(g),
		newDemoCmd(g),
		newReportCmd(g),
		newDevicesCmd(g),
		newCheckCmd(g),
		newCentralCmd(),
		newVersionCmd(),
	)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.InitDefaultCompletionCmd() // after SetOut: it keeps the writer
	requireSubcommand(root)
	return root
}

// requireSubcommand makes a command that only groups others (completion)
// refuse a missing or unknown subcommand as bad usage, not print help and
// exit 0.
func requireSubcommand(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireSubcommand(sub)
	}
	if c.HasSubCommands() && !c.Runnable() && c.HasParent() {
		c.Args = noArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return usageErr("name one of: %s", strings.Join(names, ", "))
		}
	}
}
