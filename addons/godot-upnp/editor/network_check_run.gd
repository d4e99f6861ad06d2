## The Network check dock's work, in a Godot process of its own (the dock starts it): in
## the editor UPNPPortMapper is a placeholder (no node of a scene being edited may map a
## port), and a process of its own cannot hold the editor up or leave a mapping. Prints
## each finding as one line starting with "network-check: ".
##
##   godot --headless --path PROJECT --script THIS_SCRIPT -- --check
##   godot --headless --path PROJECT --script THIS_SCRIPT -- --map=PORT
## --map maps PORT (UDP and TCP) with UPNPPortMapper, then removes it.
## Optional: --timeout=MS (how long to look for the router; default 2000).
extends SceneTree

const PREFIX := "network-check: "
const STATUS_STOPPED := 4
const IGD_STATUS_NAMES := [
	"OK",
	"HTTP error",
	"empty description",
	"no URLs",
	"not a gateway",
	"disconnected",
	"unknown device",
	"no usable control URL",
	"out of memory",
	"not examined",
]


func _initialize() -> void:
	var timeout := 2000
	var map_port := 0
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--timeout="):
			timeout = int(arg.trim_prefix("--timeout="))
		elif arg.begins_with("--map="):
			map_port = int(arg.trim_prefix("--map="))
	if not ClassDB.class_exists("RustUPNP"):
		_say("The godot-upnp library is not loaded on this platform (see the editor's Output).")
		quit(1)
	elif map_port > 0:
		_map(map_port, timeout)
	else:
		_check(timeout)
		quit(0)


func _say(line: String) -> void:
	print(PREFIX + line)


## Read-only: the router, the addresses, and what players would meet.
func _check(timeout: int) -> void:
	var upnp: RefCounted = ClassDB.instantiate("RustUPNP")
	var started := Time.get_ticks_msec()
	upnp.discover(timeout)
	var count: int = upnp.get_device_count()
	_say("UPnP search: %d device(s) answered in %d ms." % [count, Time.get_ticks_msec() - started])
	var gateway: RefCounted = upnp.get_gateway() if count > 0 else null
	if gateway == null:
		for i in count:
			var device: RefCounted = upnp.get_device(i)
			_say("Device %s: %s" % [device.description_url, IGD_STATUS_NAMES[device.igd_status]])
		_say("No UPnP router: UPnP is off on the router, or the router does not have it.")
		_say(
			(
				"NAT-PMP/PCP: UPNPPortMapper tries it when UPnP is missing;"
				+ ' "Map test port" shows whether the router answers.'
			)
		)
		_say(
			(
				"Players: cannot connect through UPnP; without NAT-PMP/PCP"
				+ " the port has to be forwarded on the router by hand."
			)
		)
		return
	_say("Router (UPnP): %s" % gateway.description_url)
	_say("This computer, as the router sees it: %s" % gateway.igd_our_addr)
	var external: String = gateway.query_external_address()
	var mapper: Node = ClassDB.instantiate("UPNPPortMapper")
	var described: Dictionary = mapper.describe_external_address(external)
	mapper.free()
	_say(
		"External address: %s (%s)" % [external if external else "none reported", described["kind"]]
	)
	_say("NAT-PMP/PCP: not needed, UPnP answers (UPNPPortMapper uses it only without UPnP).")
	if described["players"]:
		_say("Players: " + described["players"])
	else:
		_say("Players: connect to %s at the port the game maps." % external)


## Maps port with UPNPPortMapper (UPnP, else NAT-PMP/PCP), reports, removes it, exits.
func _map(port: int, timeout: int) -> void:
	var mapper: Node = ClassDB.instantiate("UPNPPortMapper")
	mapper.port = port
	mapper.description = "godot-upnp network check"
	# Should this process be killed, the router drops the mapping by itself.
	mapper.lease_duration = 600
	mapper.discover_timeout = timeout
	mapper.port_mapped.connect(
		func(address: String, external_port: int, protocol: String, method: String) -> void:
			_say("Mapped %s %d on %s by %s." % [protocol, external_port, address, method])
	)
	root.add_child(mapper)
	mapper.start()
	var result: int = await mapper.upnp_completed
	_say("Result %d: %s" % [result, mapper.get_status_text()])
	mapper.stop()
	var deadline := Time.get_ticks_msec() + 5000
	while mapper.get_status() != STATUS_STOPPED and Time.get_ticks_msec() < deadline:
		await process_frame
	_say("Removed: " + mapper.get_status_text())
	quit(0 if result == 0 else 2)
