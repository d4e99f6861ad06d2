## The engine-names build (run in an engine without the upnp module's names taken, or
## after them): UPNP and UPNPDevice are this addon's classes.
extends "res://tests/test_case.gd"


func test_upnp_new_is_ours() -> void:
	var upnp := UPNP.new()
	check_eq(upnp.get_class(), "UPNP", "UPNP.new().get_class()")
	check(not is_engine(), "UPNP is not the engine's UPNPMiniUPNP")
	var device := UPNPDevice.new()
	check_eq(device.get_class(), "UPNPDevice", "UPNPDevice.new().get_class()")
	check_eq(UPNP.UPNP_RESULT_NO_DEVICES, 27, "UPNP.UPNP_RESULT_NO_DEVICES")
	check_eq(UPNPDevice.IGD_STATUS_OK, 0, "UPNPDevice.IGD_STATUS_OK")
	check(not ClassDB.class_exists("RustUPNP"), "no RustUPNP in this build")
