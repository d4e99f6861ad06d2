## Printing calls back (issue 12): a script Logger (OS.add_logger) runs inside every error
## and warning line, on the printing thread, and may use the object that is printing. Each
## test installs one that reads the same UPNP object and device on every line, then takes
## every printing path that needs no network; a device whose script runs on destruction
## reads the list it is being removed from. Printing or dropping a device while holding
## the list's lock deadlocks here (the runner's timeout ends the run), so the checks are
## that each call returns its code and line and each callback saw the list as it is.
extends "res://tests/test_case.gd"

const URL := "http://192.0.2.1:5000/rootDesc.xml"
const NULL_DEVICE := 'Condition "device.is_null()" is true.'
const NO_DEVICES := "Couldn't find any UPNPDevices."
const MUST_BE_VALID := "The Internet Gateway Device must be valid."
const PORT_RANGE := "The port number must be set between 1 and 65535 (inclusive)."
const PROTOCOL := "The protocol must be either TCP or UDP."
const DURATION := "The port mapping's lease duration can't be negative."
const WAIT := "The response's wait time can't be negative."
const TTL := "The time-to-live must be set between 0 and 255 (inclusive)."


## On every line, reads the UPNP object and the device it was given (which must not print
## themselves) and records what it saw.
class CallingBack:
	extends Logger

	var upnp: RefCounted
	var device: RefCounted
	var _lock := Mutex.new()
	var _seen: Array[Dictionary] = []

	func _log_error(
		_function: String,
		_file: String,
		_line: int,
		code: String,
		rationale: String,
		_editor_notify: bool,
		_error_type: int,
		_script_backtraces: Array[ScriptBacktrace]
	) -> void:
		_call_back(rationale if not rationale.is_empty() else code)

	func _log_message(message: String, _error: bool) -> void:
		_call_back(message)

	func _call_back(text: String) -> void:
		var count: int = upnp.get_device_count()
		var seen := {
			"text": text,
			"count": count,
			"first": upnp.get_device(0) if count > 0 else null,
			"multicast_if": upnp.discover_multicast_if,
			"url": device.description_url,
			"gateway": device.is_valid_gateway(),
		}
		_lock.lock()
		_seen.append(seen)
		_lock.unlock()

	## What the callbacks saw since the last call.
	func take() -> Array[Dictionary]:
		_lock.lock()
		var got := _seen
		_seen = []
		_lock.unlock()
		return got


func test_list_errors_call_back_into_the_list() -> void:
	var upnp := new_upnp()
	var device := _device_in(upnp)
	var logger := _call_back_into(upnp, device)
	var bounds := "Index index = %d is out of bounds (devices.size() = 1)."
	var cases := [
		[func(): return upnp.get_device(5), null, bounds % 5],
		[func(): return upnp.get_device(-1), null, bounds % -1],
		[func(): upnp.remove_device(1), null, bounds % 1],
		[func(): upnp.set_device(1, new_device()), null, bounds % 1],
		[func(): upnp.set_device(1, null), null, bounds % 1],
		[func(): upnp.set_device(0, null), null, NULL_DEVICE],
		[func(): upnp.add_device(null), null, NULL_DEVICE],
	]
	_check_cases(cases, "list")
	_check_seen(
		_done(logger),
		cases.map(func(c): return c[2]),
		{"count": 1, "first": device, "url": URL, "gateway": false}
	)
	check_eq(upnp.get_device_count(), 1, "the list after the rejected calls")
	check(upnp.get_device(0) == device, "the device is still first")


