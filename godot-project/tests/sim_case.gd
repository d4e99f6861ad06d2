## Suites driving igd-sim, the simulated router (tests/igd-sim), as a process of their
## own: started with `_start_sim` on the bed's LAN (bed values SIM: the igd-sim binary,
## SIM_ADDRESS: an extra address of the client's c0) or as the router itself, in the
## bed's router namespace (SIM_ADDRESS not needed); what it received and holds is read
## from its --log-soap lines. Used by router_profiles.gd and router_ipv6_firewall.gd.
extends "res://tests/port_mapper_case.gd"

## What the simulator's GetExternalIPAddress answers (unless told otherwise).
const EXTERNAL := "11.22.33.44"


## A running igd-sim and what it printed so far.
class Sim:
	## The profile (or kind) it runs.
	var name := ""
	var pid := 0
	var stdio: FileAccess
	var stderr: FileAccess
	var output := ""

	## Takes in what the simulator printed since the last call.
	func read() -> void:
		if stdio != null:
			output += stdio.get_buffer(65536).get_string_from_utf8()

	## The fields after `kind` of each complete line of that kind, in order.
	func lines(kind: String) -> Array:
		read()
		var found := []
		var complete := output.substr(0, output.rfind("\n") + 1)
		for line in complete.split("\n", false):
			var fields := line.split("\t")
			if fields[0] == kind:
				found.append(fields.slice(1))
		return found

	## The description URL of device `index` (LOCATION line), "" if not printed.
	func location(index: int) -> String:
		read()
		for line in output.split("\n", false):
			if line.begins_with("LOCATION %d " % index):
				return line.get_slice(" ", 2)
		return ""

	## Device `device`'s table as last printed: "PROTO:PORT" -> {client, internal_port,
	## lease, description}.
	func table(device := 0) -> Dictionary:
		var entries := {}
		for fields in lines("TABLE"):
			if int(fields[0]) != device:
				continue
			entries = {}
			for entry in fields.slice(1):
				var parts: PackedStringArray = entry.split(":", true, 5)
				entries["%s:%s" % [parts[0], parts[1]]] = {
					"client": parts[2],
					"internal_port": int(parts[3]),
					"lease": int(parts[4]),
					"description": parts[5],
				}
		return entries

	## Every SOAP request of `action`: {"path": control path, argument name: value}.
	func soap(action: String) -> Array:
		var found := []
		for fields in lines("SOAP"):
			if fields[2] != action:
				continue
			var request := {"path": fields[1]}
			for argument in fields.slice(3):
				request[argument.get_slice("=", 0)] = argument.substr(argument.find("=") + 1)
			found.append(request)
		return found

	## Empties every table (the router keeps running).
	func forget() -> void:
		stdio.store_string("forget\n")
		stdio.flush()


## Starts igd-sim with `args` (multicast, at most 60 s) and waits (frames, 5 s at most)
## until it serves: on the client's c0 at SIM_ADDRESS, or with `router_address` as the
## router, on its lan0 in the router namespace (`ip netns exec` runs igd-sim in its
## place, so the pid is the simulator's). Stop it with `_stop_sim`.
func _start_sim(args: Array, router_address := "") -> Sim:
	var sim := Sim.new()
	sim.name = args[1]
	var program := bed_value("SIM")
	var all := []
	if router_address.is_empty():
		all = ["--multicast", "c0", "--address", bed_value("SIM_ADDRESS")]
	else:
		all = ["netns", "exec", bed_value("IGD_ROUTER_NS"), program]
		all.append_array(["--multicast", "lan0", "--address", router_address])
		program = "ip"
	all.append_array(args)
	all.append_array(["--log-soap", "--duration", "60"])
	var started := OS.execute_with_pipe(program, all, false)
	if not check(started.has("pid"), "%s %s started" % [program, " ".join(all)]):
		return sim
	sim.pid = started.pid
	sim.stdio = started.stdio
	sim.stderr = started.stderr
	await _wait_until(
		func():
			sim.read()
			return "READY\n" in sim.output or not OS.is_process_running(sim.pid),
		5000
	)
	check("READY\n" in sim.output, "igd-sim is ready: %s" % sim.output)
	return sim


## Ends the simulator: standard input closes, so it stops within about 10 ms.
func _stop_sim(sim: Sim) -> void:
	if sim.pid == 0:
		return
	sim.stdio.close()
	await _wait_until(func(): return not OS.is_process_running(sim.pid), 2000)
	if not check(not OS.is_process_running(sim.pid), "igd-sim ended when its input closed"):
		OS.kill(sim.pid)
	var errors := sim.stderr.get_as_text()
	sim.stderr.close()
	check(errors.is_empty(), "igd-sim printed no error: %s" % errors)


## Waits (frames, 2 s at most) until `condition` holds for the simulator's table of
## `device`; returns whether it does.
func _wait_table(sim: Sim, condition: Callable, device := 0) -> bool:
	await _wait_until(func(): return condition.call(sim.table(device)), 2000)
	return condition.call(sim.table(device))


## Our mappings in a table: "PROTO:PORT" keys of `description`, sorted.
func _ours(table: Dictionary, description: String) -> Array:
	var keys := []
	for key in table:
		if table[key].description == description:
			keys.append(key)
	keys.sort()
	return keys


## The error lines printed since the last check, taken (so that the runner does not
## count them), for a test that reports or checks them itself.
func _lines() -> PackedStringArray:
	var texts: PackedStringArray = []
	for entry in log_capture.take():
		texts.append(entry.text)
	return texts
