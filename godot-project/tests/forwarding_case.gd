## Base of the forwarding suites, on a bed made with igd-up.sh IGD_FORWARD=1 (the router's
## external address reachable from the WAN namespace): a UDP and a TCP listener in this
## process (the client namespace) on the mapped port, and the prober
## (tests/testbed/probe.py) run in the WAN namespace against external_address:port. A
## probe arrived when the prober got its token back and the listener got the token.
extends "res://tests/port_mapper_case.gd"

const PROTOCOLS := ["UDP", "TCP"]


## A UDP socket and a TCP server on one port: each echoes what arrives (a datagram; a
## line on a connection) and notes the text and when it arrived. Open, it answers on
## every frame (whatever the test is waiting for meanwhile).
class Listener:
	## "UDP" / "TCP" -> [[text, ticks_usec], ...] in the order they arrived
	var arrivals := {"UDP": [], "TCP": []}
	var _udp := PacketPeerUDP.new()
	var _tcp := TCPServer.new()
	## [[StreamPeerTCP, bytes so far, echoed], ...]
	var _peers := []

	## Binds both on `port` (all addresses); OK or the first error.
	func open(port: int) -> Error:
		var error := _udp.bind(port, "*")
		if error == OK:
			error = _tcp.listen(port, "*")
		if error == OK:
			(Engine.get_main_loop() as SceneTree).process_frame.connect(poll)
		return error

	## Echoes what came since the last call.
	func poll() -> void:
		while _udp.get_available_packet_count() > 0:
			var packet := _udp.get_packet()
			_udp.set_dest_address(_udp.get_packet_ip(), _udp.get_packet_port())
			_udp.put_packet(packet)
			arrivals.UDP.append([packet.get_string_from_utf8(), Time.get_ticks_usec()])
		while _tcp.is_connection_available():
			_peers.append([_tcp.take_connection(), PackedByteArray(), false])
		for entry in _peers:
			var peer: StreamPeerTCP = entry[0]
			peer.poll()
			if entry[2] or peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
				continue
			var available := peer.get_available_bytes()
			if available == 0:
				continue
			entry[1].append_array(peer.get_data(available)[1])
			if entry[1][-1] == 10:  # the whole line: echo it
				peer.put_data(entry[1])
				entry[2] = true
				arrivals.TCP.append(
					[entry[1].get_string_from_utf8().strip_edges(), Time.get_ticks_usec()]
				)

	## When `token` arrived over `protocol` (ticks_usec), 0 when it did not.
	func arrived_at(protocol: String, token: String) -> int:
		for arrival in arrivals[protocol]:
			if arrival[0] == token:
				return arrival[1]
		return 0

	func close() -> void:
		var tree := Engine.get_main_loop() as SceneTree
		if tree.process_frame.is_connected(poll):
			tree.process_frame.disconnect(poll)
		for entry in _peers:
			entry[0].disconnect_from_host()
		_peers.clear()
		_tcp.stop()
		_udp.close()


## A listener on `listen_port` (fails the test when it cannot bind).
func _listener(listen_port: int) -> Listener:
	check_eq(bed_value("IGD_FORWARD"), "1", "the bed's forwarding mode (igd-up.sh IGD_FORWARD=1)")
	var listener := Listener.new()
	check_eq(listener.open(listen_port), OK, "listening on port %d" % listen_port)
	return listener


## Starts the prober in the WAN namespace against `host` (default: the bed's external
## address; an IPv6 address of the client for a pinhole) and
## `external_port` (up to `tries` tries per protocol, 1 s each), and waits (frames) until
## it is ready. It then waits for `_go`, so that probes are timed from an event of the
## test, not from the interpreter's start-up. Returns the handle `_go` and
## `_finish_probe` take.
func _launch_probe(external_port: int, tries := 1, host := "") -> Dictionary:
	var prober := ProjectSettings.globalize_path("res://").path_join("../tests/testbed/probe.py")
	var token := "fwd-%d-%d" % [external_port, randi()]
	var args := ["netns", "exec", bed_value("IGD_WAN_NS"), "python3", prober.simplify_path()]
	args.append_array([host if host else bed_value("IGD_EXT_IP"), str(external_port), token])
	args.append_array(["--tries", str(tries), "--wait-go"])
	var probe := OS.execute_with_pipe("ip", args, false)
	check(not probe.is_empty(), "the prober started")
	probe["token"] = token
	probe["tries"] = tries
	probe["output"] = ""
	if not probe.has("pid"):
		return probe
	# Bounded: the interpreter starts within about 0.3 s on this machine.
	await _wait_until(
		func():
			probe.output += probe.stdio.get_buffer(4096).get_string_from_utf8()
			return probe.output.begins_with("ready\n") or not OS.is_process_running(probe.pid),
		5000
	)
	check(probe.output.begins_with("ready\n"), "the prober is ready: '%s'" % probe.output)
	return probe


