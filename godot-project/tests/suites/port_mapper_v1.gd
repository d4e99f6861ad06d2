## UPNPPortMapper on an IGDv1 router (bed IGD_FORCE_V1=yes): no AddAnyPortMapping, so a
## port held by another host is worked around one port at a time.
extends "res://tests/port_mapper_case.gd"


## Before: the next port was forwarded to the next internal port too (external 41101 ->
## client:41101 while the game listens on 41100).
func test_conflict_keeps_the_internal_port() -> void:
	var held := int(bed_value("HELD_PORT"))
	var node := _mapper(held)
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen)
	var chosen: int = node.get_mapped_port("UDP")
	print("     port_mapper (IGDv1): port %d held by 10.77.0.3, got %d" % [held, chosen])
	check_eq(chosen, held + 1, "the next port")
	var lease: Dictionary = router_leases().get("UDP:%d" % chosen, {})
	check_eq(lease.get("client"), bed_value("IGD_CLIENT_IP"), "ours")
	check_eq(lease.get("internal_port"), held, "forwarded to the port the game listens on")
	node.free()
	check(not router_leases().has("UDP:%d" % chosen), "removed")
