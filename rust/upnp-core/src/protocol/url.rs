//! `http://` URLs as UPnP uses them: parsing, RFC 3986 reference resolution, and the
//! policy that decides which URLs a device gives us (SSDP `LOCATION`s, and the URLs in
//! its description) we are willing to use.
//!
//! Hand-written rather than the `url` crate: we need only plain `http` with IP-literal or
//! name hosts, and `url` would pull IDNA/ICU tables into every game that ships this addon.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest URL we accept; real devices use well under 200 bytes.
pub const MAX_URL_LEN: usize = 2048;

/// The host part of an [`HttpUrl`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name (lower-cased).
    Name(String),
}

/// An absolute `http://` URL: host, port and path (with query), nothing else. A
/// link-local IPv6 host also has the interface it is on (its scope, an interface index):
/// learnt from the SSDP answer that named it ([`location_to_fetch`]), never from a
/// device's text, and shown as an RFC 6874 zone (`http://[fe80::1%252]:5000/ctl`) so that
/// the URL given to scripts still reaches the device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    host: Host,
    port: u16,
    /// Starts with `/`; may carry a `?query`; never a `#fragment`.
    path: String,
    /// The interface index of a link-local IPv6 host; 0 otherwise.
    scope: u32,
}

/// Why a URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Empty, or longer than [`MAX_URL_LEN`].
    Length,
    /// A scheme other than `http` (e.g. `https`, `file`).
    NotHttp,
    /// A `user:password@` part, which a device has no reason to send.
    UserInfo,
    /// An IPv6 zone (`%eth0`): it names an interface of the device, not ours.
    ZoneId,
    /// The host is missing or malformed.
    BadHost,
    /// The port is not a number in 1..=65535.
    BadPort,
    /// Control characters, spaces, backslashes or non-ASCII bytes.
    BadCharacter,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Length => "is empty or too long",
            UrlError::NotHttp => "is not an http:// URL",
            UrlError::UserInfo => "contains user credentials",
            UrlError::ZoneId => "contains an IPv6 zone",
            UrlError::BadHost => "has no valid host",
            UrlError::BadPort => "has an invalid port",
            UrlError::BadCharacter => "contains characters not allowed in a URL",
        })
    }
}

impl std::error::Error for UrlError {}

