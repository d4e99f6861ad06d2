## Every router profile of igd-sim (tests/igd-sim/src/profiles.rs, each citing the real
## router it copies; `igd-sim --help` lists them) end to end through Godot: RustUPNP
## discovers it by multicast on the bed's LAN, reads the external address, maps and
## unmaps UDP and TCP; UPNPPortMapper maps through it (the port and status text the
## profile calls for) and removes the mappings at stop(). Then a router that empties its
## table while it keeps running (igd-sim's stdin command `forget`, a WAN reconnect): the
## node notices at its next check, by refresh() or refresh_interval, and maps again.
## What the router received and holds is read from the simulator's --log-soap lines.
## One simulator at a time, started by the suite (bed values SIM: the igd-sim binary,
## SIM_ADDRESS: an extra address of the client's c0), on a bed where no other router
## answers (tests/godot/run.sh) and the client has a default route via the router's LAN
## address, where nothing listens but a simulator of this suite: the router that answers
## only unicast searches (the client sends those to its gateways only) and the FRITZ!Box
## naming its fe80:: address without a zone (IPv6 discovery) run there, in the bed's
## router namespace. A warm start finds that FRITZ!Box again by its remembered URL.
extends "res://tests/sim_case.gd"

const MIKROTIK_SECOND_CONTROL := "/upnp/control/xstnsgeuyh/wanipconn-7"
const HUAWEI_CONTROL := "/ctrlt/WANPPPConnection_1"
## The simulator's device that is the gateway, when not device 0.
const SAGEMCOM_IGD := 1


## Both protocols on `external_port`, as `_ours` lists them.
func _both(external_port: int) -> Array:
	return ["TCP:%d" % external_port, "UDP:%d" % external_port]


## One profile end to end. `expect`: "gateway" (the device that is the gateway),
## "control" (the control path the mappings must go to), "lease_refused" (the
## UPNPResult name and the error line of an add with a lease: the router takes 0 only),
## "held" (another computer holds the node's port, so it gets the next one),
## "router_address" (the simulator is the router, on this LAN address of its own),
## "arrival" (how a search the router received arrived: "multicast" or "unicast").
func _profile(name: String, expect: Dictionary) -> void:
	var args := ["--profile", name]
	if expect.get("held", false):
		args.append_array(["--held-port", str(port(1))])
	var sim := await _start_sim(args, expect.get("router_address", ""))
	if sim.pid != 0:
		await _through_rust_upnp(sim, expect)
		await _through_port_mapper(sim, expect)
		if expect.has("arrival"):
			var arrivals := sim.lines("SEARCH").map(func(fields): return fields[0])
			check(
				expect.arrival in arrivals,
				"a search arrived by %s: %s" % [expect.arrival, arrivals]
			)
		var control: String = expect.get("control", "")
		if not control.is_empty():
			# Discovery asks every service for its state; the mappings go to the chosen one.
			for action in ["AddPortMapping", "DeletePortMapping"]:
				for request in sim.soap(action):
					check_eq(request.path, control, "%s went to the chosen service" % action)
	await _stop_sim(sim)


