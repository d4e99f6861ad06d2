## ClassDB of the classes under test equals the engine's UPNP / UPNPDevice (the dumps in
## tests/data, made with Godot 4.6.3), class names and our documented additions (the
## IPv6 pinhole methods of the device, the addon's version) aside: methods (names,
## order, flags, arguments, defaults, return info), properties (info and accessors),
## signals, constants and enums. Where the engine's own class is loaded too, Variant
## types are compared against it (JSON cannot tell int from float or String from
## StringName). The version the library reports is the one the .gdextension and the
## workspace's Cargo.toml give.
extends "res://tests/test_case.gd"

const DUMPS := "res://tests/data"
## Our documented additions (the engine has no equivalent): left out of the comparison,
## checked to be there.
const ADDITIONS := {
	"UPNP": ["get_version"],
	"UPNPDevice": ["add_pinhole", "update_pinhole", "delete_pinhole", "get_firewall_status"],
}


func test_upnp_matches_the_engine() -> void:
	_compare_class("UPNP")


func test_device_matches_the_engine() -> void:
	_compare_class("UPNPDevice")


func test_version_matches_the_release_files() -> void:
	var info: Array = ClassDB.class_get_method_list(upnp_class, true).filter(
		func(m): return m["name"] == "get_version"
	)
	if not check(info.size() == 1, "%s.get_version() is not registered" % upnp_class):
		return
	check((info[0]["flags"] & METHOD_FLAG_STATIC) != 0, "get_version() is static")
	var version = new_upnp().call("get_version")
	check(version is String and not version.is_empty(), "get_version(): %s" % var_to_str(version))
	var gdextension := _version_in(
		"res://addons/godot-upnp/godot-upnp.gdextension", "(?m)^; version (\\S+)$"
	)
	# The workspace's Cargo.toml sits one folder above the Godot project.
	var cargo := _version_in(
		ProjectSettings.globalize_path("res://").path_join("../Cargo.toml"),
		'(?ms)^\\[workspace\\.package\\]$[^\\[]*?^version = "([^"]+)"$'
	)
	check_eq(version, gdextension, "get_version() against the .gdextension's version line")
	check_eq(version, cargo, "get_version() against Cargo.toml's workspace version")


## The first capture of `pattern` in the text of `path`, or "" (a failure recorded).
func _version_in(path: String, pattern: String) -> String:
	var text := FileAccess.get_file_as_string(path)
	if not check(not text.is_empty(), "cannot read " + path):
		return ""
	var found := RegEx.create_from_string(pattern).search(text)
	check(found != null, "no version in %s (%s)" % [path, pattern])
	return found.get_string(1) if found else ""


func _ours(engine_class: String) -> String:
	return upnp_class if engine_class == "UPNP" else device_class


## Engine names -> ours inside class_name / hint_string ("UPNPDevice.IGDStatus").
func _rename(s: String) -> String:
	var parts := s.split(".")
	if parts.size() > 0 and parts[0] in ["UPNP", "UPNPDevice"]:
		parts[0] = _ours(parts[0])
	return ".".join(parts)


func _diff(where: String, what: String, expected: Variant, actual: Variant) -> void:
	failures.append(
		"%s: %s: expected %s, got %s" % [where, what, var_to_str(expected), var_to_str(actual)]
	)


## JSON numbers come back as float: numbers compare by value, strings by text.
func _same(a: Variant, b: Variant) -> bool:
	if typeof(a) in [TYPE_INT, TYPE_FLOAT] and typeof(b) in [TYPE_INT, TYPE_FLOAT]:
		return float(a) == float(b)
	if (
		typeof(a) in [TYPE_STRING, TYPE_STRING_NAME]
		and typeof(b) in [TYPE_STRING, TYPE_STRING_NAME]
	):
		return str(a) == str(b)
	return typeof(a) == typeof(b) and a == b


func _types(where: String, engine: Dictionary, actual: Dictionary) -> void:
	for key in engine:
		if key == "id":
			continue
		if not actual.has(key):
			_diff(where, "key " + key, "present", "missing")
		elif typeof(engine[key]) != typeof(actual[key]):
			_diff(
				where,
				"type of " + key,
				type_string(typeof(engine[key])),
				type_string(typeof(actual[key]))
			)
		elif engine[key] is Dictionary:
			_types(where + "." + key, engine[key], actual[key])
		elif engine[key] is Array:
			for i in mini(engine[key].size(), actual[key].size()):
				if engine[key][i] is Dictionary:
					_types("%s.%s[%d]" % [where, key, i], engine[key][i], actual[key][i])
				elif typeof(engine[key][i]) != typeof(actual[key][i]):
					_diff(
						where,
						"type of %s[%d]" % [key, i],
						typeof(engine[key][i]),
						typeof(actual[key][i])
					)


func _info(where: String, expected: Dictionary, actual: Dictionary) -> void:
	for key in ["name", "class_name", "type", "hint", "hint_string", "usage"]:
		var want = expected.get(key)
		if key in ["class_name", "hint_string"]:
			want = _rename(str(want))
		if not _same(want, actual.get(key)):
			_diff(where, key, want, actual.get(key))


func _by_name(list: Array) -> Dictionary:
	var result := {}
	for item in list:
		result[item["name"]] = item
	return result


func _names(list: Array) -> Array:
	return list.map(func(item): return item["name"])


func _load_json(file: String) -> Dictionary:
	var text := FileAccess.get_file_as_string(DUMPS.path_join(file))
	check(not text.is_empty(), "cannot read " + file)
	return JSON.parse_string(text) if not text.is_empty() else {}


