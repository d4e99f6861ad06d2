## The guard a game uses where the addon's library may be missing (a web export, or a
## platform the release has no build for): the classes are reached through ClassDB by
## name, never as identifiers, so this script also compiles when they do not exist.
## tests/godot/web-guard.sh runs it with and without the library.
extends Node


func _ready() -> void:
	if ClassDB.class_exists("UPNPPortMapper"):
		var mapper = ClassDB.instantiate("UPNPPortMapper")
		mapper.port = 47000
		mapper.port_mapped.connect(_on_port_mapped)
		add_child(mapper)
		print("web-guard: UPNPPortMapper available, status %d" % mapper.get_status())
	else:
		print("web-guard: UPNPPortMapper not available")
	if ClassDB.class_exists("RustUPNP"):
		var upnp = ClassDB.instantiate("RustUPNP")
		print("web-guard: RustUPNP available, %d devices" % upnp.get_device_count())
	else:
		print("web-guard: RustUPNP not available")
	get_tree().quit()


func _on_port_mapped(address: String, port: int, protocol: String, method: String) -> void:
	print("players connect to %s:%d (%s, %s)" % [address, port, protocol, method])
