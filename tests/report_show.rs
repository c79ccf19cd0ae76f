//! `matrix show` on real run folders of the simulator: the run's table,
//! `--only` filters, one cell's row, commands and logs, and the errors for
//! a run, cell or axis that is not there.

mod support;

use std::time::Duration;

use support::run::{Out, RunProject, run_to_end};

fn show(p: &RunProject, args: &[&str]) -> Out {
    let mut all = vec!["show"];
    all.extend_from_slice(args);
    run_to_end(p.matrix(&all), Duration::from_secs(30))
}

/// The project's temp path as `[ROOT]`, so error snapshots are stable.
fn tidy(p: &RunProject, text: &str) -> String {
    text.replace(&p.path().display().to_string(), "[ROOT]")
}

fn serving_run(p: &RunProject) -> String {
    p.write(
        "matrices/srv.yaml",
        "axes:\n  model: qwen\n  mconf: 2l\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    output_len: 4\n    seq: 16\n    num_prompts: 8\n",
    );
    let out = p.run(&["--matrix", "matrices/srv.yaml"]);
    assert_eq!(out.code, 0, "{}", out.text());
    p.only_run()
}

#[test]
fn show_prints_the_table_of_a_serving_run_and_filters_it() {
    let p = RunProject::new();
    let id = serving_run(&p);
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 2);

    let out = show(&p, &["latest"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with(&format!("run {id}")), "{}", out.stdout);
    assert_eq!(lines[1], "serving: 2 cells", "{}", out.stdout);
    let header: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(header.first(), Some(&"request_rate"), "{}", out.stdout);
    for want in ["TTFT", "ITL", "E2E", "done", "status", "cell"] {
        assert!(header.contains(&want), "{want}: {}", out.stdout);
    }
    // One line per CSV row, naming its rate, completed requests and status.
    for r in &rows {
        let line = lines
            .iter()
            .find(|l| l.ends_with(&r["cell_id"]))
            .unwrap_or_else(|| panic!("no line for {}: {}", r["cell_id"], out.stdout));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], r["request_rate"], "{line}");
        assert!(words.contains(&"ok"), "{line}");
        assert!(words.contains(&"8/8"), "{line}");
        // The TTFT column is the CSV's median_ttft_ms, not blank.
        assert_ne!(words[1], "-", "{line}");
    }

    // By run id, and by run folder path, the same table.
    let by_id = show(&p, &[&id]);
    assert_eq!(by_id.stdout, out.stdout);
    let dir = p.run_dir(&id);
    let by_dir = show(&p, &[dir.to_str().unwrap()]);
    assert_eq!(by_dir.stdout, out.stdout);
    let results = p.results();
    let by_results = show(&p, &["--results", results.to_str().unwrap(), "latest"]);
    assert_eq!(by_results.stdout, out.stdout);

    // --only keeps the matching rows (8 matches 8.0 as a number).
    let only = show(&p, &["latest", "--only", "request_rate=8.0"]);
    assert_eq!(only.code, 0, "{}", only.text());
    assert!(only.stdout.contains("serving: 1 cell\n"), "{}", only.stdout);
    let eight = rows.iter().find(|r| r["request_rate"] == "8").unwrap();
    assert!(only.stdout.contains(&eight["cell_id"]), "{}", only.stdout);
    // The one row left still says which cell it is: the columns are the
    // plan's varying axes, not the axes that differ among the rows shown.
    let lines: Vec<&str> = only.stdout.lines().collect();
    assert_eq!(
        lines[2].split_whitespace().next(),
        Some("request_rate"),
        "{}",
        only.stdout
    );
    assert_eq!(
        lines[3].split_whitespace().next(),
        Some("8"),
        "{}",
        only.stdout
    );
}

#[test]
fn show_cell_prints_its_row_commands_and_logs() {
    let p = RunProject::new();
    let id = serving_run(&p);
    let row = p.rows(&id).into_iter().next().unwrap();
    let cell = &row["cell_id"];
    let out = show(&p, &["latest", &cell[..6]]);
    assert_eq!(out.code, 0, "{}", out.text());
    let text = &out.stdout;
    assert!(text.starts_with(&format!("cell {cell}")), "{text}");
    // The whole row, column: value.
    for (k, v) in &row {
        let v = if v.is_empty() { "-" } else { v.as_str() };
        let first = v.lines().next().unwrap_or("");
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(k.as_str()) && l.ends_with(first)),
            "{k}: {v}\n{text}"
        );
    }
    // Its group's launch and its own client, as recorded in commands.jsonl.
    let commands = support::run::read_jsonl(&p.run_dir(&id).join("commands.jsonl"));
    let client = commands
        .iter()
        .find(|c| c["cell"] == cell.as_str() && c["role"] == "client")
        .expect("the cell's client is in commands.jsonl");
    let group = client["group"].as_str().unwrap();
    assert!(text.contains("# launch"), "{text}");
    assert!(text.contains("# client"), "{text}");
    let other_cells: Vec<&str> = commands
        .iter()
        .filter(|c| c["role"] == "client" && c["cell"] != cell.as_str())
        .map(|c| c["cell"].as_str().unwrap())
        .collect();
    assert_eq!(other_cells.len(), 1);
    assert_eq!(
        text.matches("# client").count(),
        1,
        "only its own client: {text}"
    );
    let last_arg = client["argv"].as_array().unwrap().last().unwrap();
    assert!(text.contains(last_arg.as_str().unwrap()), "{text}");
    // Its logs, which exist.
    let server_log = p.run_dir(&id).join(group).join("server.log");
    assert!(
        text.contains(&format!("server log   {}\n", server_log.display())),
        "{text}"
    );
    let cell_log = p.run_dir(&id).join(group).join(format!("{cell}.log"));
    assert!(cell_log.exists());
    assert!(text.contains(&cell_log.display().to_string()), "{text}");
}