## Lets a launched prober send now (once); notes when.
func _go(probe: Dictionary) -> void:
	if not probe.has("pid") or probe.has("go_usec"):
		return
	probe["go_usec"] = Time.get_ticks_usec()
	probe.stdio.store_string("go\n")
	probe.stdio.flush()


## Waits for the prober to end (one never let go is ended), `listener` answering.
## Returns, per protocol, the prober's report (arrived, tries, rtt_ms, since_start_ms,
## error) plus "received_usec": when the listener got this probe's token (0: never).
func _finish_probe(listener: Listener, probe: Dictionary) -> Dictionary:
	var report = {}
	if probe.has("pid"):
		check(probe.has("go_usec"), "the prober was let go (the mapping was reported)")
		if probe.has("go_usec"):
			# Bounded by the prober's own limits: tries x 1 s per protocol.
			await _wait_until(
				func(): return not OS.is_process_running(probe.pid), 2 * probe.tries * 1000 + 2000
			)
		if OS.is_process_running(probe.pid):
			OS.kill(probe.pid)
			check(false, "the prober did not end")
		listener.poll()
		check_eq(OS.get_process_exit_code(probe.pid), 0, "the prober's exit code")
		var text: String = probe.output + probe.stdio.get_buffer(65536).get_string_from_utf8()
		probe.stdio.close()
		probe.stderr.close()
		report = JSON.parse_string(text.trim_prefix("ready\n"))
		if not check(report is Dictionary, "the prober's report: '%s'" % text):
			report = {}
	for proto in PROTOCOLS:
		var entry: Dictionary = report.get(proto, {})
		entry["received_usec"] = listener.arrived_at(proto, probe.get("token", ""))
		report[proto] = entry
	return report


## A probe sent now (see `_launch_probe` and `_finish_probe`).
func _probe(listener: Listener, external_port: int, tries := 1, host := "") -> Dictionary:
	var probe := await _launch_probe(external_port, tries, host)
	_go(probe)
	return await _finish_probe(listener, probe)


## Checks that a probe arrived over both protocols (`expected` true) or that the router
## refused both (false: it holds no mapping for the port, and nothing reached us).
func _check_forwarding(report: Dictionary, expected: bool, what: String) -> void:
	for proto in PROTOCOLS:
		var entry: Dictionary = report[proto]
		var label := "%s: %s from the WAN side" % [what, proto]
		check_eq(entry.get("arrived"), expected, "%s arrived (%s)" % [label, entry.get("error")])
		check_eq(entry.received_usec != 0, expected, label + " reached the listener")
		if not expected:
			check_eq(entry.get("error"), "refused", label + ": the router refused it")


## Checks that a probe was swallowed over both protocols: translated by the router and
## dropped before it reached us (no refusal: the router still has the mapping's DNAT).
func _check_dropped(report: Dictionary, what: String) -> void:
	for proto in PROTOCOLS:
		var entry: Dictionary = report[proto]
		var label := "%s: %s from the WAN side" % [what, proto]
		check_eq(entry.get("arrived"), false, label + " did not arrive")
		check_eq(entry.received_usec, 0, label + " did not reach the listener")
		check_eq(entry.get("error"), "timeout", label + ": dropped, not refused")


## Makes the router list `internal_port`'s mappings without forwarding them
## (tests/testbed/break-forwarding.sh); returns how many filter rules it removed.
func _break_forwarding(internal_port: int) -> int:
	var script := ProjectSettings.globalize_path("res://").path_join(
		"../tests/testbed/break-forwarding.sh"
	)
	var command := (
		"IGD_STATE_DIR='%s' '%s' %d"
		% [bed_value("IGD_STATE_DIR"), script.simplify_path(), internal_port]
	)
	var output := []
	check_eq(OS.execute("bash", ["-c", command], output, true), 0, "break-forwarding.sh")
	return int("".join(output).strip_edges())


