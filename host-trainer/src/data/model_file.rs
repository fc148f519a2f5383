//! Model files (`.eam`) on disk: read and validated with one-sentence
//! errors that name the file, written atomically, and described in JSON
//! for `edgeae pack`.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use firmware::Model;
use model_format::build::ModelBuf;

/// Reads and validates a model file; the error is one sentence naming the
/// file and the problem.
pub fn read_model_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = super::files::read(path)?;
    if bytes.is_empty() {
        return Err(anyhow!(
            "model `{}` is empty: expected an edgeae model file (.eam)",
            path.display()
        ));
    }
    if let Err(e) = Model::load(&bytes) {
        let head = bytes.get(..bytes.len().min(64)).unwrap_or_default();
        let looks_like_text = head
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
        let hint = match e {
            model_format::FormatError::BadMagic { .. } if looks_like_text => {
                " (it looks like a text file)"
            }
            _ => "",
        };
        return Err(anyhow!("model `{}`: {e}{hint}", path.display()));
    }
    Ok(bytes)
}

/// Parses bytes that [`read_model_bytes`] returned.
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Model<'a>> {
    Model::load(bytes).map_err(|e| anyhow!("model `{}`: {e}", path.display()))
}

/// Encodes `model` and writes it to `path` atomically; returns the bytes written.
pub fn write_model(path: &Path, model: &ModelBuf) -> Result<usize> {
    let bytes = model.encode().context("the model is not valid")?;
    super::files::write_atomic(path, &bytes)?;
    Ok(bytes.len())
}

/// Reads a JSON model description (`edgeae pack`); errors name the file,
/// line and column.
pub fn read_model_json(path: &Path) -> Result<ModelBuf> {
    let text = super::files::read(path)?;
    serde_json::from_slice(&text)
        .with_context(|| format!("`{}` is not a valid model description", path.display()))
}