impl HttpUrl {
    /// Parses an absolute `http://host[:port][/path][?query][#fragment]` URL, as a device
    /// gives it: an IPv6 zone is refused ([`UrlError::ZoneId`]), as it would name an
    /// interface of the device's, not ours.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        Self::parse_inner(input, false)
    }

    /// Like [`HttpUrl::parse`], but a link-local IPv6 host may carry a numeric zone
    /// (`http://[fe80::1%252]:5000/ctl`, RFC 6874): for URLs this
    /// host made, as [`Display`](fmt::Display) shows them (a script's `igd_control_url`,
    /// a description URL given by the caller). Interface names (`%25eth0`) are refused.
    pub fn parse_with_zone(input: &str) -> Result<Self, UrlError> {
        Self::parse_inner(input, true)
    }

    fn parse_inner(input: &str, zone_allowed: bool) -> Result<Self, UrlError> {
        check_characters(input)?;
        let (scheme, rest) = split_scheme(input).ok_or(UrlError::NotHttp)?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlError::NotHttp);
        }
        let rest = rest.strip_prefix("//").ok_or(UrlError::BadHost)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, port, scope) = parse_authority(&rest[..authority_end], zone_allowed)?;
        let path = path_and_query(&rest[authority_end..]);
        Ok(HttpUrl { host, port, path: remove_dot_segments_keep_query(&path), scope })
    }

    /// This URL on the interface with index `scope`, when its host is a link-local IPv6
    /// address (other hosts need no scope: unchanged).
    pub fn with_scope(mut self, scope: u32) -> Self {
        if matches!(self.host, Host::Ip(IpAddr::V6(ip)) if is_link_local_v6(ip)) {
            self.scope = scope;
        }
        self
    }

    /// The interface index of a link-local IPv6 host (0: none, or not link-local).
    pub fn scope(&self) -> u32 {
        self.scope
    }

    /// The URL as sent in an HTTP request: without the zone, which names an interface of
    /// this host and means nothing to the device (RFC 6874 section 4).
    pub fn request_uri(&self) -> String {
        self.without_scope().to_string()
    }

    fn without_scope(&self) -> HttpUrl {
        HttpUrl { scope: 0, ..self.clone() }
    }

    /// Resolves a reference (absolute, `//authority`, `/absolute-path`, `?query` or a
    /// relative path) against this URL, as RFC 3986 §5.2 says. A result on this URL's
    /// link-local host keeps its scope (a description naming its `fe80::` address in
    /// absolute URLs cannot name our interface).
    pub fn resolve(&self, reference: &str) -> Result<Self, UrlError> {
        check_characters_allow_empty(reference)?;
        let reference = reference.split('#').next().unwrap_or("");
        let absolute = if split_scheme(reference).is_some() {
            Some(Self::parse(reference)?)
        } else if reference.starts_with("//") {
            Some(Self::parse(&format!("http:{reference}"))?)
        } else {
            None
        };
        if let Some(url) = absolute {
            return Ok(if url.host == self.host { url.with_scope(self.scope) } else { url });
        }
        let path = if reference.is_empty() {
            self.path.clone()
        } else if reference.starts_with('/') {
            remove_dot_segments_keep_query(reference)
        } else if reference.starts_with('?') {
            let base_path = self.path.split('?').next().unwrap_or("/");
            format!("{base_path}{reference}")
        } else {
            let base_path = self.path.split('?').next().unwrap_or("/");
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            remove_dot_segments_keep_query(&format!("{dir}{reference}"))
        };
        if path.len() > MAX_URL_LEN {
            return Err(UrlError::Length);
        }
        Ok(HttpUrl { host: self.host.clone(), port: self.port, path, scope: self.scope })
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The host's address when it is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ip(ip) => Some(ip),
            Host::Name(_) => None,
        }
    }

    /// The port (80 when the URL gave none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("http://")?;
        match &self.host {
            Host::Ip(IpAddr::V6(v6)) if self.scope != 0 => write!(f, "[{v6}%25{}]", self.scope)?,
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]")?,
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}")?,
            Host::Name(name) => f.write_str(name)?,
        }
        if self.port != 80 {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(&self.path)
    }
}

/// One of this host's IPv6 addresses with the length of its on-link prefix, as the
/// system lists them for an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnAddress {
    /// The address.
    pub ip: Ipv6Addr,
    /// Its prefix length (`64` for `fd77::2/64`).
    pub prefix_len: u8,
}

impl OwnAddress {
    /// Whether `other` is another address in this address's prefix: a neighbour on the
    /// same link. A zero-length prefix holds no neighbours (it would be every address).
    fn has_neighbour(&self, other: Ipv6Addr) -> bool {
        if self.prefix_len == 0 || other == self.ip {
            return false;
        }
        let mask = u128::MAX << (128 - u32::from(self.prefix_len.min(128)));
        (u128::from(other) & mask) == (u128::from(self.ip) & mask)
    }
}

