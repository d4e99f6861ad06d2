## Base of the UPNPPortMapper suites: a node in the tree, its signals recorded in order,
## and frame-by-frame waits (the node works only while frames run).
extends "res://tests/test_case.gd"

## How long a suite waits for the node's first result (discovery is 2 s at most).
const WAIT_MS := 8000


## A mapper in the tree for `external_port`, UDP and TCP, quick refresh; IPv4 only (the
## suites count IPv4 signals; pinholes.gd switches ipv6 on).
func _mapper(external_port: int) -> Node:
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	node.port = external_port
	node.description = "gd mapper"
	node.lease_duration = 3600
	node.ipv6 = false
	(Engine.get_main_loop() as SceneTree).root.add_child(node)
	return node


## Records the node's signals: "completed" (the code), the lists "mapped", "lost",
## "address_changed", "order": every signal's name in the order it came, and "status_at":
## [signal, get_status(), get_status_text()] as each handler read them.
func _record(node: Node) -> Dictionary:
	var seen := {"mapped": [], "lost": [], "address_changed": [], "order": [], "status_at": []}
	var note := func(signal_name: String):
		seen.order.append(signal_name)
		seen.status_at.append([signal_name, node.get_status(), node.get_status_text()])
	node.upnp_completed.connect(
		func(error):
			seen["completed"] = error
			note.call("upnp_completed")
	)
	node.port_mapped.connect(
		func(a, p, proto, m):
			seen.mapped.append([a, p, proto, m])
			note.call("port_mapped")
	)
	node.mapping_lost.connect(
		func(proto, why):
			seen.lost.append([proto, why])
			note.call("mapping_lost")
	)
	node.external_address_changed.connect(
		func(o, n):
			seen.address_changed.append([o, n])
			note.call("external_address_changed")
	)
	return seen


## Starts `node` (recorded by `_record`), waits for upnp_completed and checks its code.
## Returns the ms from start() to upnp_completed.
func _start_and_wait(node: Node, seen: Dictionary, expected := 0) -> float:
	var started := Time.get_ticks_usec()
	node.start()
	var completed_after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	check_eq(seen.get("completed"), expected, "upnp_completed")
	return completed_after


## Waits (frames) until `seen` has `key`; returns ms since `started_usec`.
func _wait_for(seen: Dictionary, key: String, limit_ms: int, started_usec: int) -> float:
	await _wait_until(func(): return seen.has(key), limit_ms)
	return (Time.get_ticks_usec() - started_usec) / 1000.0


## Waits frame by frame until `condition` holds or `limit_ms` passed.
func _wait_until(condition: Callable, limit_ms: int) -> void:
	var tree := Engine.get_main_loop() as SceneTree
	var until := Time.get_ticks_msec() + limit_ms
	while not condition.call() and Time.get_ticks_msec() < until:
		await tree.process_frame
