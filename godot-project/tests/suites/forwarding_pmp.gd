## Proof that mappings forward over PCP (bed IGD_FORWARD=1 with UPnP off and NAT-PMP/PCP
## on): UPNPPortMapper's mappings carry UDP and TCP from the WAN host to this process,
## and the router refuses them after stop() and after a reboot, until the node re-adds.
extends "res://tests/forwarding_case.gd"


func test_node_mapping_forwards_until_stop() -> void:
	await _node_forwards_until_stop(port(10), "PCP")


func test_node_mapping_forwards_again_after_router_reboot() -> void:
	await _node_forwards_again_after_reboot(port(11), "PCP")