/// Whether an SSDP answer's `LOCATION` may be fetched, given the address the answer
/// came from and this host's IPv6 addresses on the interface it arrived on. The policy:
/// - the host must be an IP literal (no DNS lookups on behalf of a LAN device);
/// - it must be the sender's own address. One exception: a router answering the
///   link-local group `ff02::c` speaks from its `fe80::` address but names a routable
///   address of its own in `LOCATION` (miniupnpd does). Nothing in the answer proves
///   that address is the sender's, so it is accepted only when it is **on-link**: a
///   unicast address, not this host's own, in the prefix of one of `on_link` (this
///   host's addresses on the interface the answer arrived on, which the `fe80::`
///   sender's scope names). A device on the LAN can then at worst name a neighbour on
///   that same link, never a host elsewhere on the internet, nor this host itself.
///
///   The alternative, fetching from the sender's `fe80::` address instead, would bind
///   every URL to the sender, but it would need interface scopes in URLs (`%eth0`), which
///   the URLs given to scripts (`igd_control_url`) cannot carry usefully and which
///   [`HttpUrl`] refuses, and the router's description names its routable address anyway.
///
/// This keeps a device on the LAN from making every game on it fetch from a third host;
/// [`device_url_allowed`] keeps the URLs in its description on the same host.
pub fn location_allowed(location: &HttpUrl, sender: IpAddr, on_link: &[OwnAddress]) -> Result<(), HostRefused> {
    let Some(host) = location.ip() else {
        return Err(HostRefused::NotAnAddress);
    };
    let sender = canonical(sender);
    let host = canonical(host);
    if host == sender {
        return Ok(());
    }
    match (sender, host) {
        (IpAddr::V6(s), IpAddr::V6(h))
            if is_link_local_v6(s)
                && !is_link_local_v6(h)
                && !h.is_loopback()
                && !h.is_multicast()
                && !h.is_unspecified()
                && !on_link.iter().any(|own| own.ip == h)
                && on_link.iter().any(|own| own.has_neighbour(h)) =>
        {
            Ok(())
        }
        _ => Err(HostRefused::OtherHost),
    }
}

/// The URL to fetch for an SSDP answer's `LOCATION`, when [`location_allowed`] allows
/// it: a link-local host (which the policy allows only when it is the sender itself) gets
/// the scope of the sender's address, i.e. the interface the answer arrived on. A
/// FRITZ!Box answering the link-local group names its `fe80::` address without a zone
/// (home-assistant/core#71418: `http://[fe80::464e:6dff:fe69:ce8b]:49000/igddesc.xml`,
/// the `%3` there added by the client); without the scope that address cannot be
/// connected to.
pub fn location_to_fetch(
    location: HttpUrl,
    sender: SocketAddr,
    on_link: &[OwnAddress],
) -> Result<HttpUrl, HostRefused> {
    location_allowed(&location, sender.ip(), on_link)?;
    Ok(match sender {
        SocketAddr::V6(v6) => location.with_scope(v6.scope_id()),
        SocketAddr::V4(_) => location,
    })
}

/// Whether a URL taken from a device's description (`URLBase`, a `controlURL`, an
/// `SCPDURL`) may be used, given the `LOCATION` the description was fetched from (which
/// [`location_allowed`] accepted): its host must be an IP literal and the same host as
/// the `LOCATION`'s (any port; a device may serve control on another port than its
/// description). `http://` only is given, as [`HttpUrl`] is nothing else.
///
/// Without it, a description's `URLBase` or an absolute `controlURL` could send every
/// game's SOAP calls (and the port mapper's NAT-PMP/PCP, which goes to the control URL's
/// host) to any host.
pub fn device_url_allowed(url: &HttpUrl, location: &HttpUrl) -> Result<(), HostRefused> {
    match (url.ip(), location.ip()) {
        (Some(host), Some(device)) if canonical(host) == canonical(device) => Ok(()),
        (Some(_), Some(_)) => Err(HostRefused::OtherHost),
        _ => Err(HostRefused::NotAnAddress),
    }
}

/// Why a URL from a device is not used (see [`location_allowed`], [`device_url_allowed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRefused {
    /// The host is a name, not an address.
    NotAnAddress,
    /// The host is not the device's.
    OtherHost,
}

impl fmt::Display for HostRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostRefused::NotAnAddress => "names a host, not an address",
            HostRefused::OtherHost => "is on another host than the device",
        })
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_link_local_v6(ip: Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

fn check_characters(s: &str) -> Result<(), UrlError> {
    if s.is_empty() {
        return Err(UrlError::Length);
    }
    check_characters_allow_empty(s)
}

fn check_characters_allow_empty(s: &str) -> Result<(), UrlError> {
    if s.len() > MAX_URL_LEN {
        return Err(UrlError::Length);
    }
    if s.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\' || !b.is_ascii()) {
        return Err(UrlError::BadCharacter);
    }
    Ok(())
}

