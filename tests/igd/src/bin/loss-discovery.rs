//! Discovery under packet loss on the real-router test bed.
//!
//! `loss-discovery [--runs N] [--percent P] [--http-percent H] [--min-found M] [--wait-all]`
//! (root): brings
//! up a bed (namespaces `gl-loss-*`), drops P % (default 30) of the client's incoming
//! SSDP answers and HTTP segments (H % of the HTTP ones when given;
//! [`Bed::drop_incoming_each`]), runs itself inside the client
//! namespace for N discoveries (default 100), prints the figure, the timing and the drop
//! counters, and exits 1 when fewer than M runs (default 99 % of N) found the router.
//!
//! `loss-discovery --inside [--runs N] [--wait-all]` is that inner part: N discoveries
//! in the current namespace with the default options (2000 ms timeout), one line per run
//! (`run I found 0|1 ms T ...`) and a summary. Each run is `find_gateway` (returns at the
//! first usable gateway), or `discover` (waits the whole timeout) with `--wait-all`.

use igd_tests::Bed;
use std::process::ExitCode;
use std::time::Duration;
use upnp_core::{DiscoverOptions, discover, find_gateway};

/// Upper bound on runs, so that no typo keeps the bed busy for hours.
const MAX_RUNS: usize = 1000;

struct Args {
    inside: bool,
    runs: usize,
    percent: u8,
    http_percent: Option<u8>,
    min_found: Option<usize>,
    wait_all: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { inside: false, runs: 100, percent: 30, http_percent: None, min_found: None, wait_all: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--inside" => args.inside = true,
            "--wait-all" => args.wait_all = true,
            "--runs" => args.runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--percent" => args.percent = value("--percent")?.parse().map_err(|e| format!("--percent: {e}"))?,
            "--http-percent" => {
                args.http_percent = Some(value("--http-percent")?.parse().map_err(|e| format!("--http-percent: {e}"))?)
            }
            "--min-found" => {
                args.min_found = Some(value("--min-found")?.parse().map_err(|e| format!("--min-found: {e}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.runs == 0 || args.runs > MAX_RUNS {
        return Err(format!("--runs must be 1..={MAX_RUNS}"));
    }
    if args.percent > 100 || args.http_percent.is_some_and(|p| p > 100) {
        return Err("--percent must be 0..=100".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loss-discovery: {e}");
            return ExitCode::from(2);
        }
    };
    if args.inside { inside(&args) } else { drive(&args) }
}

/// The runs themselves, in the current (client) namespace.
fn inside(args: &Args) -> ExitCode {
    let options = DiscoverOptions::default();
    let mut times = Vec::new();
    let mut found = 0;
    for i in 0..args.runs {
        let result = if args.wait_all { discover(&options) } else { find_gateway(&options) };
        match result {
            Ok(d) => {
                let ok = d.gateway().is_some();
                found += usize::from(ok);
                times.push(d.elapsed);
                let why = if ok {
                    String::new()
                } else {
                    let notes: Vec<String> = d.devices.iter().map(|dev| format!("{:?}", dev.note)).collect();
                    format!(" devices {} notes [{}]", d.devices.len(), notes.join(", "))
                };
                println!("run {i} found {} ms {:.1} answers {}{why}", u8::from(ok), ms(d.elapsed), d.answers);
            }
            Err(e) => println!("run {i} found 0 error {e}"),
        }
    }
    times.sort();
    let pick = |q: usize| times.get(q).map_or(f64::NAN, |t| ms(*t));
    println!(
        "summary runs {} found {found} min_ms {:.1} median_ms {:.1} max_ms {:.1}",
        args.runs,
        pick(0),
        pick(times.len() / 2),
        pick(times.len().saturating_sub(1))
    );
    ExitCode::SUCCESS
}

/// Bed, loss, the inner runs, the figure.
fn drive(args: &Args) -> ExitCode {
    let bed = Bed::up_prefixed("gl", "loss", &[]);
    let http_percent = args.http_percent.unwrap_or(args.percent);
    bed.drop_incoming_each(args.percent, http_percent);
    eprintln!("{}", bed.client_ruleset());
    let exe = std::env::current_exe().expect("own path");
    let mut inner = bed.in_client(exe);
    inner.args(["--inside", "--runs", &args.runs.to_string()]);
    if args.wait_all {
        inner.arg("--wait-all");
    }
    let out = inner.output().expect("run the discoveries in the client namespace");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().filter(|l| !(l.starts_with("run ") && l.contains(" found 1 "))) {
        println!("{line}");
    }
    let counters = bed.loss_counters();
    bed.stop_dropping();
    let found = text
        .lines()
        .find_map(|l| l.strip_prefix("summary "))
        .and_then(|s| s.split_whitespace().skip_while(|w| *w != "found").nth(1))
        .and_then(|n| n.parse::<usize>().ok());
    let Some(found) = found else {
        eprintln!("the inner run printed no summary:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        return ExitCode::FAILURE;
    };
    let min_found = args.min_found.unwrap_or(args.runs - args.runs / 100);
    let call = if args.wait_all { "discover" } else { "find_gateway" };
    println!(
        "{call}(2000 ms) with {} % of incoming SSDP answers and {http_percent} % of HTTP segments dropped: \
         {found} of {} runs found the router",
        args.percent, args.runs
    );
    println!("drop counters: {counters}");
    if found < min_found {
        println!("FAIL: fewer than {min_found} of {} runs found the router", args.runs);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
