## The class reference's threaded example runs as written (class name aside) on a Node in
## the tree: it completes with OK and the router lists both of its mappings.
extends "res://tests/test_case.gd"

const Example = preload("res://tests/example/upnp_example.gd")
const TIMEOUT_MS := 10000


func test_threaded_example_maps_udp_and_tcp() -> void:
	var node: Node = Example.new()
	var result := {}
	node.upnp_completed.connect(func(error): result["error"] = error)
	var started := Time.get_ticks_msec()
	var tree := Engine.get_main_loop() as SceneTree
	tree.root.add_child(node)
	while not result.has("error") and Time.get_ticks_msec() - started < TIMEOUT_MS:
		await tree.process_frame
	print("     example: upnp_completed after %d ms" % (Time.get_ticks_msec() - started))
	check_eq(result.get("error"), OK, "upnp_completed")
	var name: String = ProjectSettings.get_setting("application/config/name")
	var leases := router_leases()
	for proto in ["UDP", "TCP"]:
		var lease: Dictionary = leases.get("%s:%d" % [proto, Example.SERVER_PORT], {})
		check_eq(lease.get("client"), bed_value("IGD_CLIENT_IP"), proto + " mapping's client")
		check_eq(lease.get("internal_port"), Example.SERVER_PORT, proto + " internal port")
		check_eq(lease.get("description"), name, proto + " description")
	tree.root.remove_child(node)  # _exit_tree waits for the thread
	node.free()
	# Leave the router as it was.
	var upnp := new_upnp()
	upnp.add_device(_gateway_for_cleanup())
	for proto in ["UDP", "TCP"]:
		upnp.delete_port_mapping(Example.SERVER_PORT, proto)
	check(not router_leases().has("UDP:%d" % Example.SERVER_PORT), "cleanup left the UDP mapping")


func _gateway_for_cleanup() -> RefCounted:
	var d := new_device()
	d.igd_control_url = "http://10.77.0.1:5000/ctl/IPConn"
	d.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2"
	d.igd_our_addr = bed_value("IGD_CLIENT_IP")
	d.igd_status = device_const("IGD_STATUS_OK")
	return d
