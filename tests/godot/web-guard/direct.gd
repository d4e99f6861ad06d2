## Without the guard: the class named as an identifier. The script does not compile when
## the library is missing (tests/godot/web-guard.sh shows it, as the reason for the guard).
extends Node


func _ready() -> void:
	var mapper := UPNPPortMapper.new()
	add_child(mapper)
	print("web-guard-direct: UPNPPortMapper created")
	get_tree().quit()
