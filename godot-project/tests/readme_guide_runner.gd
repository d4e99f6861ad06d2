## The wrapper of tests/godot/readme-guide.sh, copied into its throw-away project: runs one
## of the README guide's code blocks as it stands (a scene, or a script on a plain Node),
## reports what it did and quits once the shell has checked the router. The guide's code is
## never changed; this only watches it.
## Arguments after `--`:
##   --case=PATH   the res:// scene (.tscn) or script (.gd) to run
##   --wait=WHAT   "mapper": port_mapped for UDP and TCP from the UPNPPortMapper the code
##                 made; "completed": the script's own upnp_completed(OK) signal
##   --done=FILE   quit (exit code 0) once this file exists
## Prints "guide-test: ..." lines; exits 1 when nothing came within TIMEOUT_MS.
extends SceneTree

## How long the guide's code may take to map, and the shell to check, in all.
const TIMEOUT_MS := 30000

var _args := {}
var _case: Node
var _mapper: Node
var _mapped := {}
var _completed := -1
var _report_in_frames := -1
var _reported := false
var _start_ms := 0


func _initialize() -> void:
	for arg in OS.get_cmdline_user_args():
		var parts := arg.trim_prefix("--").split("=", true, 1)
		_args[parts[0]] = parts[1] if parts.size() > 1 else ""
	var path: String = _args.get("case", "")
	if path.ends_with(".tscn"):
		_case = load(path).instantiate()
	else:
		_case = Node.new()
		_case.set_script(load(path))
	if _args.get("wait") == "completed":
		_case.connect("upnp_completed", _on_completed)
	_start_ms = Time.get_ticks_msec()
	root.add_child(_case)


func _process(_delta: float) -> bool:
	if _args.get("wait") == "mapper" and _mapper == null:
		_watch_mapper()
	if _report_in_frames > 0:
		_report_in_frames -= 1
	elif _report_in_frames == 0 and not _reported:
		_report()
	if _reported and FileAccess.file_exists(_args.get("done", "")):
		quit(0)
	elif Time.get_ticks_msec() - _start_ms > TIMEOUT_MS:
		var status: String = _mapper.get_status_text() if _mapper != null else "-"
		print("guide-test: timeout; mapped %s, completed %d: %s" % [_mapped, _completed, status])
		quit(1)
	return false


## Finds the UPNPPortMapper the guide's code put into the tree (in the scene, or made in
## _ready) and listens to it as well.
func _watch_mapper() -> void:
	var found := _case.find_children("*", "UPNPPortMapper", true, false)
	if found.is_empty():
		return
	_mapper = found[0]
	_mapper.port_mapped.connect(_on_port_mapped)


func _on_port_mapped(address: String, port: int, protocol: String, method: String) -> void:
	print("guide-test: port_mapped %s %s:%d %s" % [protocol, address, port, method])
	_mapped[protocol] = port
	if _mapped.has("UDP") and _mapped.has("TCP") and _report_in_frames < 0:
		_report_in_frames = 2  # the guide's _process shows the new status line meanwhile


func _on_completed(error: int) -> void:
	print("guide-test: upnp_completed %d" % error)
	_completed = error
	if error == OK:
		_report_in_frames = 0


func _report() -> void:
	_reported = true
	if _mapper != null:
		print("guide-test: status: %s" % _mapper.get_status_text())
		var label := _case.get_node_or_null("StatusLabel") as Label
		if label != null:
			print("guide-test: label: %s" % label.text)
	var elapsed := Time.get_ticks_msec() - _start_ms
	print("guide-test: mapped after %d ms" % elapsed)
