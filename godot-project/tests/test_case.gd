## Base of every test suite: checks that record failures (and go on), the classes
## under test, the test-bed values, and the error lines the engine printed.
extends RefCounted

const LogCapture = preload("res://tests/log_capture.gd")

## Class names under test (ours by default; the engine's for the differential run).
var upnp_class := "RustUPNP"
var device_class := "RustUPNPDevice"
## IGD_* values of the test bed (empty when no router is up).
var bed := {}
## Failure messages of the running test.
var failures: PackedStringArray = []
## What the test saw, by key, for the differential comparison (the runner saves them).
var observations := {}
## Collects error lines; set by the runner.
var log_capture: LogCapture


## A new object of the UPNP class under test.
func new_upnp() -> RefCounted:
	return ClassDB.instantiate(upnp_class)


## A new object of the UPNPDevice class under test.
func new_device() -> RefCounted:
	return ClassDB.instantiate(device_class)


## An integer constant of the UPNP class (e.g. "UPNP_RESULT_SUCCESS").
func upnp_const(name: String) -> int:
	return ClassDB.class_get_integer_constant(upnp_class, name)


## An integer constant of the UPNPDevice class (e.g. "IGD_STATUS_OK").
func device_const(name: String) -> int:
	return ClassDB.class_get_integer_constant(device_class, name)


## Whether the classes under test are the engine's own module (not this addon).
func is_engine() -> bool:
	return new_upnp().get_class() == "UPNPMiniUPNP"


## Records a value for the differential comparison of the engine's run and ours.
func observe(key: String, value: Variant) -> Variant:
	observations[key] = value
	return value


## The bed's port base for this run, so runs against different classes never collide.
func port(offset: int) -> int:
	return int(bed.get("PORT_BASE", "41000")) + offset


## Records a failure unless `condition` holds.
func check(condition: bool, message: String) -> bool:
	if not condition:
		failures.append(message)
	return condition


## Records a failure unless `actual == expected`.
func check_eq(actual: Variant, expected: Variant, what: String) -> bool:
	var same: bool
	if expected == null:
		same = actual == null  # a null object and null differ in typeof()
	else:
		same = typeof(actual) == typeof(expected) and actual == expected
	return check(same, "%s: expected %s, got %s" % [what, var_to_str(expected), var_to_str(actual)])


## Runs `call`, returns its result, and checks that exactly the error lines matching
## `expected` (substrings, in order) were printed meanwhile.
func expect_errors(call: Callable, expected: Array, what: String) -> Variant:
	log_capture.take()
	var result = call.call()
	var got := log_capture.take()
	var texts: PackedStringArray = []
	for entry in got:
		texts.append(entry.text)
	var ok := got.size() == expected.size()
	for i in mini(got.size(), expected.size()):
		ok = ok and str(expected[i]) in got[i].text
	check(ok, "%s: expected error lines %s, got %s" % [what, str(expected), str(texts)])
	return result


## A bed value (fails the test when the bed did not give it).
func bed_value(key: String) -> String:
	check(bed.has(key), "the test bed gave no %s" % key)
	return str(bed.get(key, ""))


## The router's mappings from its lease file: "PROTO:PORT" -> {client, internal_port, description}.
func router_leases() -> Dictionary:
	var leases := {}
	var file := FileAccess.open(
		bed_value("IGD_STATE_DIR").path_join("upnp.leases"), FileAccess.READ
	)
	if file == null:
		return leases
	while not file.eof_reached():
		var parts := file.get_line().split(":", true, 5)
		if parts.size() == 6:
			leases["%s:%s" % [parts[0], parts[1]]] = {
				"client": parts[2], "internal_port": int(parts[3]), "description": parts[5]
			}
	return leases


## Restarts the bed's router daemon in place (tests/testbed/igd-restart.sh), as a router
## reboot does; `env` takes IGD_CLEAR_LEASES / IGD_EXT_IP. Blocks until it answers again
## (about 2 s). Returns the script's IGD_* lines as a Dictionary (empty on failure).
func restart_router(env: Dictionary) -> Dictionary:
	var script := ProjectSettings.globalize_path("res://").path_join(
		"../tests/testbed/igd-restart.sh"
	)
	var command := "IGD_STATE_DIR='%s'" % bed_value("IGD_STATE_DIR")
	for key in env:
		command += " %s='%s'" % [key, env[key]]
	command += " '%s' '%s' 2>/dev/null" % [script.simplify_path(), bed_value("IGD_ROUTER_NS")]
	var output := []
	var status := OS.execute("bash", ["-c", command], output)
	check_eq(status, 0, "igd-restart.sh")
	var values := {}
	for line in "".join(output).split("\n", false):
		var parts := line.split("=", true, 1)
		if parts.size() == 2:
			values[parts[0]] = parts[1]
	return values


## VmRSS from /proc/self/status (Linux), in KiB; 0 when unreadable.
func resident_kib() -> int:
	var file := FileAccess.open("/proc/self/status", FileAccess.READ)
	if file == null:
		return 0
	# /proc files report length 0: read line by line.
	while not file.eof_reached():
		var line := file.get_line()
		if line.begins_with("VmRSS:"):
			return int(line.split(":")[1].strip_edges().split(" ")[0])
	return 0
