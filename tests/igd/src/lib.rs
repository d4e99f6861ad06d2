//! The real-router test bed, for integration tests: brings up miniupnpd in network
//! namespaces (tests/testbed/igd-up.sh), runs programs inside the client namespace, and
//! reads the router's real state (its lease file, its nftables rules, its log).
//!
//! Network safety: every program under test runs inside the bed's client namespace
//! (`ip netns exec`); nothing here sends a packet from the host's own namespace.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a bed's router is set up (environment of igd-up.sh).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// IGDv2 description, public external address 11.22.33.44.
    V2,
    /// IGDv1 description (the SOAP layer still has the v2 actions).
    V1,
    /// No external address configured: the router's WAN address is private (CGNAT case).
    PrivateWan,
    /// IGDv2, but the client has no multicast route (discovery must choose the interface).
    NoMulticastRoute,
    /// IGDv2, and the client's default route (with multicast) goes through a VPN
    /// interface, vpn0, while the router is on c0.
    VpnRoute,
}

impl Mode {
    fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Mode::V2 => vec![],
            Mode::V1 => vec![("IGD_FORCE_V1", "yes")],
            Mode::PrivateWan => vec![("IGD_EXT_IP", "none")],
            Mode::NoMulticastRoute => vec![("IGD_MCAST_ROUTE", "0")],
            Mode::VpnRoute => vec![("IGD_VPN_ROUTE", "1")],
        }
    }
}

/// One running test bed.
#[derive(Debug)]
pub struct Bed {
    /// Short name; namespaces are `<prefix>-<name>-r`, `-c`, `-w` (prefix `gu` unless made
    /// by [`Bed::up_prefixed`]).
    pub name: String,
    /// The router namespace.
    pub router: String,
    /// The client namespace (10.77.0.2 and 10.77.0.3, fd77::2).
    pub client: String,
    /// The WAN namespace (10.78.0.1).
    pub wan: String,
    /// `IGD_*` values printed by igd-up.sh.
    pub env: BTreeMap<String, String>,
    /// State directory (config, log, leases).
    pub state_dir: PathBuf,
}

