## The addon's demo: finds the router with RustUPNP, shows its fields and external
## address, maps a UDP port and removes the mapping again. The network calls block, so
## they run on a Thread; each line appears on screen and in the output. Run headless
## (`godot --headless --path godot-project`), the demo quits when done: exit code 0 when
## every step succeeded. `-- --port=N` picks the port (default 3928).
extends Control

## The external and internal port the demo maps (UDP).
@export var port := 3928

var _thread := Thread.new()

@onready var _output: Label = $Output


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	_thread.start(_run)


func _exit_tree() -> void:
	_thread.wait_to_finish()


## The demo's steps, on the thread. Returns whether every step succeeded.
func _run() -> bool:
	var upnp := RustUPNP.new()
	_say("Searching the local network for a UPnP router (2 s at most)...")
	var started := Time.get_ticks_msec()
	var err := upnp.discover()
	_say("discover() -> %s after %d ms" % [_result_name(err), Time.get_ticks_msec() - started])
	if err != RustUPNP.UPNP_RESULT_SUCCESS:
		return _finish(false)
	for i in upnp.get_device_count():
		var device := upnp.get_device(i)
		_say("device %d: %s" % [i, device.description_url])
		_say("  service_type     %s" % device.service_type)
		_say("  igd_control_url  %s" % device.igd_control_url)
		_say("  igd_service_type %s" % device.igd_service_type)
		_say("  igd_our_addr     %s" % device.igd_our_addr)
		_say("  igd_status       %s" % _status_name(device.igd_status))
	var gateway := upnp.get_gateway()
	if gateway == null:
		_say("No device is a working gateway.")
		return _finish(false)
	var address := upnp.query_external_address()
	_say("External address: %s" % (address if address != "" else "(the router does not know it)"))
	err = upnp.add_port_mapping(port, port, "godot-upnp demo", "UDP", 3600)
	_say("add_port_mapping(%d, UDP, 1 hour) -> %s" % [port, _result_name(err)])
	if err != RustUPNP.UPNP_RESULT_SUCCESS:
		return _finish(false)
	_say("Players outside can now reach %s:%d (UDP)." % [address, port])
	err = upnp.delete_port_mapping(port, "UDP")
	_say("delete_port_mapping(%d, UDP) -> %s" % [port, _result_name(err)])
	return _finish(err == RustUPNP.UPNP_RESULT_SUCCESS)


func _say(line: String) -> void:
	print(line)
	_show.call_deferred(line)


func _show(line: String) -> void:
	_output.text += line + "\n"


func _finish(ok: bool) -> bool:
	_say("Demo %s." % ("done" if ok else "failed"))
	_done.call_deferred(ok)
	return ok


func _done(ok: bool) -> void:
	if DisplayServer.get_name() == "headless":
		get_tree().quit(0 if ok else 1)


func _result_name(code: int) -> String:
	return ClassDB.class_get_enum_constants("RustUPNP", "UPNPResult")[code]


func _status_name(code: int) -> String:
	return ClassDB.class_get_enum_constants("RustUPNPDevice", "IGDStatus")[code]