func test_empty_list_errors_call_back_into_the_list() -> void:
	var upnp := new_upnp()
	var device := new_device()
	device.description_url = URL
	var logger := _call_back_into(upnp, device)
	var no_gateway := upnp_const("UPNP_RESULT_NO_GATEWAY")
	var cases := [
		[func(): return upnp.get_gateway(), null, NO_DEVICES],
		[func(): return upnp.query_external_address(), "", NO_DEVICES],
		[func(): return upnp.add_port_mapping(port(0)), no_gateway, NO_DEVICES],
		[func(): return upnp.delete_port_mapping(port(0)), no_gateway, NO_DEVICES],
		[
			func(): return upnp.get_device(0),
			null,
			"Index index = 0 is out of bounds (devices.size() = 0)."
		],
	]
	_check_cases(cases, "empty list")
	_check_seen(
		_done(logger),
		cases.map(func(c): return c[2]),
		{"count": 0, "first": null, "url": URL, "gateway": false}
	)


func test_device_errors_call_back_into_the_device() -> void:
	var upnp := new_upnp()
	var device := _device_in(upnp)
	var logger := _call_back_into(upnp, device)
	var cases := [
		[func(): return device.add_port_mapping(0), 16, MUST_BE_VALID],
		[func(): return device.query_external_address(), "", MUST_BE_VALID],
		[func(): return device.delete_port_mapping(0), 17, PORT_RANGE],
		[func(): return device.delete_port_mapping(80, "tcp"), 18, PROTOCOL],
		[func(): return upnp.discover(-1), 22, WAIT],
		[func(): return upnp.discover(0, 256), 22, TTL],
	]
	_check_cases(cases, "invalid gateway")
	_check_seen(
		logger.take(),
		cases.map(func(c): return c[2]),
		{"count": 1, "first": device, "url": URL, "gateway": false}
	)
	# A valid gateway without a control URL: the argument checks pass, the request fails
	# before anything is sent.
	device.igd_status = device_const("IGD_STATUS_OK")
	var http := upnp_const("UPNP_RESULT_HTTP_ERROR")
	cases = [
		[func(): return device.add_port_mapping(1, 0, "", "TCP", -1), 19, DURATION],
		[func(): return upnp.delete_port_mapping(65536), 17, PORT_RANGE],
		[func(): return device.add_port_mapping(port(0)), http, "Couldn't add port mapping."],
		[func(): return upnp.add_port_mapping(port(0)), http, "Couldn't add port mapping."],
		[func(): return upnp.delete_port_mapping(port(0)), http, "Couldn't delete port mapping."],
		[func(): return upnp.query_external_address(), "", "Couldn't get external IP address."],
	]
	_check_cases(cases, "valid gateway")
	_check_seen(
		_done(logger),
		cases.map(func(c): return c[2]),
		{"count": 1, "first": device, "url": URL, "gateway": true}
	)


func test_a_device_freed_by_the_list_calls_back_into_it() -> void:
	var upnp := new_upnp()
	var weak: WeakRef = weakref(upnp)
	var counts := []
	var on_free := func(): counts.append(weak.get_ref().get_device_count())
	for _i in 3:
		upnp.add_device(_device_calling_on_free(on_free))
	# Each call drops the list's last reference to a device, whose script then runs.
	upnp.remove_device(0)
	check_eq(counts.size(), 1, "remove_device freed the device")
	upnp.set_device(0, new_device())
	check_eq(counts.size(), 2, "set_device freed the device it replaced")
	upnp.clear_devices()
	check_eq(counts.size(), 3, "clear_devices freed the last one")
	check_eq(upnp.get_device_count(), 0, "the list after clear_devices")
	if not is_engine():
		# Ours frees a device only once it has left the list (the engine frees it inside
		# remove_device, while the list still counts it: [3, 2, 0]).
		check_eq(counts, [2, 2, 0], "the list sizes the freed devices saw")


## A device with URL as description_url, added to `upnp`.
func _device_in(upnp: RefCounted) -> RefCounted:
	var device := new_device()
	device.description_url = URL
	upnp.add_device(device)
	return device


## A device whose script calls `on_free` when the device is destroyed.
func _device_calling_on_free(on_free: Callable) -> RefCounted:
	var script := GDScript.new()
	script.source_code = (
		(
			"extends %s\n\nvar on_free: Callable\n\n\nfunc _notification(what: int) -> void:\n"
			+ "\tif what == NOTIFICATION_PREDELETE:\n\t\ton_free.call()\n"
		)
		% device_class
	)
	check_eq(script.reload(), OK, "the device script compiles")
	var device: RefCounted = script.new()
	device.on_free = on_free
	return device