/// Beds to take down when the test process exits.
static LIVE_BEDS: Mutex<Vec<(String, String, String, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn take_down_live_beds() {
    let beds = LIVE_BEDS.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default();
    // All at once: each takes 1 to 2 s, waiting for its daemons to exit.
    let downs: Vec<_> = beds
        .iter()
        .filter_map(|(router, client, wan, state)| {
            Command::new(testbed_dir().join("igd-down.sh"))
                .args([router, client, wan])
                .env("IGD_STATE_DIR", state)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    for mut down in downs {
        let _ = down.wait();
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn testbed_dir() -> PathBuf {
    repo_root().join("tests/testbed")
}

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    // target/<profile>/deps/<test> or target/<profile>/<bin> -> target/<profile>
    let dir = exe.parent().expect("executable directory");
    if dir.ends_with("deps") { dir.parent().expect("target directory").to_path_buf() } else { dir.to_path_buf() }
}

impl Bed {
    /// Brings up a bed; it is taken down when the test process exits.
    pub fn up(name: &str, mode: Mode) -> Bed {
        Self::up_with(name, &mode.env())
    }

    /// Brings up a bed with extra igd-up.sh environment (`IGD_EXT_IP`, ...).
    pub fn up_with(name: &str, env: &[(&str, &str)]) -> Bed {
        Self::up_prefixed("gu", name, env)
    }

    /// Brings up a bed whose namespaces are `<prefix>-<name>-r`, `-c` and `-w`: a suite
    /// with its own prefix (the NAT-PMP suite uses `gp`) can never collide with the
    /// namespaces of another suite running at the same time.
    pub fn up_prefixed(prefix: &str, name: &str, env: &[(&str, &str)]) -> Bed {
        assert!(nix_is_root(), "the test bed needs root (run tests/run.sh)");
        let ns = |role: &str| format!("{prefix}-{name}-{role}");
        let (router, client, wan) = (ns("r"), ns("c"), ns("w"));
        // The default prefix keeps the state directories the suites always had.
        let state_dir = match prefix {
            "gu" => std::env::temp_dir().join(format!("godot-upnp-bed-{name}")),
            _ => std::env::temp_dir().join(format!("godot-upnp-bed-{prefix}-{name}")),
        };
        {
            let mut live = LIVE_BEDS.lock().unwrap();
            if live.is_empty() {
                // SAFETY: registering a plain extern "C" fn with the C runtime.
                #[allow(unsafe_code)]
                unsafe {
                    libc::atexit(take_down_live_beds);
                }
            }
            live.push((router.clone(), client.clone(), wan.clone(), state_dir.clone()));
        }
        let mut command = Command::new(testbed_dir().join("igd-up.sh"));
        command.args([&router, &client, &wan]).env("IGD_STATE_DIR", &state_dir);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().expect("run igd-up.sh");
        assert!(out.status.success(), "igd-up.sh {name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Bed { name: name.to_string(), router, client, wan, env, state_dir }
    }

    /// Restarts the router's daemon in place (tests/testbed/igd-restart.sh) with extra
    /// environment: `IGD_EXT_IP` for a new external address, `IGD_CLEAR_LEASES=1` to
    /// forget the mappings as a rebooted router does. Returns the `IGD_*` values it
    /// printed (`IGD_EXT_IP`, `IGD_DAEMON_PID`); [`Bed::var`] keeps the first values.
    pub fn restart(&self, env: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut command = Command::new(testbed_dir().join("igd-restart.sh"));
        command.arg(&self.router).env("IGD_STATE_DIR", &self.state_dir);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().expect("run igd-restart.sh");
        assert!(out.status.success(), "igd-restart.sh {} failed:\n{}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// An `IGD_*` value from igd-up.sh, e.g. `IGD_ROOTDESC`.
    pub fn var(&self, key: &str) -> &str {
        self.env.get(key).map(String::as_str).unwrap_or_else(|| panic!("igd-up.sh printed no {key}"))
    }

    /// A command run inside the client namespace.
    pub fn in_client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client]).arg(program);
        c
    }

    /// A command run inside the router namespace (the home router on a double-NAT bed).
    pub fn in_router(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.router]).arg(program);
        c
    }

    /// A command run inside the WAN namespace.
    pub fn in_wan(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.wan]).arg(program);
        c
    }

    /// Runs our `upnp` CLI inside the client namespace with `--json`.
    pub fn upnp(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let out = self.in_client(bin_dir().join("upnp")).arg("--json").args(args).output().expect("run upnp");
        Run::new(out, started.elapsed())
    }

    /// Runs our `upnp` CLI inside the client namespace with `--json` and `--url` set to the
    /// router's IPv6 description (fd77::1), so that requests come from fd77::2.
    pub fn upnp6(&self, args: &[&str]) -> Run {
        let mut all = vec!["--url", self.var("IGD_ROOTDESC6")];
        all.extend_from_slice(args);
        self.upnp(&all)
    }

    /// Runs the `pmp-probe` helper (the library's NAT-PMP/PCP calls) inside the client
    /// namespace; it prints one JSON document, like the CLI.
    pub fn pmp_probe(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let out = self.in_client(bin_dir().join("pmp-probe")).args(args).output().expect("run pmp-probe");
        Run::new(out, started.elapsed())
    }

    /// The router's mappings from its lease file (its own record of what it granted).
    pub fn leases(&self) -> Vec<Lease> {
        let text = std::fs::read_to_string(self.state_dir.join("upnp.leases")).unwrap_or_default();
        text.lines().filter_map(Lease::parse).collect()
    }

    /// The lease for one external port and protocol, if the router holds one.
    pub fn lease(&self, port: u16, protocol: &str) -> Option<Lease> {
        self.leases().into_iter().find(|l| l.external_port == port && l.protocol == protocol)
    }

    /// The router's DNAT rules, as nft prints them.
    pub fn dnat_rules(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.router, "nft", "list", "chain", "inet", "igd", "prerouting_miniupnpd"])
            .output()
            .expect("nft list");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The router's IPv6 pinholes as its firewall holds them: the rules miniupnpd put in
    /// the `inet igd miniupnpd` chain whose user data names a pinhole
    /// (`pinhole-<id> ts-<expiry>: <description>`), in chain order.
    pub fn pinhole_rules(&self) -> Vec<PinholeRule> {
        let out = self
            .in_router("nft")
            .args(["-a", "--debug=netlink", "list", "chain", "inet", "igd", "miniupnpd"])
            .output()
            .expect("nft list");
        assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        // The netlink dump: "inet igd miniupnpd <handle> [<previous>]", the rule's
        // expressions, then "userdata = { ... }"; after it, the rules as nft prints them,
        // each ending in "# handle <handle>".
        let mut userdata = BTreeMap::new();
        let mut handle = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("inet igd miniupnpd ") {
                handle = rest.split_whitespace().next().map(str::to_string);
            } else if let (Some(data), Some(h)) = (line.trim().strip_prefix("userdata = { "), &handle) {
                userdata.insert(h.clone(), data.trim_end_matches('}').trim().to_string());
            }
        }
        text.lines()
            .filter_map(|line| {
                let (rule, handle) = line.trim().rsplit_once(" # handle ")?;
                let data = userdata.get(handle)?;
                let (id, rest) = data.strip_prefix("pinhole-")?.split_once(" ts-")?;
                let (expiry, _) = rest.split_once(':')?;
                Some(PinholeRule {
                    id: id.parse().ok()?,
                    expires_at_uptime: expiry.parse().ok()?,
                    rule: rule.to_string(),
                })
            })
            .collect()
    }

    /// The router daemon's debug log so far.
    pub fn router_log(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("miniupnpd.log")).unwrap_or_default()
    }

    /// Sends a SOAP action to the router from the second LAN address (10.77.0.3), as
    /// another computer on the LAN would. Independent of the code under test (curl).
    pub fn soap_from_other_host(&self, action: &str, args: &[(&str, &str)]) -> (u16, String) {
        let service = self.connection_service_type();
        let mut body = format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:{action} xmlns:u=\"{service}\">"
        );
        for (k, v) in args {
            body.push_str(&format!("<{k}>{v}</{k}>"));
        }
        body.push_str(&format!("</u:{action}></s:Body></s:Envelope>"));
        let gateway = self.var("IGD_GATEWAY");
        let out = self
            .in_client("curl")
            .args(["-s", "-m", "5", "-w", "\n%{http_code}", "--interface", self.var("IGD_OTHER_CLIENT_IP")])
            .args(["-H", &format!("SOAPAction: \"{service}#{action}\""), "-H", "Content-Type: text/xml"])
            .args(["--data", &body, &format!("http://{gateway}:5000/ctl/IPConn")])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Maps `port` to the other LAN host (10.77.0.3) and checks the router took it.
    pub fn other_host_maps(&self, port: u16, protocol: &str) {
        let port_text = port.to_string();
        let other = self.var("IGD_OTHER_CLIENT_IP").to_string();
        let (code, body) = self.soap_from_other_host(
            "AddPortMapping",
            &[
                ("NewRemoteHost", ""),
                ("NewExternalPort", &port_text),
                ("NewProtocol", protocol),
                ("NewInternalPort", &port_text),
                ("NewInternalClient", &other),
                ("NewEnabled", "1"),
                ("NewPortMappingDescription", "other-host"),
                ("NewLeaseDuration", "3600"),
            ],
        );
        assert_eq!(code, 200, "the other host's mapping was refused: {body}");
        let lease = self.lease(port, protocol).expect("the router lists the other host's mapping");
        assert_eq!(lease.internal_client, other);
    }

    /// The router's HTTP port (from `IGD_ROOTDESC`).
    pub fn http_port(&self) -> u16 {
        let url = self.var("IGD_ROOTDESC");
        let host_port = url.trim_start_matches("http://").split('/').next().unwrap_or("");
        host_port.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("no port in {url}"))
    }

    /// Packet loss on the client's side: installs in the client namespace the nftables
    /// table `inet loss`, whose input chain drops `percent` % (chosen by
    /// `numgen random mod 100`) of the incoming SSDP answers (UDP from port 1900) and of
    /// the incoming TCP segments from the router's HTTP port. Named counters record what
    /// arrived and what was dropped ([`Bed::loss_counters`]). Replaces an earlier table.
    pub fn drop_incoming(&self, percent: u8) {
        self.drop_incoming_each(percent, percent);
    }

    /// Like [`Bed::drop_incoming`], with one rate for the SSDP answers and another for
    /// the HTTP segments.
    pub fn drop_incoming_each(&self, ssdp_percent: u8, http_percent: u8) {
        assert!(ssdp_percent <= 100 && http_percent <= 100, "percent must be 0..=100");
        self.stop_dropping();
        let port = self.http_port();
        let ruleset = format!(
            "table inet loss {{\n\
             \tcounter ssdp_in {{}}\n\tcounter ssdp_dropped {{}}\n\
             \tcounter http_in {{}}\n\tcounter http_dropped {{}}\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\tudp sport 1900 counter name ssdp_in\n\
             \t\tudp sport 1900 numgen random mod 100 < {ssdp_percent} counter name ssdp_dropped drop\n\
             \t\ttcp sport {port} counter name http_in\n\
             \t\ttcp sport {port} numgen random mod 100 < {http_percent} counter name http_dropped drop\n\
             \t}}\n}}\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.client, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft");
        use std::io::Write as _;
        child.stdin.take().expect("nft stdin").write_all(ruleset.as_bytes()).expect("write the ruleset");
        let out = child.wait_with_output().expect("nft -f");
        assert!(out.status.success(), "nft refused the loss table:\n{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Removes the table of [`Bed::drop_incoming`] (nothing happens when there is none).
    pub fn stop_dropping(&self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.client, "nft", "delete", "table", "inet", "loss"])
            .stderr(Stdio::null())
            .status();
    }

    /// The client namespace's whole nftables ruleset, as `nft list ruleset` prints it.
    pub fn client_ruleset(&self) -> String {
        let out =
            Command::new("ip").args(["netns", "exec", &self.client, "nft", "list", "ruleset"]).output().expect("nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Packets counted by the table of [`Bed::drop_incoming`] so far.
    pub fn loss_counters(&self) -> LossCounters {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.client, "nft", "-j", "list", "counters", "table", "inet", "loss"])
            .output()
            .expect("nft list counters");
        assert!(out.status.success(), "no loss table: {}", String::from_utf8_lossy(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).expect("nft JSON");
        let mut counts = BTreeMap::new();
        for item in json["nftables"].as_array().into_iter().flatten() {
            let counter = &item["counter"];
            if let (Some(name), Some(packets)) = (counter["name"].as_str(), counter["packets"].as_u64()) {
                counts.insert(name.to_string(), packets);
            }
        }
        let get = |name: &str| counts.get(name).copied().unwrap_or(0);
        LossCounters {
            ssdp_in: get("ssdp_in"),
            ssdp_dropped: get("ssdp_dropped"),
            http_in: get("http_in"),
            http_dropped: get("http_dropped"),
        }
    }

    fn connection_service_type(&self) -> String {
        // The SOAP layer of miniupnpd accepts v1 and v2 URNs in both modes.
        "urn:schemas-upnp-org:service:WANIPConnection:1".to_string()
    }
}

