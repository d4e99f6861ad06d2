//! The engine's two result enums (`UPNP.UPNPResult`, `UPNPDevice.IGDStatus`) and the one
//! table that turns a UPnP control error code into a `UPNPResult`.

/// Defines a C-like enum together with its GDScript constant names, so the names live
/// next to the numbers and nowhere else.
macro_rules! engine_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $variant:ident = $value:literal => $constant:literal, $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name { $( #[doc = $text] $variant = $value, )+ }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The engine's integer value.
            pub fn code(self) -> i32 {
                self as i32
            }

            /// The value with this engine integer, if there is one.
            pub fn from_code(code: i64) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| i64::from(v.code()) == code)
            }

            /// The engine's constant name, e.g. `UPNP_RESULT_SUCCESS`.
            pub fn constant_name(self) -> &'static str {
                match self { $( $name::$variant => $constant, )+ }
            }

            /// One sentence saying what the value means (editor help, messages).
            pub fn description(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }
        }
    };
}

engine_enum! {
    /// `UPNP.UPNPResult`: what every port-mapping call returns. Same numbers as the engine.
    pub enum UpnpResult {
        Success = 0 => "UPNP_RESULT_SUCCESS", "The command or discovery worked.",
        NotAuthorized = 1 => "UPNP_RESULT_NOT_AUTHORIZED", "The router refused: not allowed for this client (UPnP 606, or HTTP 403).",
        PortMappingNotFound = 2 => "UPNP_RESULT_PORT_MAPPING_NOT_FOUND", "No mapping in the given range (UPnP 730; the engine never returns it).",
        InconsistentParameters = 3 => "UPNP_RESULT_INCONSISTENT_PARAMETERS", "Inconsistent parameters (UPnP 733).",
        NoSuchEntryInArray = 4 => "UPNP_RESULT_NO_SUCH_ENTRY_IN_ARRAY", "No such entry (UPnP 714).",
        ActionFailed = 5 => "UPNP_RESULT_ACTION_FAILED", "The action failed (UPnP 501).",
        SrcIpWildcardNotPermitted = 6 => "UPNP_RESULT_SRC_IP_WILDCARD_NOT_PERMITTED", "Source address may not be a wildcard (UPnP 715).",
        ExtPortWildcardNotPermitted = 7 => "UPNP_RESULT_EXT_PORT_WILDCARD_NOT_PERMITTED", "External port may not be a wildcard (UPnP 716).",
        IntPortWildcardNotPermitted = 8 => "UPNP_RESULT_INT_PORT_WILDCARD_NOT_PERMITTED", "Internal port may not be a wildcard (UPnP 732).",
        RemoteHostMustBeWildcard = 9 => "UPNP_RESULT_REMOTE_HOST_MUST_BE_WILDCARD", "Remote host must be a wildcard (UPnP 726).",
        ExtPortMustBeWildcard = 10 => "UPNP_RESULT_EXT_PORT_MUST_BE_WILDCARD", "External port must be a wildcard (UPnP 727).",
        NoPortMapsAvailable = 11 => "UPNP_RESULT_NO_PORT_MAPS_AVAILABLE", "The router has no free mapping slots (UPnP 728).",
        ConflictWithOtherMechanism = 12 => "UPNP_RESULT_CONFLICT_WITH_OTHER_MECHANISM", "Conflicts with a mapping made by other means (UPnP 729).",
        ConflictWithOtherMapping = 13 => "UPNP_RESULT_CONFLICT_WITH_OTHER_MAPPING", "The external port is mapped to another client (UPnP 718).",
        SamePortValuesRequired = 14 => "UPNP_RESULT_SAME_PORT_VALUES_REQUIRED", "Internal and external port must be equal (UPnP 724).",
        OnlyPermanentLeaseSupported = 15 => "UPNP_RESULT_ONLY_PERMANENT_LEASE_SUPPORTED", "Only lease 0 is accepted (UPnP 725).",
        InvalidGateway = 16 => "UPNP_RESULT_INVALID_GATEWAY", "The device is not a usable gateway.",
        InvalidPort = 17 => "UPNP_RESULT_INVALID_PORT", "A port argument is out of range.",
        InvalidProtocol = 18 => "UPNP_RESULT_INVALID_PROTOCOL", "The protocol is neither \"UDP\" nor \"TCP\".",
        InvalidDuration = 19 => "UPNP_RESULT_INVALID_DURATION", "The lease duration is negative.",
        InvalidArgs = 20 => "UPNP_RESULT_INVALID_ARGS", "The router rejected the arguments (UPnP 402).",
        InvalidResponse = 21 => "UPNP_RESULT_INVALID_RESPONSE", "The router's answer could not be understood.",
        InvalidParam = 22 => "UPNP_RESULT_INVALID_PARAM", "A discovery parameter is out of range.",
        HttpError = 23 => "UPNP_RESULT_HTTP_ERROR", "No usable HTTP answer (connection failed, timed out, or empty).",
        SocketError = 24 => "UPNP_RESULT_SOCKET_ERROR", "A socket could not be opened or used.",
        MemAllocError = 25 => "UPNP_RESULT_MEM_ALLOC_ERROR", "Out of memory (kept for the engine's numbering).",
        NoGateway = 26 => "UPNP_RESULT_NO_GATEWAY", "No valid gateway among the discovered devices.",
        NoDevices = 27 => "UPNP_RESULT_NO_DEVICES", "Discovery found no device.",
        UnknownError = 28 => "UPNP_RESULT_UNKNOWN_ERROR", "Anything else, including UPnP codes the engine does not map.",
    }
}