## discover(), the gateway, its external address, add and delete for UDP and TCP.
func _through_rust_upnp(sim: Sim, expect: Dictionary) -> void:
	var upnp := new_upnp()
	var started := Time.get_ticks_msec()
	check_eq(upnp.discover(500), upnp_const("UPNP_RESULT_SUCCESS"), "discover(500)")
	var discovered_ms := Time.get_ticks_msec() - started
	var gateway: RefCounted = upnp.get_gateway()
	var device: int = expect.get("gateway", 0)
	if not check(gateway != null, "a gateway among %d devices" % upnp.get_device_count()):
		return
	check_eq(gateway.description_url, sim.location(device), "the gateway is device %d" % device)
	check_eq(gateway.igd_status, device_const("IGD_STATUS_OK"), "igd_status")
	var external = expect_errors(gateway.query_external_address, [], "query_external_address")
	check_eq(external, EXTERNAL, "query_external_address()")
	var lease := 3600
	var mapped := port(0)
	if expect.has("lease_refused"):
		var refused: Array = expect.lease_refused
		var add := func(): return gateway.add_port_mapping(mapped, 0, "gd profiles", "UDP", lease)
		var code = expect_errors(add, [refused[1]], "add with a lease")
		check_eq(code, upnp_const("UPNP_RESULT_" + refused[0]), "add with a lease")
		lease = 0
	if expect.get("held", false):
		var add := func(): return gateway.add_port_mapping(port(1), 0, "gd profiles", "UDP", lease)
		var code = expect_errors(add, ["UPnP error 501"], "add on the held port")
		check_eq(code, upnp_const("UPNP_RESULT_ACTION_FAILED"), "add on the held port")
	for proto in ["UDP", "TCP"]:
		check_eq(
			gateway.add_port_mapping(mapped, 0, "gd profiles", proto, lease), 0, "add %s" % proto
		)
	var both := _both(mapped)
	var listed := await _wait_table(sim, func(t): return _ours(t, "gd profiles") == both, device)
	check(listed, "the router lists UDP and TCP %d: %s" % [mapped, sim.table(device)])
	if listed:
		var entry: Dictionary = sim.table(device)["UDP:%d" % mapped]
		check_eq(entry.client, bed_value("IGD_CLIENT_IP"), "the mapping's client")
		check_eq(entry.lease, 604800 if lease == 0 else lease, "the lease granted")
	for proto in ["UDP", "TCP"]:
		check_eq(gateway.delete_port_mapping(mapped, proto), 0, "delete %s" % proto)
	var removed := await _wait_table(
		sim, func(t): return _ours(t, "gd profiles").is_empty(), device
	)
	check(removed, "the router holds none of them: %s" % sim.table(device))
	print(
		(
			"     %s: discover(500) in %d ms, %d device(s), external '%s'"
			% [sim.name, discovered_ms, upnp.get_device_count(), external]
		)
	)


## UPNPPortMapper: start() -> upnp_completed and port_mapped for both protocols, the
## status text, the router's table; stop() removes them.
func _through_port_mapper(sim: Sim, expect: Dictionary) -> void:
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _mapper(port(1))
	node.allow_nat_pmp = false
	node.discover_timeout = 1000
	var seen := _record(node)
	var after: float = await _start_and_wait(node, seen)
	await _wait_until(func(): return seen.mapped.size() >= 2, 2000)
	var device: int = expect.get("gateway", 0)
	var mapped_port := port(2) if expect.get("held", false) else port(1)
	var mapped := []
	for entry in seen.mapped:
		mapped.append("%s %s:%d %s" % [entry[3], entry[0], entry[1], entry[2]])
	mapped.sort()
	var expected := [
		"UPnP %s:%d TCP" % [EXTERNAL, mapped_port], "UPnP %s:%d UDP" % [EXTERNAL, mapped_port]
	]
	check_eq(mapped, expected, "port_mapped")
	var text: String = node.get_status_text()
	print("     %s: UPNPPortMapper upnp_completed in %.1f ms: %s" % [sim.name, after, text])
	var line := "UDP %d, TCP %d open on %s (UPnP)" % [mapped_port, mapped_port, EXTERNAL]
	check_eq(text, line, "status text")
	var both := _both(mapped_port)
	var listed := await _wait_table(sim, func(t): return _ours(t, "gd mapper") == both, device)
	check(listed, "the router lists the node's mappings: %s" % sim.table(device))
	if expect.has("lease_refused"):
		# The router takes lease 0 only: the node's last add per protocol asked for 0. The
		# simulator prints what it received every 10 ms: wait for the 4 adds' lines.
		var adds := func():
			return sim.soap("AddPortMapping").filter(
				func(r): return r.get("NewPortMappingDescription") == "gd mapper"
			)
		await _wait_until(func(): return adds.call().size() >= 4, 2000)
		for proto in ["UDP", "TCP"]:
			var leases := []
			for request in sim.soap("AddPortMapping"):
				if request.get("NewPortMappingDescription") == "gd mapper":
					if request.get("NewProtocol") == proto:
						leases.append(request.get("NewLeaseDuration"))
			check(leases == ["3600", "0"], "%s leases the node asked for: %s" % [proto, leases])
	node.stop()
	var removed := await _wait_table(sim, func(t): return _ours(t, "gd mapper").is_empty(), device)
	check(removed, "stop() removed the node's mappings: %s" % sim.table(device))
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, 2000)
	check_eq(node.get_status(), node.STATUS_STOPPED, "status after stop()")
	if expect.get("held", false):
		var others := _ours(sim.table(device), "another computer")
		check_eq(others, _both(port(1)), "the other computer's mappings stay")
	node.free()