/// Incoming packets seen and dropped by [`Bed::drop_incoming`]'s table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounters {
    /// UDP datagrams from port 1900 that reached the input hook.
    pub ssdp_in: u64,
    /// Of those, dropped.
    pub ssdp_dropped: u64,
    /// TCP segments from the router's HTTP port that reached the input hook.
    pub http_in: u64,
    /// Of those, dropped.
    pub http_dropped: u64,
}

impl std::fmt::Display for LossCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |d: u64, n: u64| if n == 0 { 0.0 } else { 100.0 * d as f64 / n as f64 };
        write!(
            f,
            "SSDP answers {} in, {} dropped ({:.1} %); HTTP segments {} in, {} dropped ({:.1} %)",
            self.ssdp_in,
            self.ssdp_dropped,
            pct(self.ssdp_dropped, self.ssdp_in),
            self.http_in,
            self.http_dropped,
            pct(self.http_dropped, self.http_in)
        )
    }
}

/// One IPv6 pinhole rule in the router's firewall ([`Bed::pinhole_rules`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinholeRule {
    /// The pinhole's id (AddPinhole's UniqueID).
    pub id: u16,
    /// When miniupnpd removes it, in seconds of the kernel's uptime.
    pub expires_at_uptime: u64,
    /// The rule as nft prints it (`iif "wan0" th dport 7777 @nh,192,128 0xfd77... accept`).
    pub rule: String,
}

