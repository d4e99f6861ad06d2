//! `http://` URLs as UPnP uses them: parsing, RFC 3986 reference resolution, and the
//! policy that decides which SSDP `LOCATION`s we are willing to fetch.
//!
//! Hand-written rather than the `url` crate: we need only plain `http` with IP-literal or
//! name hosts, and `url` would pull IDNA/ICU tables into every game that ships this addon.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// An absolute `http://` URL: host, port and path (with query), nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    host: Host,
    port: u16,
    /// Starts with `/`; may carry a `?query`; never a `#fragment`.
    path: String,
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
    /// Parses an absolute `http://host[:port][/path][?query][#fragment]` URL.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        check_characters(input)?;
        let (scheme, rest) = split_scheme(input).ok_or(UrlError::NotHttp)?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlError::NotHttp);
        }
        let rest = rest.strip_prefix("//").ok_or(UrlError::BadHost)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, port) = parse_authority(&rest[..authority_end])?;
        let path = path_and_query(&rest[authority_end..]);
        Ok(HttpUrl { host, port, path: remove_dot_segments_keep_query(&path) })
    }

    /// Resolves a reference (absolute, `//authority`, `/absolute-path`, `?query` or a
    /// relative path) against this URL, as RFC 3986 §5.2 says.
    pub fn resolve(&self, reference: &str) -> Result<Self, UrlError> {
        check_characters_allow_empty(reference)?;
        let reference = reference.split('#').next().unwrap_or("");
        if split_scheme(reference).is_some() {
            return Self::parse(reference);
        }
        if reference.starts_with("//") {
            return Self::parse(&format!("http:{reference}"));
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
        Ok(HttpUrl { host: self.host.clone(), port: self.port, path })
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

/// Whether an SSDP answer's `LOCATION` may be fetched, given the address the answer
/// came from. The policy:
/// - the host must be an IP literal (no DNS lookups on behalf of a LAN device);
/// - it must be the sender's own address. One exception: a router answering the
///   link-local group `ff02::c` speaks from its `fe80::` address but names a routable
///   address of its own in `LOCATION` (miniupnpd does); when the sender is link-local we
///   accept any unicast, non-loopback IPv6 `LOCATION` host.
///
/// This keeps a device on the LAN from making every game on it fetch from a third host.
pub fn location_allowed(location: &HttpUrl, sender: IpAddr) -> Result<(), LocationRefused> {
    let Some(host) = location.ip() else {
        return Err(LocationRefused::NotAnAddress);
    };
    let sender = canonical(sender);
    let host = canonical(host);
    if host == sender {
        return Ok(());
    }
    match (sender, host) {
        (IpAddr::V6(s), IpAddr::V6(h))
            if is_link_local_v6(s) && !h.is_loopback() && !h.is_multicast() && !h.is_unspecified() =>
        {
            Ok(())
        }
        _ => Err(LocationRefused::OtherHost),
    }
}

/// Why a `LOCATION` is not fetched (see [`location_allowed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationRefused {
    /// The host is a name, not an address.
    NotAnAddress,
    /// The host is not the device that answered.
    OtherHost,
}

impl fmt::Display for LocationRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocationRefused::NotAnAddress => "names a host, not an address",
            LocationRefused::OtherHost => "is on another host than the device that answered",
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

fn parse_authority(authority: &str) -> Result<(Host, u16), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let close = bracketed.find(']').ok_or(UrlError::BadHost)?;
        let literal = &bracketed[..close];
        if literal.contains('%') {
            return Err(UrlError::ZoneId);
        }
        let ip: Ipv6Addr = literal.parse().map_err(|_| UrlError::BadHost)?;
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
    Ok((host, port))
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
        assert!(location_allowed(&url("http://10.77.0.1:5000/d.xml"), here).is_ok());
        let mapped: IpAddr = "::ffff:10.77.0.1".parse().unwrap();
        assert!(location_allowed(&url("http://10.77.0.1:5000/d.xml"), mapped).is_ok());
        assert_eq!(location_allowed(&url("http://10.77.0.9:5000/d.xml"), here), Err(LocationRefused::OtherHost));
        assert_eq!(location_allowed(&url("http://router.lan/d.xml"), here), Err(LocationRefused::NotAnAddress));
        let link_local: IpAddr = "fe80::77:ff:fe00:1".parse().unwrap();
        assert!(location_allowed(&url("http://[fd77::1]:5000/d.xml"), link_local).is_ok());
        assert!(location_allowed(&url("http://[::1]:5000/d.xml"), link_local).is_err());
        assert!(location_allowed(&url("http://10.0.0.1/d.xml"), link_local).is_err());
        let ula: IpAddr = "fd77::1".parse().unwrap();
        assert!(location_allowed(&url("http://[fd77::2]:5000/d.xml"), ula).is_err());
    }
}
