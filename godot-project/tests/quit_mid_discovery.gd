## Quits the game while a UPNPPortMapper is still discovering (run by tests/godot/run.sh,
## which times the process and checks its exit code and Godot's leak report).
## Prints "quit-test: quitting" just before quitting.
extends SceneTree


func _initialize() -> void:
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	node.port = 46000
	node.discover_timeout = 2000
	root.add_child(node)
	node.start()
	_quit_soon.call_deferred()


func _quit_soon() -> void:
	await process_frame
	print("quit-test: quitting at %d ms" % Time.get_ticks_msec())
	quit(0)
