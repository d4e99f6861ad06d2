## A frame probe for tests/bench_mapper.gd. Two of them bracket the node under test in
## the process order: the one with process_priority -1000 notes the time just before the
## node's _process, the one with +1000 (whose `before` is set) the time spent since.
extends Node

## The probe that runs first; null for that probe itself.
var before: Node
## When this probe last ran (ticks_usec).
var ran_at := 0
## Microseconds between the two probes, one a frame (the "after" probe only).
var samples := PackedInt64Array()
## When each sample's frame window began (ticks_usec), to find what ran in the worst one.
var starts := PackedInt64Array()


func _process(_delta: float) -> void:
	ran_at = Time.get_ticks_usec()
	if before != null:
		samples.append(ran_at - before.ran_at)
		starts.append(before.ran_at)
