package workforce

// Lisbon is the demo workforce's centre (Praça do Comércio area).
const (
	LisbonLat = 38.7223
	LisbonLon = -9.1393
)

// DemoWorkers is the demo workforce around Lisbon that "orchestrator dev"
// seeds. Every worker is in UTC, so tests do not depend on daylight saving.
// From Lisbon's centre: ana ~1.7 km and idle; bruno ~22.8 km west with one
// task; carla ~0.3 km with one task, weekdays 09:00-17:00 only; dario near
// but does deliveries only; eva in Porto (~274 km). A fresh slice each call.
func DemoWorkers() []Worker {
	always := []Window{{Days: []int{1, 2, 3, 4, 5, 6, 7}, Start: "00:00", End: "23:59"}}
	demo := func(id, name string, skills []Skill, lat, lon, radius float64, avail []Window, load int) Worker {
		return Worker{
			ID: id, Name: name, Email: id + "@field.example.com", Channel: ChannelEmail,
			Skills: skills, Lat: lat, Lon: lon, RadiusKm: radius, TimeZone: "UTC",
			Availability: avail, Load: load, MaxLoad: 3, Active: true,
		}
	}
	return []Worker{
		demo("ana-field", "Ana Ferreira", []Skill{{Name: "id-verification", Level: 4}, {Name: "delivery", Level: 2}},
			38.7369, -9.1427, 15, always, 0),
		demo("bruno-field", "Bruno Costa", []Skill{{Name: "id-verification", Level: 3}},
			38.7000, -9.4000, 30, always, 1),
		demo("carla-field", "Carla Mendes", []Skill{{Name: "id-verification", Level: 5}},
			38.7200, -9.1400, 10, []Window{{Days: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "17:00"}}, 1),
		demo("dario-field", "Dário Lopes", []Skill{{Name: "delivery", Level: 3}},
			38.7250, -9.1500, 15, always, 0),
		demo("eva-field", "Eva Rocha", []Skill{{Name: "id-verification", Level: 4}},
			41.1579, -8.6291, 20, always, 0),
	}
}
