## 10,000 add/delete cycles through UPNP against a simulated router (igd-sim on the
## namespace's loopback, started by tests/godot/run.sh: miniupnpd needs milliseconds per
## change). After a warm-up, the process's resident memory must not grow by more than
## 1 MiB; run.sh also fails the run if Godot reports leaked objects at exit.
extends "res://tests/test_case.gd"

const CYCLES := 10000
const WARM_UP := 500
const MAX_GROWTH_KIB := 1024


func test_add_delete_cycles_keep_memory_flat() -> void:
	var upnp := new_upnp()
	var device := new_device()
	device.igd_control_url = bed_value("SIM_CONTROL_URL")
	device.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2"
	device.igd_our_addr = "127.0.0.1"
	device.igd_status = device_const("IGD_STATUS_OK")
	upnp.add_device(device)
	var failed := _cycles(upnp, WARM_UP)
	var before := resident_kib()
	var started := Time.get_ticks_msec()
	failed += _cycles(upnp, CYCLES)
	var elapsed := Time.get_ticks_msec() - started
	var after := resident_kib()
	print(
		(
			"memory: %d add/delete cycles in %d ms (%.2f ms each); resident %d -> %d KiB (%+d KiB)"
			% [CYCLES, elapsed, float(elapsed) / CYCLES, before, after, after - before]
		)
	)
	check_eq(failed, 0, "calls that did not return SUCCESS")
	check(before > 0 and after > 0, "resident memory readable from /proc/self/status")
	check(
		after - before <= MAX_GROWTH_KIB,
		(
			"resident memory grew by %d KiB over %d cycles (bound %d)"
			% [after - before, CYCLES, MAX_GROWTH_KIB]
		)
	)


## Maps and unmaps one port `count` times; returns how many calls failed.
func _cycles(upnp: RefCounted, count: int) -> int:
	var failed := 0
	for i in count:
		var port := 20000 + i % 1000
		failed += int(upnp.add_port_mapping(port, port, "memory", "UDP", 3600) != 0)
		failed += int(upnp.delete_port_mapping(port, "UDP") != 0)
	return failed
