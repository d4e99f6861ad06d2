## Runs test suites headless and sets the exit code:
##   godot --headless --path godot-project --script res://tests/runner.gd -- [options]
## Options: --suite=NAME (repeatable), --upnp-class=NAME --device-class=NAME (the classes
## under test; default RustUPNP / RustUPNPDevice), IGD_*=VALUE (test-bed values).
## Every test method (test_*) of each suite runs in order; a failed check, a script error
## or an error line the test did not expect fails it. The last line is
## "godot-tests: N passed, M failed".
extends SceneTree

const LogCapture = preload("res://tests/log_capture.gd")
const TestCase = preload("res://tests/test_case.gd")

var _capture := LogCapture.new()


func _initialize() -> void:
	OS.add_logger(_capture)
	_run.call_deferred()


func _run() -> void:
	var suites: PackedStringArray = []
	var classes := {"upnp": "RustUPNP", "device": "RustUPNPDevice"}
	var bed := {}
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--suite="):
			suites.append(arg.trim_prefix("--suite="))
		elif arg.begins_with("--upnp-class="):
			classes.upnp = arg.trim_prefix("--upnp-class=")
		elif arg.begins_with("--device-class="):
			classes.device = arg.trim_prefix("--device-class=")
		elif "=" in arg:
			bed[arg.get_slice("=", 0)] = arg.substr(arg.find("=") + 1)
	var passed := 0
	var failed := 0
	var observations := {}
	for suite_name in suites:
		var script: GDScript = load("res://tests/suites/%s.gd" % suite_name)
		var tests: PackedStringArray = []
		if script != null and script.can_instantiate():
			for method in script.get_script_method_list():
				if method.name.begins_with("test_"):
					tests.append(method.name)
		if tests.is_empty():
			print("FAIL %s: the suite did not load or has no tests" % suite_name)
			failed += 1
			continue
		for test_name in tests:
			var suite: TestCase = script.new()
			suite.upnp_class = classes.upnp
			suite.device_class = classes.device
			suite.bed = bed
			suite.log_capture = _capture
			_capture.take()
			var started := Time.get_ticks_msec()
			await suite.call(test_name)
			for key in suite.observations:
				observations["%s.%s" % [suite_name, key]] = suite.observations[key]
			for entry in _capture.take():
				suite.failures.append("unexpected error line: %s at %s" % [entry.text, entry.where])
			var label := (
				"%s.%s [%s] (%d ms)"
				% [suite_name, test_name, classes.upnp, Time.get_ticks_msec() - started]
			)
			if suite.failures.is_empty():
				passed += 1
				print("ok   ", label)
			else:
				failed += 1
				print("FAIL ", label)
				for failure in suite.failures:
					print("     ", failure)
	if bed.has("OBSERVATIONS"):
		var file := FileAccess.open(bed.OBSERVATIONS, FileAccess.WRITE)
		file.store_string(JSON.stringify(observations, "  ", true))
	print("godot-tests: %d passed, %d failed" % [passed, failed])
	quit(1 if failed > 0 else 0)
