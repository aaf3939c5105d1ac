package central_test

import (
	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

func seedEvents(r records.Run) []station.Event { return seed.Events(r) }
