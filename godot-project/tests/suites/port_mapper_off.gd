## UPNPPortMapper on a router with UPnP and NAT-PMP/PCP both switched off: a clear
## failure within the discovery timeout.
extends "res://tests/port_mapper_case.gd"


func test_nothing_answers_fails_clearly_within_the_timeout() -> void:
	var node := _mapper(port(40))
	node.discover_timeout = 1000
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	node.start()
	var completed_after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	print("     port_mapper_off: start() -> upnp_completed in %.1f ms" % completed_after)
	check(completed_after < 1000.0 + 600.0, "failed within the timeout: %.1f ms" % completed_after)
	check_eq(seen.get("completed"), upnp_const("UPNP_RESULT_NO_GATEWAY"), "upnp_completed")
	check(seen.mapped.is_empty(), "nothing mapped")
	check_eq(node.get_status(), node.STATUS_FAILED, "status")
	check_eq(
		node.get_status_text(),
		(
			"No router answered UPnP, NAT-PMP or PCP; the router may have them switched off."
			+ " Switch UPnP on in the router's settings, or forward the port by hand."
		),
		"status text"
	)
	node.free()
