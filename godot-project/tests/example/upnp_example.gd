## The class reference's threaded example (Redot 4.3), changed only where it must be:
## RustUPNP for UPNP, and emit_signal through call_deferred (Godot 4.6 refuses to emit a
## signal of a Node in the tree from another thread).
extends Node

# Emitted when UPnP port mapping setup is completed (regardless of success or failure).
signal upnp_completed(error)

# Replace this with your own server port number between 1024 and 65535.
const SERVER_PORT = 3928
var thread = null


func _upnp_setup(server_port):
	# UPNP queries take some time.
	var upnp = RustUPNP.new()
	var err = upnp.discover()

	if err != OK:
		push_error(str(err))
		call_deferred("emit_signal", "upnp_completed", err)
		return

	if upnp.get_gateway() and upnp.get_gateway().is_valid_gateway():
		upnp.add_port_mapping(
			server_port, server_port, ProjectSettings.get_setting("application/config/name"), "UDP"
		)
		upnp.add_port_mapping(
			server_port, server_port, ProjectSettings.get_setting("application/config/name"), "TCP"
		)
		call_deferred("emit_signal", "upnp_completed", OK)


func _ready():
	thread = Thread.new()
	thread.start(_upnp_setup.bind(SERVER_PORT))


func _exit_tree():
	# Wait for thread finish here to handle game exit while the thread is running.
	thread.wait_to_finish()
