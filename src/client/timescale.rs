//! The clock the client reports in: the server's.
//!
//! A simulator started with `MATRIX_SIM_TIME_SCALE=s` spends `s` wall
//! seconds per simulated second. It says so in `/server_info`
//! (`"simulated": true`, `sim.time_scale`), and the client asks before the
//! run, so the scale always matches the server it talks to (no second
//! variable to keep in step). One rule for `bench serving` and `bench
//! batch` (docs/SIM.md, "Time scale"):
//!
//! - arrivals: every scheduled offset is multiplied by `s`, so a request
//!   rate stays a rate in simulated time;
//! - measurements: every recorded instant and duration is divided by `s`
//!   before any metric is computed, so TTFT, ITL, E2E, durations,
//!   throughputs and the per-second peaks are simulated (real-GPU) time.
//!
//! A real server, or a simulator at scale 1, is [`TimeScale::Real`]: nothing
//! changes. At scale 0 (unthrottled) no simulated time is observable: the
//! client keeps wall-clock arrivals and numbers, and says so.

use std::time::Duration;

use serde_json::Value;

use super::http::{Http, Method};
use super::record::RequestRecord;

/// The variable that used to set the client's scale by hand; no longer read.
pub const RETIRED_ENV: &str = "MATRIX_BENCH_TIME_SCALE";

/// How the server's time relates to the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeScale {
    /// Wall-clock time is the server's time.
    Real,
    /// A simulator spending this many wall seconds per simulated second
    /// (finite, > 0, not 1).
    Scaled(f64),
    /// A simulator at `MATRIX_SIM_TIME_SCALE=0`: steps take no wall time.
    Unthrottled,
}

impl TimeScale {
    /// Read `sim.time_scale` of a `/server_info` answer. Anything that is
    /// not a simulator's answer (a real server, `null`) is [`TimeScale::Real`].
    pub fn from_server_info(info: &Value) -> Self {
        if info.get("simulated").and_then(Value::as_bool) != Some(true) {
            return TimeScale::Real;
        }
        match info.pointer("/sim/time_scale").and_then(Value::as_f64) {
            Some(0.0) => TimeScale::Unthrottled,
            Some(s) if s.is_finite() && s > 0.0 && s != 1.0 => TimeScale::Scaled(s),
            _ => TimeScale::Real,
        }
    }

    /// Ask the server at `base` (`GET /server_info`). Any HTTP answer
    /// decides (a server without the route is not the simulator); no answer
    /// at all is asked again, then said on stderr, never silently taken for
    /// real time.
    pub async fn learn(http: &Http, base: &str) -> Self {
        let url = format!("{base}/server_info");
        for _ in 0..3 {
            match http
                .call(Method::Get, &url, None, Duration::from_secs(5))
                .await
            {
                Ok((200, body)) => {
                    return Self::from_server_info(
                        &serde_json::from_slice(&body).unwrap_or(Value::Null),
                    );
                }
                Ok(_) => return TimeScale::Real,
                Err(_) => continue,
            }
        }
        eprintln!(
            "warning: {url} did not answer: times are reported as measured (wall clock); \
             against a time-scaled simulator they are off by its scale"
        );
        TimeScale::Real
    }

    /// Wall seconds per reported second: what arrival offsets are
    /// multiplied by and measured times divided by.
    pub fn factor(self) -> f64 {
        match self {
            TimeScale::Scaled(s) => s,
            TimeScale::Real | TimeScale::Unthrottled => 1.0,
        }
    }

    /// Convert records from wall-clock to the server's time, in place.
    /// Chunk offsets saturate at `u32::MAX` µs (71 minutes), as they do
    /// when measured.
    pub fn unscale(self, recs: &mut [RequestRecord]) {
        let f = self.factor();
        if f == 1.0 {
            return;
        }
        let u64_of = |us: u64| (us as f64 / f).round() as u64;
        let u32_of = |us: u32| (us as f64 / f).round().min(u32::MAX as f64) as u32;
        for r in recs {
            r.scheduled_us = u64_of(r.scheduled_us);
            r.send_us = u64_of(r.send_us);
            r.latency_us = u32_of(r.latency_us);
            for c in &mut r.chunk_us {
                *c = u32_of(*c);
            }
        }
    }

    /// The line the client prints before measuring, if any.
    pub fn note(self) -> Option<String> {
        match self {
            TimeScale::Real => None,
            TimeScale::Scaled(s) => Some(format!(
                "Simulator time scale {s}: arrivals run {s}x wall time, \
                 latencies and throughputs are reported in simulated time."
            )),
            TimeScale::Unthrottled => Some(
                "Simulator time scale 0 (unthrottled): no simulated time passes; \
                 latencies and throughputs are the simulator's wall-clock overhead, \
                 not simulated times."
                    .to_string(),
            ),
        }
    }
}

/// Print the scale's note (stdout) and warn (stderr) when the retired
/// variable is set, since it no longer does anything.
pub fn announce(scale: TimeScale) {
    if let Ok(v) = std::env::var(RETIRED_ENV) {
        eprintln!(
            "warning: {RETIRED_ENV}={v} is ignored: the client takes the time scale \
             from the simulator's /server_info (see docs/SIM.md)"
        );
    }
    if let Some(note) = scale.note() {
        println!("{note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scale_comes_only_from_a_simulator() {
        let sim = |s: Value| json!({"simulated": true, "sim": {"time_scale": s}});
        assert_eq!(
            TimeScale::from_server_info(&sim(json!(0.05))),
            TimeScale::Scaled(0.05)
        );
        assert_eq!(
            TimeScale::from_server_info(&sim(json!(0))),
            TimeScale::Unthrottled
        );
        assert_eq!(
            TimeScale::from_server_info(&sim(json!(1.0))),
            TimeScale::Real
        );
        // A real server's info, or none at all.
        let real = json!({"sim": {"time_scale": 0.5}, "version": "0.5.23"});
        assert_eq!(TimeScale::from_server_info(&real), TimeScale::Real);
        assert_eq!(TimeScale::from_server_info(&Value::Null), TimeScale::Real);
    }

    #[test]
    fn unscale_divides_every_time() {
        let mut recs = vec![RequestRecord {
            scheduled_us: 1_000,
            send_us: 1_500,
            chunk_us: vec![200, 700],
            latency_us: 900,
            ..Default::default()
        }];
        TimeScale::Scaled(0.5).unscale(&mut recs);
        let r = &recs[0];
        assert_eq!(
            (r.scheduled_us, r.send_us, r.latency_us),
            (2_000, 3_000, 1_800)
        );
        assert_eq!(r.chunk_us, [400, 1_400]);
        TimeScale::Unthrottled.unscale(&mut recs);
        assert_eq!(recs[0].send_us, 3_000, "unthrottled keeps wall-clock");
    }

    #[test]
    fn unscale_saturates_long_chunks() {
        let mut recs = vec![RequestRecord {
            chunk_us: vec![u32::MAX / 2],
            latency_us: u32::MAX / 2,
            ..Default::default()
        }];
        TimeScale::Scaled(0.001).unscale(&mut recs);
        assert_eq!(recs[0].chunk_us, [u32::MAX]);
        assert_eq!(recs[0].latency_us, u32::MAX);
    }
}
