## The UPNPPortMapper demo: the scene's PortMapper node keeps a port open, with no thread
## code. Every signal of the node is connected in the scene and printed here, with the
## node's status line once the first attempt ended. Run headless
## (`godot --headless --path godot-project res://demo/port_mapper_demo.tscn`), it stops the
## node once the port is mapped, waits until the mappings are removed and quits: exit code
## 0 when that worked, 1 when mapping failed or it took longer than [constant TIMEOUT_S].
## `-- --port=N` picks the port (default: the node's port in the scene, 3928).
extends Control

## How long a headless run may take in all, in seconds.
const TIMEOUT_S := 20.0

@onready var _mapper: UPNPPortMapper = $PortMapper
@onready var _output: Label = $Output


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			_mapper.port = int(arg.trim_prefix("--port="))
	if _headless():
		get_tree().create_timer(TIMEOUT_S).timeout.connect(_on_timeout)
	_say("start(): opening port %d (UDP and TCP)..." % _mapper.port)
	_mapper.start()


## The first attempt ended: prints the result and the node's status line; headless, stops
## the node on success (removing the mappings) and quits.
func _on_port_mapper_upnp_completed(error: int) -> void:
	_say("upnp_completed(%d) %s" % [error, _result_name(error)])
	_say("status: %s" % _mapper.get_status_text())
	if not _headless():
		return
	if error != OK:
		_finish(false)
		return
	_say("stop(): removing the mappings...")
	_mapper.stop()
	while _mapper.get_status() != UPNPPortMapper.STATUS_STOPPED:
		await get_tree().process_frame  # bounded by the timeout, which quits
	_say("status: %s" % _mapper.get_status_text())
	_finish(true)


## A protocol's port is open (again, after a router reboot).
func _on_port_mapper_port_mapped(
	external_address: String, external_port: int, protocol: String, method: String
) -> void:
	_say("port_mapped: %s %s:%d via %s" % [protocol, external_address, external_port, method])


## The router forgot a mapping; the node maps it again.
func _on_port_mapper_mapping_lost(protocol: String, reason: String) -> void:
	_say("mapping_lost: %s (%s)" % [protocol, reason])


func _on_port_mapper_external_address_changed(old_address: String, new_address: String) -> void:
	_say("external_address_changed: %s -> %s" % [old_address, new_address])


func _on_timeout() -> void:
	_say("No result after %.0f s: %s" % [TIMEOUT_S, _mapper.get_status_text()])
	_finish(false)


## Prints a line and shows it on screen.
func _say(line: String) -> void:
	print(line)
	_output.text += line + "\n"


## Headless only: quits with 0 when `ok`, else 1.
func _finish(ok: bool) -> void:
	_say("Port mapper demo %s." % ("done" if ok else "failed"))
	get_tree().quit(0 if ok else 1)


func _headless() -> bool:
	return DisplayServer.get_name() == "headless"


## The name of a UPNPResult code ("UPNP_RESULT_SUCCESS", ...).
func _result_name(code: int) -> String:
	var names := ClassDB.class_get_enum_constants("RustUPNP", "UPNPResult")
	return names[code] if code >= 0 and code < names.size() else "?"