func test_answers_from_another_port() -> void:
	await _profile("another-port", {})


func test_ssdp_all_finds_only_a_wfa_device() -> void:
	await _profile("sagemcom-wfa", {"gateway": SAGEMCOM_IGD})


func test_mikrotik_two_wans_the_connected_one() -> void:
	await _profile("mikrotik-two-wans", {"control": MIKROTIK_SECOND_CONTROL})


func test_huawei_dslforum_names() -> void:
	await _profile("huawei-dslforum", {"control": HUAWEI_CONTROL})


## The client's LAN interface index (the zone of a link-local URL on it).
func _c0_index() -> int:
	var out := []
	OS.execute("ip", ["-o", "link", "show", "c0"], out)
	return int(str(out[0]).get_slice(":", 0)) if not out.is_empty() else -1


## The router's link-local address on lan0 (fixed: the bed's MACs are).
func _router_link_local() -> String:
	var out := []
	var args := [
		"-n", bed_value("IGD_ROUTER_NS"), "-6", "-o", "addr", "show", "lan0", "scope", "link"
	]
	OS.execute("ip", args, out)
	var text := str(out[0]) if not out.is_empty() else ""
	var at := text.find("inet6 ")
	check(at >= 0, "the router has a link-local address: '%s'" % text)
	return text.substr(at + 6).get_slice("/", 0)


## A router answering only searches sent to the group (tailscale/tailscale#3197).
func test_answers_only_multicast() -> void:
	await _profile("multicast-only", {"arrival": "multicast"})


## A router answering only searches sent to its own address (multicast broken on the
## LAN): found at the client's default gateway, where it runs.
func test_answers_only_unicast() -> void:
	var router := bed_value("IGD_GATEWAY")
	await _profile("unicast-only", {"router_address": router, "arrival": "unicast"})


## A FRITZ!Box answering ff02::c from its fe80:: address, naming it without a zone
## (home-assistant/core#71418), with discover_ipv6 on: RustUPNP finds it, fetches its
## description and reads its external address on the interface the answer came on (the
## control URL given to scripts carries it as an RFC 6874 zone). A mapping names our
## link-local address as its internal client, which this IPv4 NAT refuses as miniupnpd
## does (501: not an IPv4 address): RustUPNP gets ACTION_FAILED with one error line, the
## node upnp_completed(ACTION_FAILED) and says the router refused; nothing is mapped.
func test_link_local_location_without_a_zone() -> void:
	var sim := await _start_sim(_link_local_args(), _router_link_local())
	if sim.pid == 0:
		return
	var upnp := new_upnp()
	upnp.discover_ipv6 = true
	check_eq(upnp.discover(500), upnp_const("UPNP_RESULT_SUCCESS"), "discover(500)")
	var gateway: RefCounted = upnp.get_gateway()
	if check(gateway != null, "a gateway among %d devices" % upnp.get_device_count()):
		check_eq(gateway.description_url, sim.location(0), "the LOCATION, as sent")
		var zoned := _zoned(sim.location(0)).get_slice("]", 0)
		check(gateway.igd_control_url.begins_with(zoned), "zoned: %s" % gateway.igd_control_url)
		var ours: String = gateway.igd_our_addr
		check(ours.begins_with("fe80::"), "our link-local address: '%s'" % ours)
		var external = expect_errors(gateway.query_external_address, [], "query_external_address")
		check_eq(external, EXTERNAL, "query_external_address()")
		for proto in ["UDP", "TCP"]:
			var add := func():
				return gateway.add_port_mapping(port(0), 0, "gd profiles", proto, 3600)
			var code = expect_errors(add, ["UPnP error 501"], "add %s" % proto)
			check_eq(code, upnp_const("UPNP_RESULT_ACTION_FAILED"), "add %s" % proto)
		# The simulator prints what it received every 10 ms.
		await _wait_until(func(): return sim.soap("AddPortMapping").size() >= 2, 2000)
		var clients := sim.soap("AddPortMapping").map(func(r): return r.NewInternalClient)
		check_eq(clients, [ours, ours], "the internal client the router was asked for")
		print(
			(
				"     fritzbox-link-local: control URL %s, our address %s"
				% [gateway.igd_control_url, ours]
			)
		)
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _link_local_mapper(true)
	var seen := _record(node)
	var after: float = await _start_and_wait(node, seen, upnp_const("UPNP_RESULT_ACTION_FAILED"))
	var text: String = node.get_status_text()
	print("     fritzbox-link-local: UPNPPortMapper upnp_completed in %.1f ms: %s" % [after, text])
	check("refused" in text, "the node says the router refused: '%s'" % text)
	check_eq(seen.mapped.size(), 0, "no port_mapped")
	check(sim.table().is_empty(), "nothing mapped: %s" % sim.table())
	node.stop()
	node.free()
	await _stop_sim(sim)


