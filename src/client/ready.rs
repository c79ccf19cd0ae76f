//! Before the run: wait until the server answers, learn the served model
//! name; after it: fetch `/server_info` for the JSON line.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::ClientError;
use super::http::{Http, Method};

/// Poll `GET {base}/v1/models`, then `/health`, every 100 ms until one
/// answers 200 or `timeout_s` passes. Prints SGLang's two lines.
pub async fn wait_ready(http: &Http, base: &str, timeout_s: f64) -> Result<(), ClientError> {
    let url = format!("{base}/v1/models");
    println!("Waiting up to {timeout_s}s for {url} to become ready...");
    let start = Instant::now();
    let probes = [url.clone(), format!("{base}/health")];
    loop {
        for probe in &probes {
            let r = http
                .call(Method::Get, probe, None, Duration::from_secs(5))
                .await;
            if matches!(r, Ok((200, _))) {
                println!("Server ready in {:.1}s.", start.elapsed().as_secs_f64());
                return Ok(());
            }
        }
        if start.elapsed().as_secs_f64() >= timeout_s {
            return Err(ClientError::NotReady { url, timeout_s });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first model id listed by `GET {base}/v1/models`.
pub async fn discover_model(http: &Http, base: &str) -> Result<String, ClientError> {
    let url = format!("{base}/v1/models");
    let no_model = |reason: String| ClientError::NoModel {
        url: url.clone(),
        reason,
    };
    let (status, body) = http
        .call(Method::Get, &url, None, Duration::from_secs(10))
        .await
        .map_err(&no_model)?;
    if status != 200 {
        return Err(no_model(format!("HTTP {status}")));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| no_model(e.to_string()))?;
    v.pointer("/data/0/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| no_model("no data[0].id in the answer".into()))
}

/// `GET {base}/server_info` as JSON, or `null` (as SGLang records it).
pub async fn server_info(http: &Http, base: &str) -> Value {
    let url = format!("{base}/server_info");
    match http
        .call(Method::Get, &url, None, Duration::from_secs(5))
        .await
    {
        Ok((200, body)) => serde_json::from_slice(&body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}
