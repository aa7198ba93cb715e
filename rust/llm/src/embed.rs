//! Sentence embeddings with a BERT-family encoder read from safetensors (all-MiniLM-L6-v2 and kin).
//!
//! The model follows Devlin et al. 2019 (BERT) as implemented by Hugging Face `BertModel`: word +
//! absolute position + token-type embeddings, LayerNorm, then `num_hidden_layers` post-norm encoder
//! layers (multi-head self-attention, residual, LayerNorm; GELU feed-forward in its erf form, residual,
//! LayerNorm). Sentence vectors are made as sentence-transformers does (Reimers & Gurevych 2019): mean
//! pooling of the last hidden states over the attention mask, then L2 normalisation, with inputs
//! stripped of surrounding whitespace and truncated to `max_seq_length` tokens (from
//! `sentence_bert_config.json`, else the model's position limit).
//!
//! Tokenisation is WordPiece through the `tokenizers` crate from the model's `tokenizer.json`, with the
//! file's own padding switched off and its truncation replaced by `max_seq_length`.
//!
//! The encoder itself is in [`bert`] (stacked batches, no padding: a text's vector does not depend on
//! the batch it came in, nor on the thread count).

pub mod bert;

pub use bert::{BertConfig, BertModel};

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Mean of the `rows` rows of `x` (width `n`) scaled to unit length (sentence-transformers'
/// Pooling(mean) + Normalize, whose divisor is max(|v|, 1e-12)).
fn mean_pool_normalize(x: &[f32], rows: usize, n: usize) -> Vec<f32> {
    let mut v = vec![0.0f64; n];
    for row in x.chunks_exact(n).take(rows) {
        for (acc, &y) in v.iter_mut().zip(row) {
            *acc += y as f64;
        }
    }
    let rows = rows.max(1) as f64;
    let norm = v
        .iter()
        .map(|a| (a / rows).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    v.iter().map(|a| (a / rows / norm) as f32).collect()
}

/// A sentence embedder: tokenizer + BERT encoder + mean pooling + L2 normalisation.
pub struct SentenceEmbedder {
    model: BertModel,
    tokenizer: tokenizers::Tokenizer,
    max_seq_length: usize,
    dir: PathBuf,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("dir", &self.dir)
            .field("config", &self.model.config)
            .field("max_seq_length", &self.max_seq_length)
            .finish()
    }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

impl SentenceEmbedder {
    /// Loads a sentence-transformers model folder (or its `model.safetensors`): `config.json`,
    /// `model.safetensors`, `tokenizer.json`, and `sentence_bert_config.json` when present.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let dir = if path.is_file() {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            path.to_path_buf()
        };
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder"),
            });
        }
        let config_path = dir.join("config.json");
        let config = BertConfig::from_json(
            &read_text(&config_path)?,
            &config_path.display().to_string(),
        )?;
        let weights = dir.join("model.safetensors");
        let wname = weights.display().to_string();
        let file = std::fs::File::open(&weights).map_err(|source| Error::Io {
            path: wname.clone(),
            source,
        })?;
        // SAFETY: the map is read-only and only lives during the conversion below; a file changed on
        // disk meanwhile could give wrong numbers but not unsound memory access beyond the mapping.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io {
            path: wname.clone(),
            source,
        })?;
        let model = BertModel::from_safetensors(&map, config, &wname)?;
        drop(map);
        let st_config = dir.join("sentence_bert_config.json");
        let limit = model.config.max_position_embeddings;
        let max_seq_length = if st_config.is_file() {
            let text = read_text(&st_config)?;
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Format {
                path: st_config.display().to_string(),
                reason: format!("not JSON ({e})"),
            })?;
            v.get("max_seq_length")
                .and_then(serde_json::Value::as_u64)
                .map_or(limit, |n| (n as usize).clamp(2, limit))
        } else {
            limit
        };
        let tokenizer = Self::tokenizer(&dir.join("tokenizer.json"), max_seq_length)?;
        Ok(Self {
            model,
            tokenizer,
            max_seq_length,
            dir,
        })
    }

    fn tokenizer(path: &Path, max_length: usize) -> Result<tokenizers::Tokenizer> {
        let name = path.display().to_string();
        let bad = |reason: String| Error::Format {
            path: name.clone(),
            reason,
        };
        if !path.is_file() {
            return Err(Error::Io {
                path: name.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no tokenizer.json"),
            });
        }
        let mut tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| bad(format!("not a tokenizer.json ({e})")))?;
        tok.with_padding(None);
        tok.with_truncation(Some(tokenizers::TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| bad(format!("truncation: {e}")))?;
        Ok(tok)
    }

    /// The encoder's hyper-parameters.
    pub fn config(&self) -> &BertConfig {
        &self.model.config
    }

    /// Width of the sentence vectors.
    pub fn dim(&self) -> usize {
        self.model.config.hidden_size
    }

    /// Most tokens per input (specials included); longer inputs are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// WordPiece ids of `text` as the model sees it: whitespace-stripped, `[CLS] ... [SEP]`, truncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text.trim(), true)
            .map_err(|e| Error::InvalidArgument {
                name: "text",
                reason: format!("tokenizer failed: {e}"),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// The unit-length sentence vector of each text, flat (texts.len() x dim, row-major), computed in
    /// stacked batches on the current rayon pool; a text's vector does not depend on its batch.
    pub fn embed<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<f32>> {
        let dim = self.dim();
        let ids: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.tokenize(t.as_ref()))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(texts.len() * dim);
        let mut batch: Vec<&[u32]> = Vec::new();
        let mut tokens = 0;
        for (n, seq) in ids.iter().enumerate() {
            batch.push(seq);
            tokens += seq.len();
            // Batches of about BATCH_TOKENS rows bound the memory of the stacked activations.
            if tokens >= BATCH_TOKENS || n + 1 == ids.len() {
                let hidden = self.model.forward_batch(&batch)?;
                let mut start = 0;
                for seq in &batch {
                    let rows = &hidden[start * dim..(start + seq.len()) * dim];
                    out.extend(mean_pool_normalize(rows, seq.len(), dim));
                    start += seq.len();
                }
                batch.clear();
                tokens = 0;
            }
        }
        Ok(out)
    }
}

/// Tokens per stacked batch in [`SentenceEmbedder::embed`].
const BATCH_TOKENS: usize = 2048;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_rows_and_normalises() {
        let x = [1.0, 0.0, 3.0, 4.0, 9.0, 9.0];
        // Only the first two rows count: mean (2, 2) -> (1/sqrt 2, 1/sqrt 2).
        let v = mean_pool_normalize(&x, 2, 2);
        assert!((v[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        assert!((v[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        assert_eq!(mean_pool_normalize(&[0.0, 0.0], 1, 2), vec![0.0, 0.0]);
    }
}
