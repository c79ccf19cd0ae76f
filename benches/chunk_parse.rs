//! Probe (a program, not a test: it prints a number and asserts nothing):
//! the CPU cost of SSE splitting plus parsing per `/generate` chunk of a
//! 256-token stream, SGLang's chunk shape, for tuning `src/client/`
//! (docs/PERFORMANCE.md, "CPU per streamed token").
//!
//! `cargo bench --bench chunk_parse`

use matrix::client::args::Api;
use matrix::client::chunk::parse_in_stream;
use matrix::client::meta::Template;
use matrix::client::sse::{Event, LineBuf};

fn main() {
    let mut stream = Vec::new();
    for k in 1..=256u64 {
        let text = serde_json::json!("tok ".repeat(k as usize));
        let ids = serde_json::json!((1000..1000 + k).collect::<Vec<_>>());
        let meta = format!(
            r#"{{"id":"r7","finish_reason":null,"prompt_tokens":32,"completion_tokens":{k},"cached_tokens":0}}"#
        );
        let line =
            format!("data: {{\"text\":{text},\"output_ids\":{ids},\"meta_info\":{meta}}}\n\n");
        stream.extend_from_slice(line.as_bytes());
    }
    let rounds = 2000;
    let start = std::time::Instant::now();
    let mut tokens = 0u64;
    for _ in 0..rounds {
        let mut lines = LineBuf::default();
        let mut meta = Template::default();
        for read in stream.chunks(24 * 1024) {
            let on_event = |ev: Event<'_>| {
                if let Event::Data(j) = ev {
                    let info = parse_in_stream(Api::Generate, j, &mut meta).expect("chunk parses");
                    tokens += info.completion_tokens.expect("completion_tokens") as u64;
                }
                Ok::<_, ()>(())
            };
            lines.feed(read, on_event).expect("stream splits");
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / (rounds * 256) as f64;
    println!("{ns:.1} ns per chunk ({tokens} tokens)");
}