impl PinholeRule {
    /// Seconds until miniupnpd removes it (the namespaces share the kernel's uptime).
    pub fn seconds_left(&self) -> i64 {
        let uptime = std::fs::read_to_string("/proc/uptime").expect("/proc/uptime");
        let now: f64 = uptime.split_whitespace().next().and_then(|u| u.parse().ok()).expect("an uptime");
        self.expires_at_uptime as i64 - now as i64
    }

    /// Whether it lets `protocol` ("UDP"/"TCP") in to `address` (an IPv6 address as nft
    /// matches it: its 32 hex digits) port `port`.
    pub fn opens(&self, address: std::net::Ipv6Addr, port: u16, protocol: &str) -> bool {
        let hex: String = address.octets().iter().map(|b| format!("{b:02x}")).collect();
        let number = if protocol == "UDP" { "0x11" } else { "0x6" };
        self.rule.contains(&format!("th dport {port} "))
            && self.rule.contains(&format!("@nh,192,128 0x{hex} "))
            && self.rule.contains(&format!("@nh,48,8 {number} accept"))
    }
}

/// One line of miniupnpd's lease file: `PROTO:EPORT:IADDR:IPORT:EXPIRY:DESC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// "UDP" or "TCP".
    pub protocol: String,
    /// External port.
    pub external_port: u16,
    /// LAN address the port goes to.
    pub internal_client: String,
    /// Internal port.
    pub internal_port: u16,
    /// Expiry as a Unix timestamp (0 = none).
    pub expires_at: u64,
    /// Description.
    pub description: String,
}