## That FRITZ!Box, found once by IPv6 discovery: the node remembers its description URL
## with our interface as an RFC 6874 zone, and the next start, IPv6 discovery off (no
## search can find it then), reaches the router by that URL alone: its AddPortMapping
## requests arrive (and are refused, as above) and no search does. Before, the URL was
## remembered without its zone: the warm start reached nothing.
func test_a_link_local_router_is_found_again_by_its_remembered_url() -> void:
	var sim := await _start_sim(_link_local_args(), _router_link_local())
	if sim.pid == 0:
		return
	var refused := upnp_const("UPNP_RESULT_ACTION_FAILED")
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var first := _link_local_mapper(true)
	await _start_and_wait(first, _record(first), refused)
	first.stop()
	first.free()
	var remembered := FileAccess.get_file_as_string("user://upnp_port_mapper_gateway.txt")
	check_eq(remembered, _zoned(sim.location(0)), "the remembered description URL")
	var searches := sim.lines("SEARCH").size()
	var asked := sim.soap("AddPortMapping").size()
	var node := _link_local_mapper(false)
	var after: float = await _start_and_wait(node, _record(node), refused)
	var text: String = node.get_status_text()
	print("     warm start by %s: upnp_completed in %.1f ms: %s" % [remembered, after, text])
	await _wait_until(func(): return sim.soap("AddPortMapping").size() > asked, 2000)
	check(sim.soap("AddPortMapping").size() > asked, "the router was asked to map")
	check_eq(sim.lines("SEARCH").size(), searches, "no search reached the router")
	node.stop()
	node.free()
	await _stop_sim(sim)


## igd-sim as the FRITZ!Box, on the router's lan0 (IPv6 group).
func _link_local_args() -> Array:
	return ["--profile", "fritzbox-link-local", "--ipv6"]


## `url` (on a link-local host) with the client's c0 as its RFC 6874 zone.
func _zoned(url: String) -> String:
	var host := url.get_slice("]", 0)
	return url.replace(host + "]", "%s%%25%d]" % [host, _c0_index()])


## A node for the FRITZ!Box: UPnP only, port(3), IPv6 discovery as `ipv6` says.
func _link_local_mapper(ipv6: bool) -> Node:
	var node := _mapper(port(3))
	node.allow_nat_pmp = false
	node.discover_timeout = 1000
	node.discover_ipv6 = ipv6
	return node


## A router saying 0.0.0.0 (tailscale/corp#23538): RustUPNP lists it as a gateway without an
## address (as the engine would take it), query_external_address() gives ""; the node
## never calls it a success: upnp_completed(INVALID_GATEWAY), STATUS_FAILED, nothing sent
## to the router's table (Tailscale refuses such a router too). What both do is printed.
func test_external_address_0_0_0_0() -> void:
	var sim := await _start_sim(["--profile", "no-external-address"])
	if sim.pid == 0:
		return
	var upnp := new_upnp()
	check_eq(upnp.discover(500), upnp_const("UPNP_RESULT_SUCCESS"), "discover(500)")
	if check(upnp.get_device_count() == 1, "the router is listed"):
		var listed: RefCounted = upnp.get_device(0)
		check_eq(listed.description_url, sim.location(0), "the listed device")
		var external: String = upnp.query_external_address()
		check_eq(external, "", "query_external_address(): 0.0.0.0 is no address")
		print(
			(
				"     0.0.0.0: RustUPNP igd_status %d, a gateway %s, external address '%s', lines %s"
				% [listed.igd_status, upnp.get_gateway() != null, external, _lines()]
			)
		)
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _mapper(port(1))
	node.allow_nat_pmp = false
	node.discover_timeout = 1000
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	node.start()
	var after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	check_eq(seen.get("completed"), upnp_const("UPNP_RESULT_INVALID_GATEWAY"), "upnp_completed")
	check_eq(node.get_status(), node.STATUS_FAILED, "status: never a success")
	check_eq(seen.mapped.size(), 0, "no port_mapped")
	check(_ours(sim.table(), "gd mapper").is_empty(), "nothing mapped: %s" % sim.table())
	var text: String = node.get_status_text()
	check(not text.is_empty() and text != "Looking for the router...", "the node says: '%s'" % text)
	print(
		(
			"     0.0.0.0: UPNPPortMapper upnp_completed(%s) in %.1f ms, %d port_mapped, lines %s: %s"
			% [seen.get("completed"), after, seen.mapped.size(), _lines(), text]
		)
	)
	node.stop()
	var removed := await _wait_table(sim, func(t): return _ours(t, "gd mapper").is_empty())
	check(removed, "stop() left nothing on the router: %s" % sim.table())
	node.free()
	await _stop_sim(sim)


