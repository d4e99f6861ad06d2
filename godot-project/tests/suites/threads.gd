## Several GDScript threads calling into the classes at once, on one shared object and on
## objects of their own: every call returns, counts add up, fields are never torn. The
## network tests map ports on the test-bed router from several threads at once.
extends "res://tests/test_case.gd"

const THREADS := 8
const ROUNDS := 300
const OWN_ROUNDS := 50
const MAPPED_PER_THREAD := 5
const PORT_RANGE := "The port number must be set between 1 and 65535 (inclusive)."


func test_threads_share_one_upnp_object() -> void:
	var upnp := new_upnp()
	var threads: Array[Thread] = []
	for t in THREADS:
		var thread := Thread.new()
		thread.start(_hammer_list.bind(upnp, t))
		threads.append(thread)
	var completed := 0
	for thread in threads:
		completed += int(thread.wait_to_finish())
	check_eq(completed, THREADS, "threads that completed every round")
	check_eq(upnp.get_device_count(), THREADS * ROUNDS, "devices added from all threads")
	# Every device has the value its thread wrote, whole.
	var torn := 0
	for i in upnp.get_device_count():
		var url: String = upnp.get_device(i).description_url
		if not (
			url.begins_with("http://thread-") and url.ends_with("/padding-x") and url.length() == 37
		):
			torn += 1
	check_eq(torn, 0, "torn or missing device fields")


func test_threads_share_one_device() -> void:
	var device := new_device()
	var threads: Array[Thread] = []
	for t in THREADS:
		var thread := Thread.new()
		thread.start(_hammer_device.bind(device, t))
		threads.append(thread)
	var bad := 0
	for thread in threads:
		bad += int(thread.wait_to_finish())
	check_eq(bad, 0, "reads that saw a value no thread wrote")


func test_threads_with_objects_of_their_own() -> void:
	var threads: Array[Thread] = []
	for t in THREADS:
		var thread := Thread.new()
		thread.start(_own_objects.bind(t))
		threads.append(thread)
	var ok := 0
	for thread in threads:
		ok += int(thread.wait_to_finish())
	check_eq(ok, THREADS, "threads whose objects behaved")
	# Each invalid call printed its own error line, whole, from its own thread.
	var expected := ["The response's wait time can't be negative.", PORT_RANGE]
	var lines := log_capture.take()
	check_eq(lines.size(), THREADS * OWN_ROUNDS * 2, "error lines")
	for entry in lines:
		if not entry.text in expected:
			check(false, "unexpected error line: " + entry.text)
			break


func test_threads_map_through_one_object() -> void:
	var upnp := new_upnp()
	check_eq(upnp.discover(1000), 0, "discover")
	var threads: Array[Thread] = []
	for t in THREADS / 2:
		var thread := Thread.new()
		thread.start(_map_ports.bind(upnp, port(600 + t * 10)))
		threads.append(thread)
	var codes := []
	for thread in threads:
		codes.append_array(thread.wait_to_finish())
	check_eq(codes.count(0), codes.size(), "every add and delete returned SUCCESS: %s" % [codes])
	check_eq(codes.size(), THREADS / 2 * MAPPED_PER_THREAD * 2, "calls made")
	var left := 0
	for key in router_leases():
		left += int(int(key.get_slice(":", 1)) in range(port(600), port(700)))
	check_eq(left, 0, "mappings left on the router")


func test_threads_discover_with_objects_of_their_own() -> void:
	var threads: Array[Thread] = []
	for t in 4:
		var thread := Thread.new()
		thread.start(_discover_and_query)
		threads.append(thread)
	var addresses := []
	for thread in threads:
		addresses.append(thread.wait_to_finish())
	var expected := bed_value("IGD_EXT_IP")
	check_eq(addresses, [expected, expected, expected, expected], "each thread's external address")


func _map_ports(upnp: RefCounted, first_port: int) -> Array:
	var codes := []
	for i in MAPPED_PER_THREAD:
		codes.append(upnp.add_port_mapping(first_port + i, 0, "thread", "TCP", 600))
	for i in MAPPED_PER_THREAD:
		codes.append(upnp.delete_port_mapping(first_port + i, "TCP"))
	return codes


func _discover_and_query() -> String:
	var upnp := new_upnp()
	if upnp.discover(1000) != 0:
		return "discover failed"
	return upnp.query_external_address()


func _hammer_list(upnp: RefCounted, t: int) -> bool:
	for round in ROUNDS:
		var device := new_device()
		device.description_url = "http://thread-%02d/round-%04d/padding-x" % [t, round]
		upnp.add_device(device)
		upnp.get_device_count()
		upnp.get_gateway()
		upnp.discover_local_port = t
		upnp.get_discover_local_port()
		if round % 50 == 0:
			upnp.get_device(0)
	return true


func _hammer_device(device: RefCounted, t: int) -> int:
	var mine := "value-of-thread-%02d-%s" % [t, "x".repeat(200)]
	var bad := 0
	for round in ROUNDS:
		device.igd_control_url = mine
		var seen: String = device.igd_control_url
		if not seen.begins_with("value-of-thread-") or seen.length() != mine.length():
			bad += 1
		device.igd_status = t
		device.is_valid_gateway()
		device.get_igd_status()
	return bad


func _own_objects(t: int) -> bool:
	var upnp := new_upnp()
	var device := new_device()
	device.igd_status = device_const("IGD_STATUS_OK")
	upnp.add_device(device)
	var ok := true
	for round in OWN_ROUNDS:
		ok = ok and upnp.get_gateway() == device
		ok = ok and upnp.discover(-1) == upnp_const("UPNP_RESULT_INVALID_PARAM")
		ok = ok and device.add_port_mapping(0) == upnp_const("UPNP_RESULT_INVALID_PORT")
	return ok and t >= 0
