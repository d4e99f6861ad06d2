## Proof that mappings forward (bed IGD_FORWARD=1, UPnP on): what the WAN host sends to
## external_address:port reaches a listener in this process, over UDP and TCP, while
## UPNPPortMapper or RustUPNP holds the mapping, and is refused by the router when not.
extends "res://tests/forwarding_case.gd"


func test_node_mapping_forwards_until_stop() -> void:
	await _node_forwards_until_stop(port(0), "UPnP")


func test_node_mapping_forwards_again_after_router_reboot() -> void:
	await _node_forwards_again_after_reboot(port(1), "UPnP")


## A router that lists a mapping and renews it but forwards nothing (tailscale/tailscale#21208,
## Technicolor CGA4131COM; made here by tests/testbed/break-forwarding.sh): the node cannot
## tell, its checks find the mapping listed as before, and a renewal (the same
## AddPortMapping) does not repair it. The game, seeing no traffic, calls refresh(): each
## listed mapping is deleted and added again, and probes arrive again. The repair is quiet:
## no mapping_lost, no port_mapped, the same port.
func test_a_listed_mapping_that_does_not_forward_is_repaired_by_refresh() -> void:
	var external_port := port(3)
	var listener := _listener(external_port)
	var node := _mapper(external_port)
	node.refresh_interval = 0.5
	var seen := _record(node)
	await _start_and_wait(node, seen)
	_check_forwarding(await _probe(listener, external_port, 3), true, "mapped")
	check_eq(_break_forwarding(external_port), 2, "filter rules removed (UDP and TCP)")
	_check_dropped(await _probe(listener, external_port), "listed, not forwarding")
	for proto in PROTOCOLS:
		check(router_leases().has("%s:%d" % [proto, external_port]), proto + ": still listed")
	# What the node can tell: nothing. Its timed checks (every 0.5 s) see the mapping listed.
	await _wait_until(func(): return false, 1500)
	check_eq(node.get_status(), node.STATUS_MAPPED, "status: the node cannot tell")
	check_eq(seen.lost.size(), 0, "no mapping_lost")
	var mapped_before: int = seen.mapped.size()
	var asked := Time.get_ticks_usec()
	node.refresh()
	var probe := await _launch_probe(external_port, 3)
	_go(probe)
	var report := await _finish_probe(listener, probe)
	_check_forwarding(report, true, "after refresh()")
	for proto in PROTOCOLS:
		if report[proto].received_usec != 0:
			print(
				(
					"     repair: refresh() -> first %s probe arrived in %.1f ms (try %d)"
					% [proto, (report[proto].received_usec - asked) / 1000.0, report[proto].tries]
				)
			)
	check_eq(seen.mapped.size(), mapped_before, "a repair is quiet: no port_mapped")
	check_eq(seen.lost.size(), 0, "a repair is quiet: no mapping_lost")
	check_eq(node.get_mapped_port("UDP"), external_port, "the same port")
	node.stop()
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, 6000)
	node.free()
	listener.close()


func test_add_port_mapping_forwards_until_delete() -> void:
	var external_port := port(2)
	var listener := _listener(external_port)
	var upnp := new_upnp()
	check_eq(upnp.discover(1000), 0, "discover()")
	var probe := await _launch_probe(external_port, 3)
	var added_usec := {}
	for proto in PROTOCOLS:
		var code: int = upnp.add_port_mapping(external_port, external_port, "gd fwd", proto, 3600)
		added_usec[proto] = Time.get_ticks_usec()
		check_eq(code, 0, "add_port_mapping " + proto)
	_go(probe)
	var report := await _finish_probe(listener, probe)
	_check_forwarding(report, true, "added")
	_print_times("forwarding (add_port_mapping)", report, added_usec, probe)
	for proto in PROTOCOLS:
		check_eq(upnp.delete_port_mapping(external_port, proto), 0, "delete_port_mapping " + proto)
	_check_forwarding(await _probe(listener, external_port), false, "deleted")
	listener.close()
