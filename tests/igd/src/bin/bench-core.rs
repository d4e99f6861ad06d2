//! Benchmark of the client core on the real-router test bed (prints numbers; asserts
//! nothing): `discover()` wall time against its timeout with one device and with extra
//! simulated devices (ordinary, stalling, trickling), time to the first usable gateway,
//! and add/delete time against `upnpc -u` on the same router.
//!
//! Run as root: `cargo run --release -p igd-tests --bin bench-core`.

use igd_tests::{Bed, Mode, bin_dir};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 10;

fn main() {
    let bed = Bed::up("bench", Mode::V2);
    println!("benchmark on the test bed (miniupnpd {}), {RUNS} runs each", bed.var("IGD_BACKEND"));
    println!();

    let timeout = 2000;
    let (alone, n) = discover_times(&bed, &["discover", "--timeout", &timeout.to_string()]);
    report(&format!("discover({timeout}), router only [{n} device]"), &alone);
    let (first, _) = discover_times(&bed, &["discover", "--first", "--timeout", &timeout.to_string()]);
    report("time to first usable gateway", &first);

    for (label, kind, count) in [
        ("20 ordinary extra devices", "media-renderer", 20),
        ("1 device whose HTTP stalls", "stall", 1),
        ("1 device sending 1 byte/s", "trickle", 1),
    ] {
        let sim = ExtraDevices::start(&bed, kind, count);
        let (times, n) = discover_times(&bed, &["discover", "--timeout", &timeout.to_string()]);
        report(&format!("discover({timeout}) + {label} [{n} devices]"), &times);
        let (times, _) = discover_times(&bed, &["discover", "--first", "--timeout", &timeout.to_string()]);
        report(&format!("first gateway + {label}"), &times);
        drop(sim);
    }
    println!();

    let url = bed.var("IGD_ROOTDESC").to_string();
    let ours_add = process_times(&bed, |i| {
        bed.in_client(bin_dir().join("upnp"))
            .args(["--url", &url, "add", &(42000 + i).to_string(), "--lease", "600"])
            .output()
    });
    let ours_del = process_times(&bed, |i| {
        bed.in_client(bin_dir().join("upnp")).args(["--url", &url, "delete", &(42000 + i).to_string()]).output()
    });
    let client = bed.var("IGD_CLIENT_IP").to_string();
    let upnpc_add = process_times(&bed, |i| {
        let port = (42100 + i).to_string();
        bed.in_client("upnpc").args(["-u", &url, "-a", &client, &port, &port, "UDP", "600"]).output()
    });
    let upnpc_del = process_times(&bed, |i| {
        bed.in_client("upnpc").args(["-u", &url, "-d", &(42100 + i).to_string(), "UDP"]).output()
    });
    report("AddPortMapping alone (in process)", &action_times(&bed, &url, "add", 42200));
    report("DeletePortMapping alone (in process)", &action_times(&bed, &url, "delete", 42200));
    report("upnp --url add (whole process)", &ours_add);
    report("upnpc -u -a (whole process)", &upnpc_add);
    report("upnp --url delete (whole process)", &ours_del);
    report("upnpc -u -d (whole process)", &upnpc_del);
}

/// In-process discovery times (the CLI's own measurement around discover()), with the
/// number of devices listed in the last run.
fn discover_times(bed: &Bed, args: &[&str]) -> (Vec<f64>, usize) {
    let mut devices = 0;
    let times = (0..RUNS)
        .map(|_| {
            let json = bed.upnp(args).ok();
            devices = json["devices"].as_array().map_or(0, Vec::len);
            json["elapsed_ms"].as_f64().unwrap_or_else(|| panic!("no elapsed_ms: {json}"))
        })
        .collect();
    (times, devices)
}

/// The CLI's own time for the SOAP action alone (`action_ms`), in-process.
fn action_times(bed: &Bed, url: &str, verb: &str, first_port: usize) -> Vec<f64> {
    (0..RUNS)
        .map(|i| {
            let port = (first_port + i).to_string();
            let mut args = vec!["--url", url, verb, &port];
            if verb == "add" {
                args.extend(["--lease", "600"]);
            }
            bed.upnp(&args).ok()["action_ms"].as_f64().expect("action_ms")
        })
        .collect()
}

/// Wall times of whole processes, in ms; each must succeed.
fn process_times(_bed: &Bed, mut run: impl FnMut(usize) -> std::io::Result<std::process::Output>) -> Vec<f64> {
    (0..RUNS)
        .map(|i| {
            let t = Instant::now();
            let out = run(i).expect("spawn");
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            ms
        })
        .collect()
}

fn report(label: &str, samples: &[f64]) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    println!(
        "{label:<48} mean {mean:7.1} ms  median {:7.1}  min {:7.1}  max {:7.1}",
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1]
    );
}

/// Simulated devices on the bed's LAN: extra addresses on the client's interface and the
/// igd-sim binary answering (by multicast loopback) inside the client namespace.
struct ExtraDevices<'a> {
    bed: &'a Bed,
    child: Child,
    addresses: Vec<String>,
}

impl<'a> ExtraDevices<'a> {
    fn start(bed: &'a Bed, kind: &str, count: usize) -> Self {
        let addresses: Vec<String> = (0..count).map(|i| format!("10.77.0.{}", 100 + i)).collect();
        for a in &addresses {
            let ok = Command::new("ip")
                .args(["-n", &bed.client, "addr", "add", &format!("{a}/24"), "dev", "c0"])
                .status()
                .expect("ip addr add")
                .success();
            assert!(ok, "cannot add {a}");
        }
        let child = bed
            .in_client(bin_dir().join("igd-sim"))
            .args(["--multicast", "c0", "--address", &addresses[0], "--count", &count.to_string(), "--kind", kind])
            // Answer every search, so each device is listed and examined.
            .args(["--ssdp", "echo"])
            .args(["--duration", "600"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start igd-sim");
        std::thread::sleep(Duration::from_millis(300));
        ExtraDevices { bed, child, addresses }
    }
}

impl Drop for ExtraDevices<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for a in &self.addresses {
            let _ = Command::new("ip")
                .args(["-n", &self.bed.client, "addr", "del", &format!("{a}/24"), "dev", "c0"])
                .status();
        }
    }
}
