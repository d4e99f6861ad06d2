## Quits the game while a UPNPPortMapper works (run by tests/godot/run.sh, which times the
## process and checks its exit code, Godot's leak report and the router's mappings).
## `--when=discovering` (default) quits on the first frame, while the node looks for the
## router; `--when=mapped` quits as soon as upnp_completed arrives, with both mappings
## made. Prints "quit-test: quitting at N ms (port P, completed C)" just before quitting.
extends SceneTree

const PORT := 46000


func _initialize() -> void:
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	node.port = PORT
	node.discover_timeout = 2000
	node.lease_duration = 3600
	root.add_child(node)
	node.upnp_completed.connect(_quit)
	node.start()
	if not "--when=mapped" in OS.get_cmdline_user_args():
		_quit_soon.call_deferred()


func _quit_soon() -> void:
	await process_frame
	_quit(-1)


func _quit(completed: int) -> void:
	print(
		(
			"quit-test: quitting at %d ms (port %d, completed %d)"
			% [Time.get_ticks_msec(), PORT, completed]
		)
	)
	quit(0)
