## Editor-help probe (tests/godot/editor-help.sh): opens each class's help page in the
## script editor, as a developer pressing F1 would, and writes what ClassDB registers and
## what the page shows to a JSON file, then quits the editor.
##
## User arguments (after "--"): --out=PATH, --classes=A,B,C, --wait-ms=N (how long a page
## may stay without its class description before it is taken as it is).
@tool
extends EditorPlugin

const NO_DESCRIPTION := "There is currently no description for this class"
const PROPERTY_USAGE_HEADINGS := (
	PROPERTY_USAGE_CATEGORY | PROPERTY_USAGE_GROUP | PROPERTY_USAGE_SUBGROUP
)


func _enter_tree() -> void:
	_run.call_deferred()


func _run() -> void:
	var args := {"out": "", "classes": "", "wait-ms": "20000"}
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		if kv.size() == 2 and args.has(kv[0]):
			args[kv[0]] = kv[1]
	# A few frames first: the editor finishes building its main screens.
	for i in 5:
		await get_tree().process_frame
	var result := {}
	for cls in args["classes"].split(",", false):
		result[cls] = await _probe(cls, int(args["wait-ms"]))
	var file := FileAccess.open(args["out"], FileAccess.WRITE)
	if file == null:
		printerr("editor-help: cannot write ", args["out"])
		get_tree().quit(1)
		return
	file.store_string(JSON.stringify({"classes": result}, " "))
	file.close()
	get_tree().quit(0)


## Members as ClassDB lists them (property accessors and virtual overrides are not shown
## as methods on a help page) and the parsed text of the class's help page.
func _probe(cls: String, wait_ms: int) -> Dictionary:
	var info := {"exists": ClassDB.class_exists(cls)}
	if not info["exists"]:
		return info
	var accessors := {}
	var properties: Array[String] = []
	for p in ClassDB.class_get_property_list(cls, true):
		if p["usage"] & PROPERTY_USAGE_HEADINGS:
			continue
		properties.append(p["name"])
		accessors[ClassDB.class_get_property_setter(cls, p["name"])] = true
		accessors[ClassDB.class_get_property_getter(cls, p["name"])] = true
	var methods: Array[String] = []
	for m in ClassDB.class_get_method_list(cls, true):
		if not accessors.has(m["name"]) and not m["name"].begins_with("_"):
			methods.append(m["name"])
	var signals: Array[String] = []
	for s in ClassDB.class_get_signal_list(cls, true):
		signals.append(s["name"])
	info["methods"] = methods
	info["properties"] = properties
	info["signals"] = signals
	info["constants"] = Array(ClassDB.class_get_integer_constant_list(cls, true))
	info["works_in_editor"] = _works_in_editor(cls)

	# The page is built from the editor's doc data, which a first start fills in a thread:
	# poll (bounded) until the page shows a class description.
	var t0 := Time.get_ticks_msec()
	EditorInterface.get_script_editor().goto_help("class_name:" + cls)
	var page := ""
	while true:
		await get_tree().process_frame
		page = _visible_page(cls)
		if page != "" and not page.contains(NO_DESCRIPTION):
			break
		if Time.get_ticks_msec() - t0 > wait_ms:
			break
	info["page"] = page
	info["waited_ms"] = Time.get_ticks_msec() - t0
	return info


## Whether a script in the editor (a @tool script, a plugin) can use the class, as it can
## the engine's UPNP/UPNPDevice: a class that is no tool class is a placeholder there, and
## a call on it prints an error and returns null. Null for the node, which has no call
## without side effects to make.
func _works_in_editor(cls: String) -> Variant:
	if not ClassDB.is_parent_class(cls, "RefCounted"):
		return null
	var object: Object = ClassDB.instantiate(cls)
	if ClassDB.class_has_method(cls, "get_device_count"):
		return object.call("get_device_count") == 0
	return object.call("is_valid_gateway") == false


## The parsed text of the visible help page of cls ("" when none is shown).
func _visible_page(cls: String) -> String:
	for label in _rich_text_labels(EditorInterface.get_script_editor(), []):
		if not label.is_visible_in_tree() or label.get_parent().get_class() != "EditorHelp":
			continue
		var text: String = label.get_parsed_text()
		# First line: "Class: <name>" (with a non-breaking space).
		var head := text.get_slice("\n", 0).replace(char(0xa0), " ")
		if head.begins_with("Class:") and head.trim_prefix("Class:").strip_edges() == cls:
			return text
	return ""


func _rich_text_labels(node: Node, found: Array) -> Array:
	if node is RichTextLabel:
		found.append(node)
	for child in node.get_children(true):
		_rich_text_labels(child, found)
	return found