func test_whitespace_before_the_description() -> void:
	await _profile("leading-whitespace", {})


func test_bom_before_the_description() -> void:
	await _profile("leading-bom", {})


func test_bom_and_whitespace_before_the_description() -> void:
	await _profile("leading-bom-whitespace", {})


func test_namespace_prefixes_in_the_description() -> void:
	await _profile("namespace-prefixes", {})


func test_soap_envelope_prefix_soap() -> void:
	await _profile("soap-prefix", {})


func test_soap_envelope_prefix_soap_env() -> void:
	await _profile("soap-env-prefix", {})


func test_725_permanent_leases_only() -> void:
	var refused := ["ONLY_PERMANENT_LEASE_SUPPORTED", "UPnP error 725"]
	await _profile("permanent-only", {"lease_refused": refused})


func test_402_for_a_lease() -> void:
	await _profile("invalid-args-for-leases", {"lease_refused": ["INVALID_ARGS", "UPnP error 402"]})


func test_501_for_a_port_held_by_another_computer() -> void:
	await _profile("action-failed-for-conflicts", {"held": true})


## The router empties its table (a WAN reconnect): the next check notices, by refresh()
## (`interval` 0) or by refresh_interval; each protocol is reported lost, then mapped
## again on the same port, and the router lists both again.
func _emptied_table(interval: float) -> void:
	var sim := await _start_sim(["--kind", "igd"])
	if sim.pid == 0:
		return
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _mapper(port(2))
	node.allow_nat_pmp = false
	if interval > 0:
		node.refresh_interval = interval
	var seen := _record(node)
	await _start_and_wait(node, seen)
	var both := _both(port(2))
	check(
		await _wait_table(sim, func(t): return _ours(t, "gd mapper") == both),
		"the router lists the node's mappings: %s" % sim.table()
	)
	await _wait_until(func(): return seen.mapped.size() >= 2, 2000)
	var events := []
	node.mapping_lost.connect(func(proto, _why): events.append("lost %s" % proto))
	node.port_mapped.connect(func(_a, p, proto, _m): events.append("mapped %s %d" % [proto, p]))
	sim.forget()
	check(await _wait_table(sim, func(t): return t.is_empty()), "the table emptied")
	var emptied := Time.get_ticks_usec()
	if interval == 0:
		node.refresh()
	await _wait_until(func(): return events.size() >= 4, 3000)
	var took := (Time.get_ticks_usec() - emptied) / 1000.0
	var how := "refresh()" if interval == 0 else "refresh_interval %.1f s" % interval
	print(
		(
			"     router_profiles: table emptied, %s -> both mapped again in %.1f ms %s"
			% [how, took, events]
		)
	)
	# Per protocol: lost once, then mapped once on the same port (the protocols may
	# interleave).
	for proto in ["UDP", "TCP"]:
		var mine := events.filter(func(e): return proto in e)
		check_eq(
			mine,
			["lost %s" % proto, "mapped %s %d" % [proto, port(2)]],
			"%s after the table emptied" % proto
		)
	check(
		await _wait_table(sim, func(t): return _ours(t, "gd mapper") == both),
		"the router lists both again: %s" % sim.table()
	)
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	node.stop()
	check(
		await _wait_table(sim, func(t): return t.is_empty()),
		"stop() removed them: %s" % sim.table()
	)
	node.free()
	await _stop_sim(sim)


func test_an_emptied_table_is_mapped_again_at_refresh() -> void:
	await _emptied_table(0)


func test_an_emptied_table_is_mapped_again_at_the_refresh_interval() -> void:
	await _emptied_table(0.5)
