## Collects the error and warning lines the engine prints (Godot 4.5+ Logger), from any
## thread, so tests can check exact messages and the runner can see script errors.
extends Logger

var _lock := Mutex.new()
var _entries: Array[Dictionary] = []


func _log_error(
	function: String,
	file: String,
	line: int,
	code: String,
	rationale: String,
	_editor_notify: bool,
	error_type: int,
	_script_backtraces: Array[ScriptBacktrace]
) -> void:
	# Engine macros put the message in `rationale`; an error without one carries it in `code`.
	var text := rationale if not rationale.is_empty() else code
	_lock.lock()
	_entries.append(
		{"text": text, "type": error_type, "where": "%s (%s:%d)" % [function, file, line]}
	)
	_lock.unlock()


## Returns the lines collected since the last call and forgets them.
func take() -> Array[Dictionary]:
	_lock.lock()
	var got := _entries
	_entries = []
	_lock.unlock()
	return got