/// Splits `scheme:rest` when the input starts with a syntactically valid scheme.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| (scheme, &s[colon + 1..]))
}

/// Host, port and scope (see [`HttpUrl::parse_with_zone`]).
fn parse_authority(authority: &str, zone_allowed: bool) -> Result<(Host, u16, u32), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let mut scope = 0;
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let close = bracketed.find(']').ok_or(UrlError::BadHost)?;
        let (literal, zone) = match bracketed[..close].split_once('%') {
            Some((literal, zone)) => (literal, Some(zone)),
            None => (&bracketed[..close], None),
        };
        if zone.is_some() && !zone_allowed {
            return Err(UrlError::ZoneId);
        }
        let ip: Ipv6Addr = literal.parse().map_err(|_| UrlError::BadHost)?;
        if let Some(zone) = zone {
            // Digits only: `parse` would also take a sign.
            let index = zone.strip_prefix("25").filter(|z| z.bytes().all(|b| b.is_ascii_digit()));
            scope = match index.map(str::parse::<u32>) {
                Some(Ok(n)) if n != 0 && is_link_local_v6(ip) => n,
                _ => return Err(UrlError::ZoneId),
            };
        }
        let after = &bracketed[close + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UrlError::BadHost)?),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        (parse_name_host(name)?, port)
    };
    let port = match port {
        None | Some("") => 80,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(UrlError::BadPort),
            Ok(n) => n,
        },
        Some(_) => return Err(UrlError::BadPort),
    };
    Ok((host, port, scope))
}

fn parse_name_host(name: &str) -> Result<Host, UrlError> {
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    // All-numeric dotted names that failed to parse as IPv4 (e.g. 1.2.3.999) are junk.
    let numeric = name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if valid && !numeric { Ok(Host::Name(name.to_ascii_lowercase())) } else { Err(UrlError::BadHost) }
}

/// The `/path?query` part after the authority, without fragment, never empty.
fn path_and_query(rest: &str) -> String {
    let rest = rest.split('#').next().unwrap_or("");
    if rest.starts_with('/') { rest.to_string() } else { format!("/{rest}") }
}

