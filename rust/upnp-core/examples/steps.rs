//! Times each step of talking to a gateway (diagnosis aid): `steps DESCRIPTION_URL`.
use std::time::{Duration, Instant};
use upnp_core::net::http;
use upnp_core::protocol::url::HttpUrl;

fn main() {
    let url = std::env::args().nth(1).expect("usage: steps DESCRIPTION_URL");
    let location = HttpUrl::parse(&url).expect("a valid http:// URL");
    let t = Instant::now();
    let answer = http::get(&location, Instant::now() + Duration::from_secs(5), http::DESCRIPTION_LIMIT);
    println!("GET description: {:?} in {:?}", answer.map(|a| a.status), t.elapsed());
    let t = Instant::now();
    let device = upnp_core::device_from_url(&url, Duration::from_secs(5)).expect("a device");
    println!("examine: {:?} in {:?}", device.status, t.elapsed());
    let gateway = device.gateway.expect("a gateway");
    for _ in 0..3 {
        let t = Instant::now();
        let s = gateway.status_info(Instant::now() + Duration::from_secs(5));
        println!("GetStatusInfo: {:?} in {:?}", s.map(|s| s.connection_status), t.elapsed());
    }
}
