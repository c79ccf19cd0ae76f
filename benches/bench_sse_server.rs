//! An SSE inference server for `scripts/bench-client.sh`: the tests' server
//! (`tests/support/bench.rs`) with configurable timing, serving until killed.
//! Prints its base URL on the first line of stdout.
//!
//! Usage: `bench_sse_server [ITL_US]` — 0 (default) streams unthrottled.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Duration;

fn main() {
    let itl_us: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let cfg = support::bench::Config {
        ttft_base: Duration::from_micros(itl_us),
        itl_base: Duration::from_micros(itl_us),
        unthrottled: itl_us == 0,
        ..Default::default()
    };
    let server = support::bench::TestServer::start(cfg);
    println!("{}", server.base_url);
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
