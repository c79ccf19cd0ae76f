//! Staging a model variant: `model_conf/<model>/config_<mconf>.json`
//! presented as `config.json` in a folder of its own under the run folder,
//! with the model's tokenizer files linked beside it.
//!
//! Engines load "a model directory"; the variants of one model share
//! tokenizer files but differ in config. Staging gives each variant its own
//! directory without ever modifying `model_conf/`.

use camino::{Utf8Path, Utf8PathBuf};

/// Files linked from the model folder when present.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "generation_config.json",
];

/// Create `dir` holding `config.json` (a copy of `config`) and links to the
/// tokenizer files next to `config`. Idempotent: a second call (a resumed
/// run, another group of the same variant) leaves it as it is.
pub fn stage_model(config: &Utf8Path, dir: &Utf8Path) -> std::io::Result<Utf8PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join("config.json");
    if !target.exists() {
        let tmp = dir.join(".config.json.tmp");
        std::fs::copy(config, &tmp)?;
        std::fs::rename(&tmp, &target)?;
    }
    let src_dir = config.parent().unwrap_or(Utf8Path::new("."));
    for name in TOKENIZER_FILES {
        let src = src_dir.join(name);
        let link = dir.join(name);
        if src.is_file() && std::fs::symlink_metadata(&link).is_err() {
            let abs = src.canonicalize_utf8().unwrap_or(src);
            std::os::unix::fs::symlink(&abs, &link)?;
        }
    }
    Ok(dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_config_and_links_tokenizer() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).unwrap();
        let model = root.join("model_conf/m");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config_2l.json"), "{\"a\": 1}").unwrap();
        std::fs::write(model.join("tokenizer.json"), "{}").unwrap();
        let dir = root.join("run/models/m_2l");
        stage_model(&model.join("config_2l.json"), &dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).unwrap(),
            "{\"a\": 1}"
        );
        assert!(
            std::fs::symlink_metadata(dir.join("tokenizer.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!dir.join("tokenizer_config.json").exists());
        // Idempotent.
        stage_model(&model.join("config_2l.json"), &dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(model.join("config_2l.json")).unwrap(),
            "{\"a\": 1}"
        );
    }
}
