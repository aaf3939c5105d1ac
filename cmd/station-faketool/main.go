// Command station-faketool is the virtual line's fake nrfjprog and nRF Util
// (package sim/faketool) on their own. `station sim` runs its fake tools
// with this binary when it sits next to the station's (make build puts both
// in bin/), else with the station binary itself: the station links every
// part of the station, and on a full virtual fixture 64 tool processes
// start at once, each paying for that start-up.
package main

import (
	"fmt"
	"os"

	"nrfline/sim/faketool"
)

func main() {
	faketool.Dispatch()
	fmt.Fprintln(os.Stderr, "station-faketool: the virtual line's fake flash tools; `station sim` runs it through DIR/bin/nrfjprog and DIR/bin/nrfutil")
	os.Exit(2)
}
