## The optional "Network check" dock (Project Settings > Plugins; off by default, the
## addon's classes work without it).
@tool
extends EditorPlugin

const NetworkCheckDock := preload("network_check_dock.gd")

var _dock: Control


func _enter_tree() -> void:
	_dock = NetworkCheckDock.new()
	add_control_to_dock(DOCK_SLOT_RIGHT_UL, _dock)


func _exit_tree() -> void:
	remove_control_from_docks(_dock)
	_dock.free()
