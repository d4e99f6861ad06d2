//! The engine's two result enums (`UPNP.UPNPResult`, `UPNPDevice.IGDStatus`) and the one
//! table that turns a UPnP control error code into a `UPNPResult`.

/// Defines a C-like enum together with its GDScript constant names, so the names live
/// next to the numbers and nowhere else.
macro_rules! engine_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $constant:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name { $( $(#[$vmeta])* $variant = $value, )+ }

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
        }
    };
}

engine_enum! {
    /// `UPNP.UPNPResult`: what every port-mapping call returns. Same numbers as the engine.
    pub enum UpnpResult {
        /// The command or discovery worked.
        Success = 0 => "UPNP_RESULT_SUCCESS",
        /// The router refused: not allowed for this client (UPnP 606, or HTTP 403).
        NotAuthorized = 1 => "UPNP_RESULT_NOT_AUTHORIZED",
        /// No mapping in the given range (UPnP 730; the engine never returns it).
        PortMappingNotFound = 2 => "UPNP_RESULT_PORT_MAPPING_NOT_FOUND",
        /// Inconsistent parameters (UPnP 733).
        InconsistentParameters = 3 => "UPNP_RESULT_INCONSISTENT_PARAMETERS",
        /// No such entry (UPnP 714).
        NoSuchEntryInArray = 4 => "UPNP_RESULT_NO_SUCH_ENTRY_IN_ARRAY",
        /// The action failed (UPnP 501).
        ActionFailed = 5 => "UPNP_RESULT_ACTION_FAILED",
        /// Source address may not be a wildcard (UPnP 715).
        SrcIpWildcardNotPermitted = 6 => "UPNP_RESULT_SRC_IP_WILDCARD_NOT_PERMITTED",
        /// External port may not be a wildcard (UPnP 716).
        ExtPortWildcardNotPermitted = 7 => "UPNP_RESULT_EXT_PORT_WILDCARD_NOT_PERMITTED",
        /// Internal port may not be a wildcard (UPnP 732).
        IntPortWildcardNotPermitted = 8 => "UPNP_RESULT_INT_PORT_WILDCARD_NOT_PERMITTED",
        /// Remote host must be a wildcard (UPnP 726).
        RemoteHostMustBeWildcard = 9 => "UPNP_RESULT_REMOTE_HOST_MUST_BE_WILDCARD",
        /// External port must be a wildcard (UPnP 727).
        ExtPortMustBeWildcard = 10 => "UPNP_RESULT_EXT_PORT_MUST_BE_WILDCARD",
        /// The router has no free mapping slots (UPnP 728).
        NoPortMapsAvailable = 11 => "UPNP_RESULT_NO_PORT_MAPS_AVAILABLE",
        /// Conflicts with a mapping made by other means (UPnP 729).
        ConflictWithOtherMechanism = 12 => "UPNP_RESULT_CONFLICT_WITH_OTHER_MECHANISM",
        /// The external port is mapped to another client (UPnP 718).
        ConflictWithOtherMapping = 13 => "UPNP_RESULT_CONFLICT_WITH_OTHER_MAPPING",
        /// Internal and external port must be equal (UPnP 724).
        SamePortValuesRequired = 14 => "UPNP_RESULT_SAME_PORT_VALUES_REQUIRED",
        /// Only lease 0 is accepted (UPnP 725).
        OnlyPermanentLeaseSupported = 15 => "UPNP_RESULT_ONLY_PERMANENT_LEASE_SUPPORTED",
        /// The device is not a usable gateway.
        InvalidGateway = 16 => "UPNP_RESULT_INVALID_GATEWAY",
        /// A port argument is out of range.
        InvalidPort = 17 => "UPNP_RESULT_INVALID_PORT",
        /// The protocol is neither "UDP" nor "TCP".
        InvalidProtocol = 18 => "UPNP_RESULT_INVALID_PROTOCOL",
        /// The lease duration is negative.
        InvalidDuration = 19 => "UPNP_RESULT_INVALID_DURATION",
        /// The router rejected the arguments (UPnP 402).
        InvalidArgs = 20 => "UPNP_RESULT_INVALID_ARGS",
        /// The router's answer could not be understood.
        InvalidResponse = 21 => "UPNP_RESULT_INVALID_RESPONSE",
        /// A discovery parameter is out of range.
        InvalidParam = 22 => "UPNP_RESULT_INVALID_PARAM",
        /// No usable HTTP answer (connection failed, timed out, or empty).
        HttpError = 23 => "UPNP_RESULT_HTTP_ERROR",
        /// A socket could not be opened or used.
        SocketError = 24 => "UPNP_RESULT_SOCKET_ERROR",
        /// Out of memory (kept for the engine's numbering).
        MemAllocError = 25 => "UPNP_RESULT_MEM_ALLOC_ERROR",
        /// No valid gateway among the discovered devices.
        NoGateway = 26 => "UPNP_RESULT_NO_GATEWAY",
        /// Discovery found no device.
        NoDevices = 27 => "UPNP_RESULT_NO_DEVICES",
        /// Anything else, including UPnP codes the engine does not map.
        UnknownError = 28 => "UPNP_RESULT_UNKNOWN_ERROR",
    }
}

engine_enum! {
    /// `UPNPDevice.IGDStatus`: what discovery concluded about one device.
    pub enum IgdStatus {
        /// A usable Internet Gateway Device.
        Ok = 0 => "IGD_STATUS_OK",
        /// Its description could not be fetched.
        HttpError = 1 => "IGD_STATUS_HTTP_ERROR",
        /// Its description was empty.
        HttpEmpty = 2 => "IGD_STATUS_HTTP_EMPTY",
        /// Deprecated by the engine; never set.
        NoUrls = 3 => "IGD_STATUS_NO_URLS",
        /// A UPnP device, but not an Internet Gateway Device.
        NoIgd = 4 => "IGD_STATUS_NO_IGD",
        /// A gateway whose WAN connection reports it is down.
        Disconnected = 5 => "IGD_STATUS_DISCONNECTED",
        /// The description is not a UPnP device description.
        UnknownDevice = 6 => "IGD_STATUS_UNKNOWN_DEVICE",
        /// A gateway whose connection service has no usable control URL.
        InvalidControl = 7 => "IGD_STATUS_INVALID_CONTROL",
        /// Deprecated by the engine; never set.
        MallocError = 8 => "IGD_STATUS_MALLOC_ERROR",
        /// Not examined yet (the default of a new device).
        UnknownError = 9 => "IGD_STATUS_UNKNOWN_ERROR",
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

/// The standard name of a UPnP control error code, for messages (`None` when unknown).
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