impl Lease {
    fn parse(line: &str) -> Option<Lease> {
        let mut parts = line.splitn(6, ':');
        Some(Lease {
            protocol: parts.next()?.to_string(),
            external_port: parts.next()?.parse().ok()?,
            internal_client: parts.next()?.to_string(),
            internal_port: parts.next()?.parse().ok()?,
            expires_at: parts.next()?.parse().ok()?,
            description: parts.next().unwrap_or("").to_string(),
        })
    }

    /// Seconds until the lease expires (0 when it never does).
    pub fn seconds_left(&self) -> u64 {
        if self.expires_at == 0 {
            return 0;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        self.expires_at.saturating_sub(now)
    }
}

/// A finished run of the CLI.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time, process start included.
    pub wall: Duration,
}

impl Run {
    fn new(out: Output, wall: Duration) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            wall,
        }
    }

    /// The JSON document the CLI printed.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("upnp printed no JSON ({e}):\nstdout: {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Asserts success and returns the JSON.
    pub fn ok(&self) -> Value {
        assert_eq!(self.code, 0, "upnp failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self.json()
    }

    /// Asserts failure with this `UPNPResult` value and returns the JSON.
    pub fn fails_with(&self, result: i64) -> Value {
        assert_ne!(self.code, 0, "upnp succeeded but should have failed: {}", self.stdout);
        let json = self.json();
        assert_eq!(json["result"].as_i64(), Some(result), "unexpected result: {json}");
        json
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}
