//! `matrix plot`: the real binary over real simulator runs (latency sweep,
//! serving sweep over request rates, a two-deploy sweep for pareto, a
//! history of runs with a planted slowdown for trend). The SVG files are
//! read back for their content: the title, the axis labels, the legend,
//! the command in `<desc>` / `<metadata>`, and per series the number of
//! markers drawn in its colour, never byte for byte.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::run::{Out, RunProject, run_to_end};

/// One SVG file read back.
struct Svg {
    text: String,
    meta: Value,
}

impl Svg {
    fn read(path: &Path) -> Svg {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.starts_with("<svg"), "{}: not an SVG", path.display());
        let a = text.find("<metadata>").expect("a <metadata> element") + "<metadata>".len();
        let b = text.find("</metadata>").expect("</metadata>");
        let meta: Value = serde_json::from_str(&unescape(&text[a..b])).expect("metadata is JSON");
        Svg { text, meta }
    }

    /// The texts drawn (`<text>` elements).
    fn texts(&self) -> Vec<String> {
        let lines: Vec<&str> = self.text.lines().collect();
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("<text"))
            .map(|(i, _)| unescape(lines[i + 1]))
            .collect()
    }

    fn has_text(&self, t: &str) -> bool {
        self.texts().iter().any(|x| x == t)
    }

    /// Elements `<tag ...>` filled with `color` at full opacity.
    fn filled(&self, tag: &str, color: &str) -> usize {
        let open = format!("<{tag} ");
        let fill = format!("fill=\"{color}\"");
        self.text
            .lines()
            .filter(|l| l.starts_with(&open) && l.contains(&fill) && l.contains("opacity=\"1\""))
            .count()
    }

    /// Translucent polygons in `color` (bands).
    fn bands(&self, color: &str) -> usize {
        let fill = format!("fill=\"{color}\"");
        self.text
            .lines()
            .filter(|l| {
                l.starts_with("<polygon ") && l.contains(&fill) && !l.contains("opacity=\"1\"")
            })
            .count()
    }

    fn series(&self) -> Vec<Value> {
        self.meta["series"].as_array().expect("series").clone()
    }

    fn desc(&self) -> String {
        let a = self.text.find("<desc>").expect("<desc>") + "<desc>".len();
        let b = self.text.find("</desc>").expect("</desc>");
        unescape(&self.text[a..b])
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every series of a chart has as many markers of its colour as its
/// metadata says points, and its name in the legend.
fn assert_series_drawn(svg: &Svg) {
    for s in svg.series() {
        let color = s["color"].as_str().unwrap();
        let n = s["points"].as_u64().unwrap() as usize;
        assert_eq!(s["values"].as_array().unwrap().len(), n);
        let tag = if s["marker"] == "triangle" {
            "polygon"
        } else {
            "circle"
        };
        assert_eq!(svg.filled(tag, color), n, "markers of {s}");
        assert!(svg.has_text(s["name"].as_str().unwrap()), "legend has {s}");
    }
}

fn plot(p: &RunProject, args: &[&str]) -> Out {
    let mut all = vec!["plot"];
    all.extend_from_slice(args);
    run_to_end(p.matrix(&all), std::time::Duration::from_secs(60))
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn latency_project() -> (RunProject, String) {
    let mut p = RunProject::new();
    p.sim_scale = 0.01;
    p.write("bs.csv", "1,2,4,8;128,256\n");
    let out = p.run(&[
        "-q",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8",
        "--bsz-seq",
        "bs.csv",
        "--set",
        "workload.output_len=8",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    (p, id)
}

#[test]
fn latency_sweep_draws_a_line_per_input_length_as_svg_and_png() {
    let (p, id) = latency_project();
    let dir = p.path().join("plots");
    let out = plot(
        &p,
        &[
            "latest",
            "--kind",
            "latency",
            "-o",
            dir.to_str().unwrap(),
            "--format",
            "both",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.text());
    let metrics = [
        "e2e_latency_s",
        "e2e_throughput",
        "median_decode_latency_s",
        "median_decode_throughput",
        "prefill_latency_s",
        "prefill_throughput",
    ];
    let mut want: Vec<String> = metrics
        .iter()
        .flat_map(|m| [format!("latency-{m}.png"), format!("latency-{m}.svg")])
        .collect();
    want.sort();
    assert_eq!(files(&dir), want);

    let svg = Svg::read(&dir.join("latency-e2e_latency_s.svg"));
    let title = format!("End-to-end latency vs batch size ({id})");
    assert_eq!(svg.meta["title"], title.as_str());
    assert!(svg.has_text(&title), "title drawn");
    assert!(svg.text.contains(&format!("<title>{title}</title>")));
    assert!(svg.has_text("batch size (requests)"), "x label");
    assert!(svg.has_text("E2E latency (s)"), "y label with unit");
    let series = svg.series();
    let names: Vec<&str> = series.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["input_len=128", "input_len=256"]);
    for s in &series {
        assert_eq!(s["points"], 4, "bsz 1, 2, 4, 8: {s}");
        let xs: Vec<f64> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[0].as_f64().unwrap())
            .collect();
        assert_eq!(xs, [1.0, 2.0, 4.0, 8.0]);
    }
    assert_series_drawn(&svg);
    // The command that made it: in <desc>, <metadata> and the caption.
    let cmd = svg.meta["command"].as_str().unwrap().to_string();
    assert!(cmd.starts_with("matrix --root "), "{cmd}");
    assert!(cmd.contains(" plot latest --kind latency -o "), "{cmd}");
    assert_eq!(svg.desc(), format!("made by: {cmd}"));
    assert!(
        svg.texts()
            .iter()
            .any(|t| t.starts_with("made by: matrix --root")),
        "caption line"
    );

    // The PNG decodes, at the default size.
    let file = std::fs::File::open(dir.join("latency-e2e_latency_s.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (960, 600));
    assert!(
        buf.iter().any(|b| *b < 128),
        "something dark drawn on the white"
    );
    let texts: Vec<(String, String)> = reader
        .info()
        .utf8_text
        .iter()
        .map(|t| (t.keyword.clone(), t.get_text().unwrap()))
        .collect();
    assert!(
        texts.contains(&("Title".into(), title.clone())),
        "{texts:?}"
    );
    assert!(
        texts.contains(&("Description".into(), format!("made by: {cmd}"))),
        "{texts:?}"
    );

    // Deterministic: the same command gives the same bytes.
    let before = std::fs::read(dir.join("latency-e2e_latency_s.svg")).unwrap();
    let out = plot(
        &p,
        &[
            "latest",
            "--kind",
            "latency",
            "-o",
            dir.to_str().unwrap(),
            "--format",
            "both",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        std::fs::read(dir.join("latency-e2e_latency_s.svg")).unwrap(),
        before
    );

    // The same from the run's CSV, without any database.
    let csv = p.csv_path(&id);
    let dir2 = p.path().join("plots2");
    let out = plot(
        &p,
        &[
            "--db",
            "/nonexistent/matrix.db",
            csv.to_str().unwrap(),
            "--kind",
            "latency",
            "--metric",
            "e2e_latency_s",
            "--only",
            "input_len=256",
            "-o",
            dir2.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(files(&dir2), ["latency-e2e_latency_s.svg"]);
    let svg2 = Svg::read(&dir2.join("latency-e2e_latency_s.svg"));
    assert_eq!(svg2.series().len(), 1);
    assert_eq!(
        svg2.series()[0]["values"],
        series[1]["values"],
        "same numbers from the CSV"
    );
    assert_series_drawn(&svg2);
}

#[test]
fn bad_input_exits_2_with_a_hint() {
    let (p, _id) = latency_project();
    let dir = p.path().join("plots");
    let d = dir.to_str().unwrap();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["latest", "--kind", "histogram", "-o", d],
            "histogram",
            "latency, serving, pareto, trend",
        ),
        (
            &[
                "latest",
                "--kind",
                "latency",
                "--metric",
                "median_ttft_ms",
                "-o",
                d,
            ],
            "--metric `median_ttft_ms`",
            "hint: metrics of this kind here: prefill_latency_s",
        ),
        (
            &["latest", "--kind", "latency", "--only", "bsz=999", "-o", d],
            "--only bsz=999: no cell of these runs is left",
            "hint: values present: bsz=1,2,4,8",
        ),
        (
            &[
                "latest",
                "--kind",
                "latency",
                "--only",
                "colour=red",
                "-o",
                d,
            ],
            "--only `colour`",
            "hint: columns: ",
        ),
        (
            &["latest", "--kind", "serving", "-o", d],
            "nothing to draw for --kind serving: no ok cell has a serving-mode metric",
            "hint: serving charts need mode: serving cells",
        ),
    ];
    for (args, error, hint) in cases {
        let out = plot(&p, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.text());
        assert!(out.stderr.contains(error), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(hint), "{args:?}: {}", out.stderr);
    }
    assert!(!dir.exists(), "no file written on bad input");
}

fn write_serving_matrix(p: &RunProject, deploy: &str) -> PathBuf {
    p.write(
        "matrices/srv.yaml",
        &format!(
            "axes:\n  model: qwen\n  mode: serving\n  deploy: {deploy}\n  request_rate: [2, 4, 8]\n\
             set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 12\n"
        ),
    )
}

#[test]
fn serving_sweep_draws_median_and_p99_against_request_rate() {
    let p = RunProject::new();
    write_serving_matrix(&p, "tp8");
    let out = p.run(&["-q", "--matrix", "matrices/srv.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let dir = p.path().join("plots");
    let out = plot(
        &p,
        &["latest", "--kind", "serving", "-o", dir.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        files(&dir),
        [
            "serving-e2e.svg",
            "serving-itl.svg",
            "serving-output_throughput.svg",
            "serving-ttft.svg"
        ]
    );
    let svg = Svg::read(&dir.join("serving-ttft.svg"));
    assert!(svg.has_text("request rate (requests/s)"));
    assert!(svg.has_text("TTFT (ms)"));
    let series = svg.series();
    assert_eq!(series.len(), 2, "{series:?}");
    assert_eq!(series[0]["marker"], "circle");
    assert_eq!(series[1]["marker"], "triangle");
    assert!(series[0]["name"].as_str().unwrap().starts_with("median"));
    assert!(series[1]["name"].as_str().unwrap().starts_with("p99"));
    for s in &series {
        assert_eq!(s["points"], 3, "request rates 2, 4, 8: {s}");
    }
    // p99 at or above the median at every rate.
    let (median, p99) = (
        series[0]["values"].as_array().unwrap(),
        series[1]["values"].as_array().unwrap(),
    );
    for (m, p) in median.iter().zip(p99) {
        assert_eq!(m[0], p[0], "same rates");
        assert!(
            p[1].as_f64().unwrap() >= m[1].as_f64().unwrap(),
            "{p} vs {m}"
        );
    }
    assert_series_drawn(&svg);
    let tput = Svg::read(&dir.join("serving-output_throughput.svg"));
    assert_eq!(tput.series().len(), 1);
    assert_eq!(tput.series()[0]["points"], 3);
    assert!(tput.has_text("output throughput (tokens/s)"));
    assert_series_drawn(&tput);
}

#[test]
fn two_deploys_give_two_pareto_series_per_gpu_and_a_frontier() {
    let p = RunProject::new();
    write_serving_matrix(&p, "[tp8, tp1]");
    let out = p.run(&["-q", "--matrix", "matrices/srv.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    let dir = p.path().join("plots");
    let out = plot(&p, &[&id, "--kind", "pareto", "-o", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(files(&dir), ["pareto.svg"]);
    let svg = Svg::read(&dir.join("pareto.svg"));
    assert!(svg.has_text("interactivity (output tokens/s per user)"));
    assert!(svg.has_text("output throughput per GPU (tokens/s/GPU)"));
    assert!(svg.has_text("Pareto frontier"), "legend names the frontier");
    let series = svg.series();
    let names: Vec<&str> = series.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["deploy=tp1", "deploy=tp8"]);
    for s in &series {
        assert_eq!(s["points"], 3, "{s}");
        let deploy = s["name"].as_str().unwrap().trim_start_matches("deploy=");
        // y = output_throughput / (tp × dp) of the row.
        let mut want: Vec<f64> = rows
            .iter()
            .filter(|r| r["deploy"] == deploy)
            .map(|r| {
                let tp: f64 = r["tp"].parse().unwrap();
                let dp: f64 = r["dp"].parse().unwrap_or(1.0);
                r["output_throughput"].parse::<f64>().unwrap() / (tp * dp)
            })
            .collect();
        want.sort_by(f64::total_cmp);
        let mut got: Vec<f64> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[1].as_f64().unwrap())
            .collect();
        got.sort_by(f64::total_cmp);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{deploy}: {got:?} vs {want:?}"
            );
        }
    }
    let frontier = svg.meta["frontier"].as_array().unwrap();
    assert!(!frontier.is_empty() && frontier.len() <= 6);
    // Every frontier point is a drawn point no other point beats on both axes.
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|v| (v[0].as_f64().unwrap(), v[1].as_f64().unwrap()))
        .collect();
    for f in frontier {
        let f = (f[0].as_f64().unwrap(), f[1].as_f64().unwrap());
        assert!(all.contains(&f));
        assert!(
            !all.iter().any(|q| q.0 >= f.0 && q.1 >= f.1 && *q != f),
            "{f:?} dominated"
        );
    }
    assert_series_drawn(&svg);
}

#[test]
fn trend_over_runs_with_a_planted_slowdown_marks_the_open_regression() {
    let mut p = RunProject::new();
    p.sim_scale = 0.0001;
    p.write("bs.csv", "8;128\n");
    let mut ids = Vec::new();
    for i in 1..=8u32 {
        let seed = format!("sim_noise_seed={i}");
        let name = format!("h{i:02}");
        let mut args = vec![
            "-q",
            "--run-name",
            &name,
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8",
            "--bsz-seq",
            "bs.csv",
            "--set",
            "workload.output_len=16",
            "--set",
            "workload.repeats=3",
            "--set",
            "sim_noise_cv=0.02",
            "--set",
            &seed,
        ];
        if i >= 5 {
            args.extend(["--set", "sim_slowdown=1.10"]);
        }
        let before = p.run_ids();
        let out = p.run(&args);
        assert_eq!(out.code, 0, "{}", out.text());
        ids.push(
            p.run_ids()
                .into_iter()
                .find(|r| !before.contains(r))
                .expect("a new run"),
        );
    }
    let dir = p.path().join("plots");
    let out = plot(
        &p,
        &[
            "latest",
            "--kind",
            "trend",
            "--metric",
            "e2e_latency_s",
            "-o",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(files(&dir), ["trend-e2e_latency_s.svg"]);
    let svg = Svg::read(&dir.join("trend-e2e_latency_s.svg"));
    assert!(svg.has_text("e2e_latency_s (s)"));
    // Start times as ticks, or the runs' order when times do not tell
    // them apart (these runs start within the same second).
    let x = svg.meta["x"].as_str().unwrap();
    assert!(
        x == "run (start time, UTC)" || x == "run (in start order)",
        "{x}"
    );
    assert!(svg.has_text(x));
    let series = svg.series();
    assert_eq!(series.len(), 1, "one cell: {series:?}");
    assert_eq!(series[0]["points"], 8, "one point per run");
    assert_series_drawn(&svg);
    let color = series[0]["color"].as_str().unwrap();
    assert_eq!(svg.bands(color), 1, "the repeats' spread as a band");
    assert_eq!(svg.meta["x_ticks"].as_array().unwrap().len(), 8);
    let marks = svg.meta["marks"].as_array().unwrap();
    assert_eq!(marks.len(), 1, "one open regression: {marks:?}");
    let label = marks[0]["label"].as_str().unwrap();
    assert!(
        ids[3..6].iter().any(|id| label.ends_with(id.as_str())),
        "the step at run 5 (±1): {label}"
    );
    assert!(svg.has_text("open regression"), "legend names the marks");
}
