//! `bsz_seq.csv`: one `bszs;seqs` product per line, e.g. `1,2,4;128,256`.
//! `#` starts a comment; blank lines are skipped.

use camino::Utf8Path;

use super::MatrixError;

/// One line of the file: every batch size with every sequence length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BszSeqLine {
    /// 1-based line number in the file (the group label in latency mode).
    pub line: usize,
    pub bszs: Vec<u64>,
    pub seqs: Vec<u64>,
}

/// Read and parse a bsz_seq file; `display` is the path shown in errors.
pub fn read(path: &Utf8Path, display: &str) -> Result<Vec<BszSeqLine>, MatrixError> {
    let text = std::fs::read_to_string(path).map_err(|source| MatrixError::Read {
        file: display.to_string(),
        source,
    })?;
    parse(&text, display)
}

/// Parse the text of a bsz_seq file.
pub fn parse(text: &str, display: &str) -> Result<Vec<BszSeqLine>, MatrixError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let bad = |reason: String| MatrixError::BszSeq {
            file: display.to_string(),
            line,
            text: raw.trim().to_string(),
            reason,
        };
        let (b, s) = content
            .split_once(';')
            .ok_or_else(|| bad("expected `bszs;seqs`, e.g. `1,2,4;128,256`".into()))?;
        if s.contains(';') {
            return Err(bad("more than one `;`".into()));
        }
        out.push(BszSeqLine {
            line,
            bszs: numbers(b).map_err(|e| bad(format!("batch sizes: {e}")))?,
            seqs: numbers(s).map_err(|e| bad(format!("sequence lengths: {e}")))?,
        });
    }
    if out.is_empty() {
        return Err(MatrixError::BszSeq {
            file: display.to_string(),
            line: 0,
            text: String::new(),
            reason: "the file has no `bszs;seqs` line".into(),
        });
    }
    Ok(out)
}

fn numbers(list: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        let n: u64 = item
            .parse()
            .map_err(|_| format!("`{item}` is not a positive integer"))?;
        if n == 0 {
            return Err("0 is not a valid size".into());
        }
        if out.contains(&n) {
            return Err(format!("{n} is listed twice"));
        }
        out.push(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_products_comments_and_blanks() {
        let t = "# sweep\n1,2,4;128,256,512\n\n 8 ; 1024 # long\n";
        let l = parse(t, "f.csv").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0],
            BszSeqLine {
                line: 2,
                bszs: vec![1, 2, 4],
                seqs: vec![128, 256, 512]
            }
        );
        assert_eq!(
            l[1],
            BszSeqLine {
                line: 4,
                bszs: vec![8],
                seqs: vec![1024]
            }
        );
    }

    #[test]
    fn rejects_malformed_lines_with_line_number() {
        for bad in ["1,2;", "1,2", "a;128", "1;128;3", "0;128", "1,1;128"] {
            let e = parse(&format!("# c\n{bad}\n"), "f.csv").unwrap_err();
            let MatrixError::BszSeq { line, .. } = e else {
                panic!()
            };
            assert_eq!(line, 2, "{bad}");
        }
        assert!(parse("# nothing\n", "f.csv").is_err());
    }
}
