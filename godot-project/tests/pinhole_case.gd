## Base of the IPv6 pinhole suites: the router's pinhole rules as miniupnpd writes them
## (nftables, `inet igd miniupnpd`), and UPNPPortMapper with ipv6 on, its pinhole reports
## followed.
extends "res://tests/forwarding_case.gd"

## The methods UPNPPortMapper names its pinholes by.
const UPNP_PINHOLE := "UPnP IPv6 pinhole"
const PCP_PINHOLE := "PCP IPv6 pinhole"


## The router's pinhole rules: [{"id", "expires_at_uptime", "rule"}], read as
## tests/igd's Bed::pinhole_rules does: the netlink dump gives each rule's handle and its
## userdata ("pinhole-ID ts-EXPIRY:..."), the listing after it each rule ending in
## "# handle N".
func _pinhole_rules() -> Array:
	var output := []
	var status := OS.execute(
		"ip",
		[
			"netns",
			"exec",
			bed_value("IGD_ROUTER_NS"),
			"nft",
			"-a",
			"--debug=netlink",
			"list",
			"chain",
			"inet",
			"igd",
			"miniupnpd"
		],
		output
	)
	check_eq(status, 0, "nft list chain")
	var userdata := {}
	var handle := ""
	var rules := []
	for line in "".join(output).split("\n"):
		var text := line.strip_edges()
		if line.begins_with("inet igd miniupnpd "):
			handle = line.trim_prefix("inet igd miniupnpd ").split(" ")[0]
		elif text.begins_with("userdata = { ") and handle:
			userdata[handle] = text.trim_prefix("userdata = { ").trim_suffix("}").strip_edges()
		elif " # handle " in text:
			var parts := text.rsplit(" # handle ", true, 1)
			var data: String = userdata.get(parts[1], "")
			if data.begins_with("pinhole-") and " ts-" in data:
				var fields := data.trim_prefix("pinhole-").split(" ts-", true, 1)
				rules.append(
					{
						"id": int(fields[0]),
						"expires_at_uptime": int(fields[1].split(":")[0]),
						"rule": parts[0]
					}
				)
	return rules


## The pinhole rules that let `proto` in to the client's IPv6 address and `port`.
func _rules_for(port: int, proto: String) -> Array:
	var address := "0x" + "".join(_expanded(bed_value("IGD_CLIENT_IP6")))
	var number := "0x11" if proto == "UDP" else "0x6"
	return _pinhole_rules().filter(
		func(r):
			return (
				("th dport %d " % port) in r.rule
				and ("@nh,192,128 %s " % address) in r.rule
				and ("@nh,48,8 %s accept" % number) in r.rule
			)
	)


## An IPv6 address's eight groups, four hex digits each ("fd77::2" -> fd77 0000 ... 0002).
func _expanded(address: String) -> PackedStringArray:
	var halves := address.split("::")
	var head := halves[0].split(":", false)
	var tail := halves[1].split(":", false) if halves.size() > 1 else PackedStringArray()
	var groups := PackedStringArray(head)
	for i in 8 - head.size() - tail.size():
		groups.append("0")
	groups.append_array(tail)
	for i in groups.size():
		groups[i] = groups[i].lpad(4, "0")
	return groups


## Seconds until miniupnpd removes `rule` (the namespaces share the kernel's uptime).
func _seconds_left(rule: Dictionary) -> int:
	var file := FileAccess.open("/proc/uptime", FileAccess.READ)
	var uptime := float(file.get_line().split(" ")[0]) if file != null else 0.0
	return rule.expires_at_uptime - int(uptime)


## A mapper with ipv6 on, checking often (a reboot is found within 2 s + the 5 s between
## two renewals of a pinhole).
func _pinhole_mapper(p: int) -> Node:
	var node := _mapper(p)
	node.ipv6 = true
	node.refresh_interval = 2.0
	return node


## Follows `node`'s pinhole reports (`method`: "UPnP IPv6 pinhole" or "PCP IPv6
## pinhole"): "list" of [address, port, protocol, method] and "first_usec", when the
## first came.
func _watch_pinholes(node: Node, method: String) -> Dictionary:
	var watch := {"list": [], "first_usec": 0}
	node.port_mapped.connect(
		func(a, p, proto, m):
			if m == method:
				watch.list.append([a, p, proto, m])
				if watch.first_usec == 0:
					watch.first_usec = Time.get_ticks_usec()
	)
	return watch


## Starts a pinhole mapper for `p`, with a listener there, and waits (bounded) for both
## protocols' pinholes (reported with `method`) and the first upnp_completed; prints the
## time from start() to the first pinhole. {"node", "seen" (_record), "pinholes"
## (_watch_pinholes), "listener"}. A `discover_timeout` above 0 is set on the node.
func _start_pinholes(p: int, method: String, discover_timeout := 0) -> Dictionary:
	var listener := Listener.new()
	check_eq(listener.open(p), OK, "listening on port %d" % p)
	var node := _pinhole_mapper(p)
	if discover_timeout > 0:
		node.discover_timeout = discover_timeout
	var seen := _record(node)
	var pinholes := _watch_pinholes(node, method)
	var started := Time.get_ticks_usec()
	node.start()
	await _wait_until(func(): return pinholes.list.size() >= 2 and seen.has("completed"), WAIT_MS)
	if pinholes.first_usec != 0:
		print(
			(
				"     UPNPPortMapper: start() -> first %s port_mapped in %.1f ms"
				% [method, (pinholes.first_usec - started) / 1000.0]
			)
		)
	return {"node": node, "seen": seen, "pinholes": pinholes, "listener": listener}


## Checks that `run` (_start_pinholes) completed and reported exactly one pinhole per
## protocol for `address`:`p`.
func _check_reported(run: Dictionary, address: String, p: int, method: String) -> void:
	check_eq(run.seen.get("completed"), 0, "upnp_completed")
	var got: Array = run.pinholes.list.duplicate()
	got.sort()
	check_eq(got, [[address, p, "TCP", method], [address, p, "UDP", method]], "pinholes")


## Stops the node of `run` (_start_pinholes) and checks its pinholes are gone: the
## router's rules, and what the WAN host sends to `address`.
func _stop_pinholes(run: Dictionary, p: int, address: String) -> void:
	var node: Node = run.node
	node.stop()
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, 6000)
	check_eq(node.get_status(), node.STATUS_STOPPED, "status after stop()")
	_check_rules(p, 0, "after stop()")
	_check_dropped(await _probe(run.listener, p, 1, address), "after stop()")
	node.free()
	run.listener.close()


## Checks that each protocol has `count` pinhole rules for `p` (with a lease of an hour).
func _check_rules(p: int, count: int, what: String) -> void:
	for proto in PROTOCOLS:
		var rules := _rules_for(p, proto)
		if check_eq(rules.size(), count, "%s: %s pinhole rules: %s" % [what, proto, rules]):
			for rule in rules:
				var left := _seconds_left(rule)
				check(
					left >= 3590 and left <= 3600,
					"%s: %s rule expires in %d s" % [what, proto, left]
				)