#[test]
fn show_latency_run_names_its_axes() {
    let p = RunProject::new();
    p.write(
        "matrices/lat.yaml",
        "axes:\n  model: qwen\n  mconf: 2l\n  mode: latency\n  deploy: tp8\n  bsz: [1, 2]\n  seq: [16]\n\
         set:\n  workload:\n    output_len: 4\n",
    );
    let out = p.run(&["--matrix", "matrices/lat.yaml"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let out = show(&p, &["latest", "--only", "seq=16", "--only", "bsz=1,2"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[1], "latency: 2 cells", "{}", out.stdout);
    let header: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&header[..3], ["bsz", "prefill", "ms"], "{}", out.stdout);
    for r in p.rows(&id) {
        let line = lines.iter().find(|l| l.ends_with(&r["cell_id"])).unwrap();
        assert_eq!(line.split_whitespace().next(), Some(r["bsz"].as_str()));
        let prefill_ms: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let csv_ms = r["prefill_latency_s"].parse::<f64>().unwrap() * 1000.0;
        // Three significant digits of the CSV's value.
        assert!(
            (prefill_ms - csv_ms).abs() <= csv_ms * 0.005,
            "{prefill_ms} vs {csv_ms}"
        );
    }
}

#[test]
fn show_errors_name_the_run_cell_and_axis() {
    let p = RunProject::new();
    let none = show(&p, &["latest"]);
    assert_eq!(none.code, 2, "{}", none.text());
    insta::assert_snapshot!("show_no_runs", tidy(&p, &none.stderr));

    let id = serving_run(&p);
    let typo = format!("{}x", &id[..id.len() - 1]);
    let out = show(&p, &[&typo]);
    assert_eq!(out.code, 2, "{}", out.text());
    let err = tidy(&p, &out.stderr)
        .replace(&id, "[RUN]")
        .replace(&typo, "[TYPO]");
    insta::assert_snapshot!("show_unknown_run", err);

    let out = show(&p, &["latest", "--only", "request_rat=4"]);
    assert_eq!(out.code, 2, "{}", out.text());
    insta::assert_snapshot!(
        "show_unknown_axis",
        tidy(&p, &out.stderr).replace(&id, "[RUN]")
    );

    let out = show(&p, &["latest", "--only", "request_rate=3"]);
    assert_eq!(out.code, 2, "{}", out.text());
    insta::assert_snapshot!(
        "show_unknown_value",
        tidy(&p, &out.stderr).replace(&id, "[RUN]")
    );

    let out = show(&p, &["latest", "--only", "request_rate"]);
    assert_eq!(out.code, 2, "{}", out.text());
    insta::assert_snapshot!("show_only_syntax", tidy(&p, &out.stderr));

    // Cell ids all start with `c`: a prefix that names several cells.
    let out = show(&p, &["latest", "c"]);
    assert_eq!(out.code, 2, "{}", out.text());
    let mut err = tidy(&p, &out.stderr).replace(&id, "[RUN]");
    for r in p.rows(&id) {
        err = err.replace(&r["cell_id"], "[CELL]");
    }
    insta::assert_snapshot!("show_ambiguous_cell", err);

    let out = show(&p, &["latest", "zzzz"]);
    assert_eq!(out.code, 2, "{}", out.text());
    insta::assert_snapshot!(
        "show_unknown_cell",
        tidy(&p, &out.stderr).replace(&id, "[RUN]")
    );
}

#[test]
fn show_a_run_without_or_with_a_broken_csv() {
    let p = RunProject::new();
    let id = "20261204-120000_qwen_2l";
    std::fs::create_dir_all(p.results().join("raw_output").join(id)).unwrap();
    let out = show(&p, &["latest"]);
    assert_eq!(out.code, 2, "{}", out.text());
    insta::assert_snapshot!("show_no_csv", tidy(&p, &out.stderr));

    p.write(
        &format!("results/csv/{id}.csv"),
        "run_id,cell_id,status\nr,c1,ok\nr,c2\n",
    );
    let out = show(&p, &[id]);
    assert_eq!(out.code, 2, "{}", out.text());
    insta::assert_snapshot!("show_broken_csv", tidy(&p, &out.stderr));
}