## Installs a CallingBack logger on `upnp` and `device`.
func _call_back_into(upnp: RefCounted, device: RefCounted) -> CallingBack:
	var logger := CallingBack.new()
	logger.upnp = upnp
	logger.device = device
	upnp.discover_multicast_if = "lo"
	OS.add_logger(logger)
	return logger


## Removes `logger`; returns what it saw.
func _done(logger: CallingBack) -> Array[Dictionary]:
	OS.remove_logger(logger)
	return logger.take()


## Each case is [call, expected result, expected error line].
func _check_cases(cases: Array, what: String) -> void:
	for i in cases.size():
		var result = expect_errors(cases[i][0], [cases[i][2]], "%s case %d" % [what, i])
		check_eq(result, cases[i][1], "%s case %d result" % [what, i])


## Checks that the logger saw exactly the lines `texts` (substrings, in order), each
## callback having read the property and seen `expected`.
func _check_seen(seen: Array[Dictionary], texts: Array, expected: Dictionary) -> void:
	check_eq(seen.size(), texts.size(), "the number of lines the logger saw (%s)" % str(seen))
	for i in mini(seen.size(), texts.size()):
		check(str(texts[i]) in seen[i].text, "line %d: %s in %s" % [i, texts[i], seen[i].text])
		check_eq(seen[i].multicast_if, "lo", "line %d: the property the callback read" % i)
		for key in expected:
			check_eq(seen[i][key], expected[key], "line %d: %s seen by the callback" % [i, key])


## On every line, reads an UPNPPortMapper (which prints while it runs start()).
class ReadingTheNode:
	extends Logger

	var node: Node
	var seen: Array = []

	func _log_error(
		_function: String,
		_file: String,
		_line: int,
		_code: String,
		rationale: String,
		_editor_notify: bool,
		_error_type: int,
		_script_backtraces: Array[ScriptBacktrace]
	) -> void:
		seen.append(
			[rationale, node.get_status(), node.get_status_text(), node.get_mapped_port("UDP")]
		)

	func _log_message(_message: String, _error: bool) -> void:
		pass


## Before: start() printed its error line while the node was bound, so a Logger reading
## the node hit gdext's borrow check.
func test_the_port_mapper_prints_outside_its_bind() -> void:
	if is_engine():
		return
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	node.port = 0
	var logger := ReadingTheNode.new()
	logger.node = node
	(Engine.get_main_loop() as SceneTree).root.add_child(node)
	OS.add_logger(logger)
	var codes := []
	node.upnp_completed.connect(func(code): codes.append(code))
	expect_errors(func(): node.start(), ["The port must be set between 1 and 65535."], "start()")
	# auto_start runs start() from ready(), inside the engine's call of the node.
	var auto: Node = ClassDB.instantiate("UPNPPortMapper")
	auto.auto_start = true
	auto.port = 70000
	logger.node = auto
	auto.upnp_completed.connect(func(code): codes.append(code))
	expect_errors(
		func(): (Engine.get_main_loop() as SceneTree).root.add_child(auto),
		["The port must be set between 1 and 65535."],
		"auto_start"
	)
	OS.remove_logger(logger)
	var invalid_port := upnp_const("UPNP_RESULT_INVALID_PORT")
	check_eq(codes, [invalid_port, invalid_port], "upnp_completed")
	check_eq(logger.seen.size(), 2, "the Logger ran for each line: %s" % str(logger.seen))
	for seen in logger.seen:
		check_eq(seen[1], node.STATUS_FAILED, "status read inside the Logger")
		check(
			seen[2].begins_with("The port must be set"), "text read inside the Logger: " + seen[2]
		)
		check_eq(seen[3], 0, "mapped port read inside the Logger")
	node.free()
	auto.free()
