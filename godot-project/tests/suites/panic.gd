## A panic in our code reaches a script as UNKNOWN_ERROR with one error line, and the
## object keeps working. The panic is injected: tests/godot/run.sh starts this suite with
## GODOT_UPNP_TEST_PANICS=1 (the next guarded call panics; debug builds only).
extends "res://tests/test_case.gd"

const INJECTED := (
	"internal error in godot-upnp (please report it): "
	+ "a panic injected by GODOT_UPNP_TEST_PANICS (at "
)


func test_a_panic_is_one_error_line_and_the_object_stays_usable() -> void:
	var upnp := new_upnp()
	var device := new_device()
	device.igd_status = device_const("IGD_STATUS_OK")
	upnp.add_device(device)
	var code = expect_errors(
		func(): return upnp.add_port_mapping(port(0)), [INJECTED], "the panicking call"
	)
	check_eq(code, upnp_const("UPNP_RESULT_UNKNOWN_ERROR"), "the panicking call's result")
	check_eq(upnp.get_device_count(), 1, "the device list after the panic")
	check_eq(upnp.discover(), 0, "discover after the panic")
	check_eq(upnp.add_port_mapping(port(0)), 0, "add after the panic")
	check(router_leases().has("UDP:%d" % port(0)), "the router holds the mapping")
	check_eq(upnp.delete_port_mapping(port(0)), 0, "delete after the panic")
	check(not router_leases().has("UDP:%d" % port(0)), "the router removed the mapping")