## Prints, per protocol, the time from `mapped_usec[proto]` (when the mapping was
## reported) to the probe's arrival at the listener, and when the prober was let go.
func _print_times(what: String, report: Dictionary, mapped_usec: Dictionary, probe: Dictionary):
	for proto in PROTOCOLS:
		var entry: Dictionary = report[proto]
		if entry.received_usec == 0 or not mapped_usec.has(proto):
			continue
		var thing := "datagram" if proto == "UDP" else "connection"
		print(
			(
				(
					"     %s: %s mapping reported -> first %s arrived in %.2f ms"
					% [what, proto, thing, (entry.received_usec - mapped_usec[proto]) / 1000.0]
				)
				+ (
					" (prober let go after %.2f ms; try %d, round trip %.2f ms)"
					% [(probe.go_usec - mapped_usec[proto]) / 1000.0, entry.tries, entry.rtt_ms]
				)
			)
		)


## Follows `node`'s port_mapped signals: "mapped" holds when each protocol's latest came
## (ticks_usec); a probe put in "armed" is let go once both protocols are mapped after it
## was armed (so from the second port_mapped on, all in the signal handler).
func _watch_mapped(node: Node) -> Dictionary:
	var watch := {"mapped": {}, "armed": {}, "since_armed": 0}
	node.port_mapped.connect(
		func(_a, _p, proto, _m):
			watch.mapped[proto] = Time.get_ticks_usec()
			watch.since_armed += 1
			if watch.since_armed >= PROTOCOLS.size():
				_go(watch.armed)
	)
	return watch


## Arms `probe` on a `_watch_mapped` watch.
func _arm(watch: Dictionary, probe: Dictionary) -> void:
	watch.armed = probe
	watch.since_armed = 0


## A node maps both protocols by `method`; probes from outside arrive; after stop()
## the router refuses them. A probe before start() shows it refused without a mapping.
func _node_forwards_until_stop(external_port: int, method: String) -> void:
	var listener := _listener(external_port)
	_check_forwarding(await _probe(listener, external_port), false, "before start()")
	var node := _mapper(external_port)
	var seen := _record(node)
	var watch := _watch_mapped(node)
	var probe := await _launch_probe(external_port, 3)
	_arm(watch, probe)
	await _start_and_wait(node, seen)
	check_eq(seen.mapped.size(), 2, "port_mapped signals")
	for mapped in seen.mapped:
		check_eq(
			[mapped[0], mapped[1], mapped[3]],
			[bed_value("IGD_EXT_IP"), external_port, method],
			"port_mapped"
		)
	var report := await _finish_probe(listener, probe)
	_check_forwarding(report, true, "mapped")
	_print_times("forwarding (%s)" % method, report, watch.mapped, probe)
	node.stop()
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, 6000)
	check_eq(node.get_status(), node.STATUS_STOPPED, "status after stop()")
	_check_forwarding(await _probe(listener, external_port), false, "after stop()")
	node.free()
	listener.close()


## A node maps both protocols; the router reboots and forgets them (probes refused);
## the node adds them again and probes arrive again. By PCP the node is asked to
## refresh() after the reboot (a renewal shows the new epoch); by UPnP its periodic
## check (refresh_interval 4 s) finds the mappings gone.
func _node_forwards_again_after_reboot(external_port: int, method: String) -> void:
	var listener := _listener(external_port)
	var node := _mapper(external_port)
	node.refresh_interval = 4.0 if method == "UPnP" else 300.0
	var seen := _record(node)
	var watch := _watch_mapped(node)
	await _start_and_wait(node, seen)
	_check_forwarding(await _probe(listener, external_port, 3), true, "before the reboot")
	if method == "UPnP":
		# As in port_mapper.gd: a check now puts the next one clear of the restart.
		node.refresh()
		await _wait_until(func(): return false, 200)
	else:
		# As in port_mapper_pmp.gd: past the restart-detection slack (2 s).
		await _wait_until(func(): return false, 1000)
	restart_router({"IGD_CLEAR_LEASES": "1"})
	_check_forwarding(await _probe(listener, external_port), false, "after the reboot")
	var probe := await _launch_probe(external_port, 3)
	_arm(watch, probe)
	if method != "UPnP":
		node.refresh()
	await _wait_until(func(): return seen.mapped.size() >= 4, 2000 + WAIT_MS)
	check_eq(seen.mapped.size(), 4, "port_mapped signals (2 before the reboot, 2 after)")
	check_eq(seen.lost.size(), 2, "mapping_lost signals")
	var report := await _finish_probe(listener, probe)
	_check_forwarding(report, true, "mapped again")
	_print_times("forwarding after a reboot (%s)" % method, report, watch.mapped, probe)
	node.free()
	listener.close()
