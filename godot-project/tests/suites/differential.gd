## Compares what the same suites observed through the engine's classes and through ours
## on the same routers (the runs' OBSERVATIONS files in OUTDIR). A value may differ only
## where README.md documents the difference; each one is listed with its reason.
extends "res://tests/test_case.gd"

## Observation key -> the documented difference that allows it to differ.
const DOCUMENTED := {
	"router.default_description":
	'an empty description is sent as "Godot UPnP" (the engine sends "libminiupnpc")',
	"multicast_if.default_if": "without discover_multicast_if, ours searches every LAN interface",
	"multicast_if.default_if_error_lines": "and so finds the router where the engine cannot send",
	"multicast_if.default_if_devices": "(README: discovery on every interface)",
	"private_wan.igd_status": "a router with a private/CGNAT external address is a working gateway",
	"private_wan.gateway": "a router with a private/CGNAT external address is a working gateway",
	"private_wan.add": "so mapping on it is tried, and the router's own refusal is returned",
	"private_wan.error_lines": "and printed",
}
const PAIRS := [
	["ours", "engine"], ["ours-noroute", "engine-noroute"], ["ours-private", "engine-private"]
]


func test_engine_and_ours_observed_the_same() -> void:
	var compared := 0
	for pair in PAIRS:
		var ours := _load(pair[0])
		var engine := _load(pair[1])
		if ours.is_empty() or engine.is_empty():
			continue
		for key in engine:
			if not ours.has(key):
				continue
			compared += 1
			if ours[key] == engine[key]:
				continue
			var what := (
				"%s: ours %s, engine %s" % [key, var_to_str(ours[key]), var_to_str(engine[key])]
			)
			if DOCUMENTED.has(key):
				print("     documented difference: %s (%s)" % [what, DOCUMENTED[key]])
			else:
				check(false, "undocumented difference: " + what)
	print("     differential: %d observations compared" % compared)
	check(compared >= 20, "too few observations to compare (%d)" % compared)


func _load(run: String) -> Dictionary:
	var path := bed_value("OUTDIR").path_join(run + ".json")
	var parsed = JSON.parse_string(FileAccess.get_file_as_string(path))
	check(parsed is Dictionary, "no observations in " + path)
	return parsed if parsed is Dictionary else {}