fn remove_dot_segments_keep_query(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out = remove_dot_segments(path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// RFC 3986 §5.2.4, on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    let mut trailing_slash = false;
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg {
            "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> HttpUrl {
        HttpUrl::parse(s).unwrap()
    }

    #[test]
    fn parses_device_urls() {
        let u = url("http://10.77.0.1:5000/rootDesc.xml");
        assert_eq!(u.ip(), Some("10.77.0.1".parse().unwrap()));
        assert_eq!(u.port(), 5000);
        assert_eq!(u.path(), "/rootDesc.xml");
        assert_eq!(u.to_string(), "http://10.77.0.1:5000/rootDesc.xml");

        let v6 = url("http://[fd77::1]:5000/rootDesc.xml");
        assert_eq!(v6.to_string(), "http://[fd77::1]:5000/rootDesc.xml");
        assert_eq!(url("HTTP://Router.LAN").to_string(), "http://router.lan/");
        assert_eq!(url("http://1.2.3.4:80/a?b=c#frag").to_string(), "http://1.2.3.4/a?b=c");
        assert_eq!(url("http://1.2.3.4:/x").port(), 80);
    }

    #[test]
    fn refuses_what_a_device_should_not_send() {
        use UrlError::*;
        for (input, err) in [
            ("", Length),
            ("https://1.2.3.4/", NotHttp),
            ("file:///etc/passwd", NotHttp),
            ("ftp://1.2.3.4/", NotHttp),
            ("http://user:pw@1.2.3.4/", UserInfo),
            ("http://[fe80::1%25eth0]:5000/", ZoneId),
            ("http://[fe80::1%eth0]/", ZoneId),
            ("http://1.2.3.4:0/", BadPort),
            ("http://1.2.3.4:65536/", BadPort),
            ("http://1.2.3.4:-1/", BadPort),
            ("http://1.2.3.4:80a/", BadPort),
            ("http:///path", BadHost),
            ("http://1.2.3.999/", BadHost),
            ("http://[::1/", BadHost),
            ("http://a..b/", BadHost),
            ("http://1.2.3.4/a b", BadCharacter),
            ("http://1.2.3.4/\r\nHost: evil", BadCharacter),
            ("http://1.2.3.4/\u{e9}", BadCharacter),
            ("10.0.0.1:5000/desc.xml", NotHttp),
        ] {
            assert_eq!(HttpUrl::parse(input), Err(err), "{input:?}");
        }
        assert_eq!(HttpUrl::parse(&format!("http://a/{}", "x".repeat(MAX_URL_LEN))), Err(Length));
    }

    #[test]
    fn resolves_references_per_rfc3986() {
        let base = url("http://10.0.0.1:5000/dev/sub/desc.xml?x=1");
        for (reference, expected) in [
            ("/ctl/IPConn", "http://10.0.0.1:5000/ctl/IPConn"),
            ("ctl/IPConn", "http://10.0.0.1:5000/dev/sub/ctl/IPConn"),
            ("../ctl", "http://10.0.0.1:5000/dev/ctl"),
            ("../../../../ctl", "http://10.0.0.1:5000/ctl"),
            ("./", "http://10.0.0.1:5000/dev/sub/"),
            ("", "http://10.0.0.1:5000/dev/sub/desc.xml?x=1"),
            ("?y=2", "http://10.0.0.1:5000/dev/sub/desc.xml?y=2"),
            ("//10.0.0.2:81/c", "http://10.0.0.2:81/c"),
            ("http://10.0.0.3/abs", "http://10.0.0.3/abs"),
            ("/a/./b/../c", "http://10.0.0.1:5000/a/c"),
            ("x#frag", "http://10.0.0.1:5000/dev/sub/x"),
        ] {
            assert_eq!(base.resolve(reference).unwrap().to_string(), expected, "{reference:?}");
        }
        assert_eq!(base.resolve("https://x/"), Err(UrlError::NotHttp));
        assert_eq!(base.resolve("a b"), Err(UrlError::BadCharacter));
    }

    #[test]
    fn location_policy() {
        let here: IpAddr = "10.77.0.1".parse().unwrap();
        assert!(location_allowed(&url("http://10.77.0.1:5000/d.xml"), here, &[]).is_ok());
        let mapped: IpAddr = "::ffff:10.77.0.1".parse().unwrap();
        assert!(location_allowed(&url("http://10.77.0.1:5000/d.xml"), mapped, &[]).is_ok());
        assert_eq!(location_allowed(&url("http://10.77.0.9:5000/d.xml"), here, &[]), Err(HostRefused::OtherHost));
        assert_eq!(location_allowed(&url("http://router.lan/d.xml"), here, &[]), Err(HostRefused::NotAnAddress));
        let ula: IpAddr = "fd77::1".parse().unwrap();
        assert!(location_allowed(&url("http://[fd77::1]:5000/d.xml"), ula, &[]).is_ok());
        assert!(location_allowed(&url("http://[fd77::2]:5000/d.xml"), ula, &[]).is_err());
    }

    /// Found by review (issue 12): a link-local responder could name any routable IPv6
    /// address in LOCATION, so a device on the LAN could send every game to a host
    /// anywhere. Only a neighbour on the link the answer arrived on is accepted now.
    #[test]
    fn a_link_local_sender_may_name_only_an_on_link_address() {
        let router: IpAddr = "fe80::77:ff:fe00:1".parse().unwrap();
        let ours = |ip: &str, prefix_len| OwnAddress { ip: ip.parse().unwrap(), prefix_len };
        // This host on the test bed's LAN: fd77::2/64 and its own link-local address.
        let on_link = [ours("fd77::2", 64), ours("fe80::77:ff:fe00:2", 64)];
        let allowed = |location: &str| location_allowed(&url(location), router, &on_link);
        assert_eq!(allowed("http://[fd77::1]:5000/rootDesc.xml"), Ok(()), "the test bed's miniupnpd");
        assert_eq!(allowed("http://[fd77::ffff:1]/d.xml"), Ok(()), "anywhere in the /64");
        for elsewhere in [
            "http://[2001:db8::1]/d.xml",     // routable, not on this link
            "http://[fd77:0:0:1::1]/d.xml",   // the next /64
            "http://[fd77::2]:8080/d.xml",    // this host itself
            "http://[fe80::1]/d.xml",         // a link-local address without its zone
            "http://[::1]/d.xml",             // loopback
            "http://[ff02::c]/d.xml",         // multicast
            "http://[::ffff:10.0.0.1]/d.xml", // IPv4
            "http://10.0.0.1/d.xml",
        ] {
            assert_eq!(allowed(elsewhere), Err(HostRefused::OtherHost), "{elsewhere}");
        }
        // No addresses known for the interface (no scope, or the interface is gone).
        assert_eq!(location_allowed(&url("http://[fd77::1]/d.xml"), router, &[]), Err(HostRefused::OtherHost));
        // A zero-length prefix is not a link.
        let everything = [ours("fd77::2", 0)];
        assert!(location_allowed(&url("http://[2001:db8::1]/d.xml"), router, &everything).is_err());
        // A routable sender gets no exception, however on-link the address is.
        let ula: IpAddr = "fd77::3".parse().unwrap();
        assert!(location_allowed(&url("http://[fd77::1]/d.xml"), ula, &on_link).is_err());
    }

    /// A router answering `ff02::c` may name its own `fe80::` address without a zone
    /// (FRITZ!Box, home-assistant/core#71418). Before: the policy let it through, but the
    /// fetch went to `fe80::1` on no interface and failed ("Invalid argument").
    #[test]
    fn a_zoneless_link_local_location_takes_the_scope_of_the_answer() {
        let ours = [OwnAddress { ip: "fe80::2".parse().unwrap(), prefix_len: 64 }];
        let sender: SocketAddr = "[fe80::464e:6dff:fe69:ce8b%3]:1900".parse().unwrap();
        let location = url("http://[fe80::464e:6dff:fe69:ce8b]:49000/igddesc.xml");
        let fetched = location_to_fetch(location.clone(), sender, &ours).unwrap();
        assert_eq!(fetched.scope(), 3);
        assert_eq!(fetched.to_string(), "http://[fe80::464e:6dff:fe69:ce8b%253]:49000/igddesc.xml");
        assert_eq!(fetched.request_uri(), "http://[fe80::464e:6dff:fe69:ce8b]:49000/igddesc.xml");
        // Its control URLs, relative or absolute on the same host, stay on that interface.
        for reference in ["/upnp/control/WANIPConn1", "http://[fe80::464e:6dff:fe69:ce8b]:49000/upnp/control/x"] {
            let control = fetched.resolve(reference).unwrap();
            assert_eq!(control.scope(), 3, "{reference}");
            assert_eq!(device_url_allowed(&control, &fetched), Ok(()), "{reference}");
            // The text given to scripts (igd_control_url) comes back with its scope.
            assert_eq!(HttpUrl::parse_with_zone(&control.to_string()), Ok(control), "{reference}");
        }
        // Another host named by the description gets no scope, and is refused anyway.
        let other = fetched.resolve("http://[fe80::9]/ctl").unwrap();
        assert_eq!((other.scope(), device_url_allowed(&other, &fetched)), (0, Err(HostRefused::OtherHost)));
        // Another link-local address than the sender's is refused, as before.
        let stranger = url("http://[fe80::9]:49000/igddesc.xml");
        assert_eq!(location_to_fetch(stranger, sender, &ours), Err(HostRefused::OtherHost));
        // Routable and IPv4 locations get no scope.
        let ula: SocketAddr = "[fd00::1]:1900".parse().unwrap();
        assert_eq!(location_to_fetch(url("http://[fd00::1]:5000/d.xml"), ula, &[]).unwrap().scope(), 0);
        let v4: SocketAddr = "192.168.178.1:1900".parse().unwrap();
        let plain = location_to_fetch(url("http://192.168.178.1:49000/igddesc.xml"), v4, &[]).unwrap();
        assert_eq!(plain, url("http://192.168.178.1:49000/igddesc.xml"));
        assert_eq!(url("http://[fd00::1]/").with_scope(3).scope(), 0, "only link-local hosts have a scope");
    }

    /// Zones: never from a device; from this host only as Display writes them.
    #[test]
    fn zones_are_parsed_only_where_this_host_made_the_url() {
        assert_eq!(HttpUrl::parse("http://[fe80::1%253]:5000/ctl"), Err(UrlError::ZoneId));
        assert_eq!(HttpUrl::parse_with_zone("http://[fe80::1%253]:5000/ctl").unwrap().scope(), 3);
        for refused in [
            "http://[fe80::1%25eth0]/", // an interface name: not resolved here
            "http://[fe80::1%3]/",      // not RFC 6874's escaped form
            "http://[fe80::1%25]/",     // empty
            "http://[fe80::1%250]/",    // no interface
            "http://[fe80::1%25+3]/",   // a sign
            "http://[fd00::1%253]/",    // not link-local: a zone means nothing
            "http://[fe80::1%2599999999999]/",
        ] {
            assert_eq!(HttpUrl::parse_with_zone(refused), Err(UrlError::ZoneId), "{refused}");
        }
        assert_eq!(HttpUrl::parse_with_zone("http://10.0.0.1/ctl"), HttpUrl::parse("http://10.0.0.1/ctl"));
    }

    #[test]
    fn device_urls_stay_on_the_device() {
        let location = url("http://10.77.0.1:5000/rootDesc.xml");
        for same in ["http://10.77.0.1:5000/ctl/IPConn", "http://10.77.0.1/", "http://[::ffff:10.77.0.1]:49152/ctl"] {
            assert_eq!(device_url_allowed(&url(same), &location), Ok(()), "{same}");
        }
        for (other, why) in [
            ("http://10.77.0.2:5000/ctl/IPConn", HostRefused::OtherHost),
            ("http://192.0.2.1/ctl", HostRefused::OtherHost),
            ("http://127.0.0.1:5000/ctl", HostRefused::OtherHost),
            ("http://router.lan:5000/ctl", HostRefused::NotAnAddress),
            ("http://localhost/ctl", HostRefused::NotAnAddress),
        ] {
            assert_eq!(device_url_allowed(&url(other), &location), Err(why), "{other}");
        }
        // Resolution keeps relative references on the device; absolute ones are checked.
        assert_eq!(device_url_allowed(&location.resolve("/ctl").unwrap(), &location), Ok(()));
        assert!(device_url_allowed(&location.resolve("//10.77.0.9/ctl").unwrap(), &location).is_err());
        // The test bed's IPv6 router: LOCATION and control URL on its ULA.
        let v6 = url("http://[fd77::1]:5000/rootDesc.xml");
        assert_eq!(device_url_allowed(&url("http://[fd77::1]:5000/ctl/IPConn"), &v6), Ok(()));
        assert!(device_url_allowed(&url("http://[fd77::2]:5000/ctl/IPConn"), &v6).is_err());
        // A location with a name has no host to compare with.
        let named = url("http://router.lan/d.xml");
        assert_eq!(device_url_allowed(&url("http://10.77.0.1/ctl"), &named), Err(HostRefused::NotAnAddress));
    }
}
