## Network-check probe (tests/godot/network-check.sh): finds the addon's "Network check"
## dock in the editor, runs its check and its test mapping as the buttons do, and writes
## what the dock showed to a JSON file, then quits the editor.
##
## User arguments (after "--"): --out=PATH, --port=N (the test port).
@tool
extends EditorPlugin

## Each dock run is bounded (the runner's own discovery timeout is 2 s).
const RUN_TIMEOUT_MS := 30000


func _enter_tree() -> void:
	_run.call_deferred()


func _run() -> void:
	var out := ""
	var port := 47999
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--out="):
			out = arg.trim_prefix("--out=")
		elif arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	for i in 5:
		await get_tree().process_frame
	var result := {}
	var dock := _find_dock(EditorInterface.get_base_control())
	result["dock_found"] = dock != null
	if dock != null:
		result["check"] = await _press(dock, dock.check)
		result["map"] = await _press(dock, dock.map_test_port.bind(port))
	var file := FileAccess.open(out, FileAccess.WRITE)
	file.store_string(JSON.stringify(result, " "))
	file.close()
	get_tree().quit(0)


## Runs one dock action; the text it showed, and how many frames the editor drew meanwhile.
func _press(dock: Node, action: Callable) -> Dictionary:
	var shown := [""]
	var on_finished := func(text: String) -> void: shown[0] = text
	dock.finished.connect(on_finished)
	var started := Time.get_ticks_msec()
	var frames := 0
	var accepted: bool = action.call()
	while accepted and dock.is_running() and Time.get_ticks_msec() - started < RUN_TIMEOUT_MS:
		await get_tree().process_frame
		frames += 1
	dock.finished.disconnect(on_finished)
	return {
		"accepted": accepted,
		"text": shown[0],
		"frames": frames,
		"ms": Time.get_ticks_msec() - started,
	}


func _find_dock(node: Node) -> Node:
	if node.name == "Network check" and node.has_method("map_test_port"):
		return node
	for child in node.get_children(true):
		var found := _find_dock(child)
		if found != null:
			return found
	return null