func _compare_class(engine_class: String) -> void:
	var ours := _ours(engine_class)
	var expected := _load_json("api-%s.json" % engine_class)
	if not check(ClassDB.class_exists(ours), ours + " is not registered"):
		return
	# The engine's class can serve as a type reference only when it is not the one tested.
	var live := ClassDB.class_exists(engine_class) and engine_class != ours
	if not _same(expected["parent"], ClassDB.get_parent_class(ours)):
		_diff(ours, "parent", expected["parent"], ClassDB.get_parent_class(ours))
	if not _same(expected["can_instantiate"], ClassDB.can_instantiate(ours)):
		_diff(ours, "can_instantiate", expected["can_instantiate"], ClassDB.can_instantiate(ours))
	_compare_methods(engine_class, ours, expected, live)
	_compare_properties(engine_class, ours, expected, live)
	var signals := ClassDB.class_get_signal_list(ours, true)
	if _names(expected["signals"]) != _names(signals):
		_diff(ours, "signals", _names(expected["signals"]), _names(signals))
	_compare_constants(ours, expected)


func _compare_methods(engine_class: String, ours: String, expected: Dictionary, live: bool) -> void:
	var additions: Array = ADDITIONS[engine_class]
	var methods := ClassDB.class_get_method_list(ours, true).filter(
		func(m): return not m["name"] in additions
	)
	for name in additions:
		if not ClassDB.class_has_method(ours, name, true):
			_diff("%s.%s()" % [ours, name], "addition", "present", "missing")
	if _names(expected["methods"]) != _names(methods):
		_diff(ours, "method names/order", _names(expected["methods"]), _names(methods))
	var actual := _by_name(methods)
	var engine_methods := (
		_by_name(ClassDB.class_get_method_list(engine_class, true)) if live else {}
	)
	for want in expected["methods"]:
		var where := "%s.%s()" % [ours, want["name"]]
		if not actual.has(want["name"]):
			_diff(where, "method", "present", "missing")
			continue
		var got: Dictionary = actual[want["name"]]
		if not _same(want["flags"], got["flags"]):
			_diff(where, "flags", want["flags"], got["flags"])
		_info(where + " return", want["return"], got["return"])
		if want["args"].size() != got["args"].size():
			_diff(where, "argument count", want["args"].size(), got["args"].size())
		for i in mini(want["args"].size(), got["args"].size()):
			_info("%s argument %d" % [where, i], want["args"][i], got["args"][i])
		var want_defaults: Array = want["default_args"]
		var got_defaults: Array = got["default_args"]
		if want_defaults.size() != got_defaults.size():
			_diff(where, "default_args", want_defaults, got_defaults)
		else:
			for i in want_defaults.size():
				if not _same(want_defaults[i], got_defaults[i]):
					_diff(where, "default_args[%d]" % i, want_defaults[i], got_defaults[i])
		if engine_methods.has(want["name"]):
			_types(where + " (against the engine's class)", engine_methods[want["name"]], got)


func _compare_properties(
	engine_class: String, ours: String, expected: Dictionary, live: bool
) -> void:
	var properties := ClassDB.class_get_property_list(ours, true)
	if _names(expected["properties"]) != _names(properties):
		_diff(ours, "property names/order", _names(expected["properties"]), _names(properties))
	var actual := _by_name(properties)
	var engine_properties := (
		_by_name(ClassDB.class_get_property_list(engine_class, true)) if live else {}
	)
	for want in expected["properties"]:
		var where := "%s.%s" % [ours, want["name"]]
		if not actual.has(want["name"]):
			_diff(where, "property", "present", "missing")
			continue
		_info(where, want, actual[want["name"]])
		if engine_properties.has(want["name"]):
			_types(
				where + " (against the engine's class)",
				engine_properties[want["name"]],
				actual[want["name"]]
			)
	# Accessor names come from the --dump-extension-api view.
	for engine_api_class in _load_json("extension_api-UPNP.json")["classes"]:
		if engine_api_class["name"] != engine_class:
			continue
		for property in engine_api_class.get("properties", []):
			var where := "%s.%s" % [ours, property["name"]]
			var getter := ClassDB.class_get_property_getter(ours, property["name"])
			var setter := ClassDB.class_get_property_setter(ours, property["name"])
			if getter != StringName(property["getter"]):
				_diff(where, "getter", property["getter"], getter)
			if setter != StringName(property["setter"]):
				_diff(where, "setter", property["setter"], setter)


func _compare_constants(ours: String, expected: Dictionary) -> void:
	var constants: Dictionary = expected["integer_constants"]
	var names := Array(ClassDB.class_get_integer_constant_list(ours, true))
	if names != constants.keys():
		_diff(ours, "constant names/order", constants.keys(), names)
	for name in constants:
		if not ClassDB.class_has_integer_constant(ours, name):
			_diff(ours, "constant " + name, constants[name], "missing")
		elif not _same(constants[name], ClassDB.class_get_integer_constant(ours, name)):
			_diff(
				ours,
				"constant " + name,
				constants[name],
				ClassDB.class_get_integer_constant(ours, name)
			)
	var enums: Dictionary = expected["enums"]
	var enum_names := Array(ClassDB.class_get_enum_list(ours, true))
	if enum_names != enums.keys():
		_diff(ours, "enum list", enums.keys(), enum_names)
	for enum_name in enums:
		var values := Array(ClassDB.class_get_enum_constants(ours, enum_name, true))
		if values != enums[enum_name]:
			_diff(ours, "enum %s constants" % enum_name, enums[enum_name], values)
		if ClassDB.is_class_enum_bitfield(ours, enum_name):
			_diff(ours, "enum %s is a bitfield" % enum_name, false, true)
		for name in enums[enum_name]:
			var owner := ClassDB.class_get_integer_constant_enum(ours, name, true)
			if owner != StringName(enum_name):
				_diff(ours, "enum of constant " + name, enum_name, owner)
