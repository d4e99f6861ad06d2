## Checks that the addon loads: prints "smoke: ok" and exits 0 when the classes exist.
extends SceneTree


func _initialize() -> void:
	var ok := ClassDB.class_exists("RustUPNP") and ClassDB.class_exists("RustUPNPDevice")
	print("smoke: ", "ok" if ok else "the extension did not load")
	quit(0 if ok else 1)
