## The "Network check" dock: checks the developer's own network for port forwarding
## (router, external address and its kind, NAT-PMP/PCP, what players would see) and maps
## and unmaps a test port. Each run is a headless Godot process (network_check_run.gd)
## waited for on a Thread, so the editor never blocks; its findings are shown as they
## came. check() and map_test_port() are what the buttons call; finished is emitted with
## the text shown.
@tool
extends VBoxContainer

signal finished(text: String)

const RUNNER := "res://addons/godot-upnp/editor/network_check_run.gd"
const PREFIX := "network-check: "

var _thread: Thread
var _check_button: Button
var _map_button: Button
var _port: SpinBox
var _output: RichTextLabel


func _init() -> void:
	name = "Network check"
	var row := HBoxContainer.new()
	_check_button = Button.new()
	_check_button.text = "Check network"
	_check_button.tooltip_text = "Look for the router and tell what players would see (about 3 s)."
	_check_button.pressed.connect(check)
	row.add_child(_check_button)
	_port = SpinBox.new()
	_port.min_value = 1024
	_port.max_value = 65535
	_port.value = 47999
	_port.tooltip_text = "The test port (UDP and TCP)."
	row.add_child(_port)
	_map_button = Button.new()
	_map_button.text = "Map test port"
	_map_button.tooltip_text = "Map the test port on the router, then remove it."
	_map_button.pressed.connect(func() -> void: map_test_port(int(_port.value)))
	row.add_child(_map_button)
	add_child(row)
	_output = RichTextLabel.new()
	_output.fit_content = true
	_output.selection_enabled = true
	_output.size_flags_vertical = SIZE_EXPAND_FILL
	_output.text = "Check this computer's network for port forwarding."
	add_child(_output)


func _exit_tree() -> void:
	if _thread != null:
		_thread.wait_to_finish()
		_thread = null


## Starts the read-only check; returns false while another run is going on.
func check() -> bool:
	return _start(["--check"], "Checking the network...")


## Maps port (UDP and TCP) on the router, then removes it; false while another run goes on.
func map_test_port(port: int) -> bool:
	return _start(["--map=%d" % port], "Mapping port %d..." % port)


## Whether a run is going on.
func is_running() -> bool:
	return _thread != null


func _start(args: PackedStringArray, title: String) -> bool:
	if _thread != null:
		return false
	_check_button.disabled = true
	_map_button.disabled = true
	_output.text = title
	var command := PackedStringArray(
		["--headless", "--path", ProjectSettings.globalize_path("res://")]
	)
	command.append_array(["--script", RUNNER, "--"])
	command.append_array(args)
	_thread = Thread.new()
	_thread.start(_run.bind(command))
	return true


## On the thread: the runner process, waited for; its findings.
func _run(command: PackedStringArray) -> void:
	var output := []
	var code := OS.execute(OS.get_executable_path(), command, output, true)
	var lines := PackedStringArray()
	for line in "".join(output).split("\n"):
		if line.begins_with(PREFIX):
			lines.append(line.trim_prefix(PREFIX))
	if lines.is_empty():
		lines.append("The check printed nothing (exit code %d): see the editor's Output." % code)
	_finish.call_deferred("\n".join(lines))


func _finish(text: String) -> void:
	_thread.wait_to_finish()
	_thread = null
	_check_button.disabled = false
	_map_button.disabled = false
	_output.text = text
	finished.emit(text)