engine_enum! {
    /// `UPNPDevice.IGDStatus`: what discovery concluded about one device.
    pub enum IgdStatus {
        Ok = 0 => "IGD_STATUS_OK", "A usable Internet Gateway Device.",
        HttpError = 1 => "IGD_STATUS_HTTP_ERROR", "Its description could not be fetched.",
        HttpEmpty = 2 => "IGD_STATUS_HTTP_EMPTY", "Its description was empty.",
        NoUrls = 3 => "IGD_STATUS_NO_URLS", "Deprecated by the engine; never set.",
        NoIgd = 4 => "IGD_STATUS_NO_IGD", "A UPnP device, but not an Internet Gateway Device.",
        Disconnected = 5 => "IGD_STATUS_DISCONNECTED", "A gateway whose WAN connection reports it is down.",
        UnknownDevice = 6 => "IGD_STATUS_UNKNOWN_DEVICE", "The description is not a UPnP device description.",
        InvalidControl = 7 => "IGD_STATUS_INVALID_CONTROL", "A gateway whose connection service has no usable control URL.",
        MallocError = 8 => "IGD_STATUS_MALLOC_ERROR", "Deprecated by the engine; never set.",
        UnknownError = 9 => "IGD_STATUS_UNKNOWN_ERROR", "Not examined yet (the default of a new device).",
    }
}

impl UpnpResult {
    /// The engine's mapping from a UPnP control error code (a SOAP fault's `errorCode`)
    /// to a result (reference §4.4). Codes the engine does not list give `UnknownError`.
    pub fn from_upnp_error(code: u32) -> Self {
        match code {
            402 => Self::InvalidArgs,
            403 | 606 => Self::NotAuthorized,
            501 => Self::ActionFailed,
            714 => Self::NoSuchEntryInArray,
            715 => Self::SrcIpWildcardNotPermitted,
            716 => Self::ExtPortWildcardNotPermitted,
            718 => Self::ConflictWithOtherMapping,
            724 => Self::SamePortValuesRequired,
            725 => Self::OnlyPermanentLeaseSupported,
            726 => Self::RemoteHostMustBeWildcard,
            727 => Self::ExtPortMustBeWildcard,
            728 => Self::NoPortMapsAvailable,
            729 => Self::ConflictWithOtherMechanism,
            732 => Self::IntPortWildcardNotPermitted,
            733 => Self::InconsistentParameters,
            _ => Self::UnknownError,
        }
    }
}

/// The standard name of a UPnP control error code (WANIPConnection's and
/// WANIPv6FirewallControl's, which do not overlap), for messages (`None` when unknown).
pub fn upnp_error_name(code: u32) -> Option<&'static str> {
    Some(match code {
        401 => "InvalidAction",
        402 => "InvalidArgs",
        501 => "ActionFailed",
        600 => "ArgumentValueInvalid",
        601 => "ArgumentValueOutOfRange",
        602 => "OptionalActionNotImplemented",
        603 => "OutOfMemory",
        604 => "HumanInterventionRequired",
        605 => "StringArgumentTooLong",
        606 => "ActionNotAuthorized",
        701 => "PinholeSpaceExhausted",
        702 => "FirewallDisabled",
        703 => "InboundPinholeNotAllowed",
        704 => "NoSuchEntry",
        705 => "ProtocolNotSupported",
        706 => "InternalPortWildcardingNotAllowed",
        707 => "ProtocolWildcardingNotAllowed",
        708 => "WildCardNotPermittedInSrcIP",
        709 => "NoPacketSent",
        713 => "SpecifiedArrayIndexInvalid",
        714 => "NoSuchEntryInArray",
        715 => "WildCardNotPermittedInSrcIP",
        716 => "WildCardNotPermittedInExtPort",
        718 => "ConflictInMappingEntry",
        724 => "SamePortValuesRequired",
        725 => "OnlyPermanentLeasesSupported",
        726 => "RemoteHostOnlySupportsWildcard",
        727 => "ExternalPortOnlySupportsWildcard",
        728 => "NoPortMapsAvailable",
        729 => "ConflictWithOtherMechanisms",
        730 => "PortMappingNotFound",
        731 => "ReadOnly",
        732 => "WildCardNotPermittedInIntPort",
        733 => "InconsistentParameters",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_the_engine() {
        assert_eq!(UpnpResult::ALL.len(), 29);
        for (i, r) in UpnpResult::ALL.iter().enumerate() {
            assert_eq!(r.code(), i as i32);
        }
        assert_eq!(IgdStatus::ALL.len(), 10);
        assert_eq!(UpnpResult::NoDevices.constant_name(), "UPNP_RESULT_NO_DEVICES");
        assert_eq!(IgdStatus::from_code(5), Some(IgdStatus::Disconnected));
        assert_eq!(UpnpResult::from_code(29), None);
    }

    #[test]
    fn upnp_codes_map_like_the_engine() {
        let table = [
            (402, 20),
            (403, 1),
            (501, 5),
            (606, 1),
            (714, 4),
            (715, 6),
            (716, 7),
            (718, 13),
            (724, 14),
            (725, 15),
            (726, 9),
            (727, 10),
            (728, 11),
            (729, 12),
            (732, 8),
            (733, 3),
        ];
        for (code, result) in table {
            assert_eq!(UpnpResult::from_upnp_error(code).code(), result, "code {code}");
        }
        for unmapped in [401, 600, 605, 713, 730, 731, 0, 999_999] {
            assert_eq!(UpnpResult::from_upnp_error(unmapped), UpnpResult::UnknownError);
        }
    }
}
