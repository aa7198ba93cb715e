//! What a forward pass computes on the way to its logits, recorded on request: the residual stream
//! (hidden states) after chosen layers and the attention probabilities of chosen layers, for chosen
//! positions of the pass. Nothing is recorded, and nothing costs, unless a [`Probe`] asks for it
//! ([`crate::Model::forward_probed`]).

use crate::config::Config;
use crate::error::{Error, Result};

/// What to record in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Residual-stream indices to record: 0 is the token embeddings (the input of layer 0), `l` the
    /// output of layer `l - 1`, and `n_layer` the last layer's output before the final norm (the
    /// numbering of Hugging Face's `hidden_states`).
    pub hidden_layers: Vec<usize>,
    /// Layers (0-based) whose attention probabilities to record.
    pub attention_layers: Vec<usize>,
    /// Which of the pass's new tokens (0-based within the pass) to record; None records them all.
    pub rows: Option<Vec<usize>>,
}

/// What a [`Probe`] recorded. Rows follow [`Internals::rows`]; layers are in increasing order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Internals {
    /// The recorded rows, as indices of the pass's new tokens (sorted, no repeats).
    pub rows: Vec<usize>,
    /// The absolute position of each recorded row (the positions already in the cache plus its index).
    pub positions: Vec<usize>,
    /// Positions every attention row spans: the cache's length after the pass.
    pub context: usize,
    /// Heads per attention row.
    pub n_head: usize,
    /// `(index, rows x n_embd)` per recorded residual-stream index.
    pub hidden: Vec<(usize, Vec<f32>)>,
    /// `(layer, rows x n_head x context)` per recorded layer: row `r`, head `h` holds the
    /// probabilities its query gave every position, 0 where it cannot look (later positions, and
    /// those outside a sliding window).
    pub attention: Vec<(usize, Vec<f32>)>,
    /// `(layer, window)` per recorded layer: how many positions up to its own a query of that layer
    /// sees (a sliding window), 0 for all of them.
    pub windows: Vec<(usize, usize)>,
}

/// A probe checked against a model and a pass, with its buffers allocated: what the CPU forward pass
/// fills in.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) out: Internals,
    n_embd: usize,
}

impl Recorder {
    /// Checks `probe` for a pass of `n_new` tokens after `start` cached positions of a model of
    /// `config`, and reserves what it will record (fallibly: a probe of a long pass over many
    /// layers can ask for more memory than there is).
    pub(crate) fn new(probe: &Probe, config: &Config, start: usize, n_new: usize) -> Result<Self> {
        let bad = |name: &'static str, reason: String| Error::InvalidArgument { name, reason };
        let hidden_layers = sorted_unique(&probe.hidden_layers);
        if let Some(&l) = hidden_layers.iter().find(|&&l| l > config.n_layer) {
            return Err(bad(
                "hidden_layers",
                format!(
                    "index {l} is past the last one ({}: the last layer's output)",
                    config.n_layer
                ),
            ));
        }
        let attention_layers = sorted_unique(&probe.attention_layers);
        if let Some(&l) = attention_layers.iter().find(|&&l| l >= config.n_layer) {
            return Err(bad(
                "attention_layers",
                format!("layer {l} does not exist: the model has {}", config.n_layer),
            ));
        }
        let rows = match &probe.rows {
            None => (0..n_new).collect(),
            Some(r) => sorted_unique(r),
        };
        if let Some(&r) = rows.iter().find(|&&r| r >= n_new) {
            return Err(bad(
                "positions",
                format!("row {r} is not among the pass's {n_new} new tokens"),
            ));
        }
        let context = start + n_new;
        let n_head = config.n_head;
        let hidden_len = rows.len() * config.n_embd;
        let attention_len = rows
            .len()
            .checked_mul(n_head)
            .and_then(|v| v.checked_mul(context));
        let alloc = |len: Option<usize>, what: &str| {
            let oom = || Error::OutOfMemory {
                what: format!("{what} of {} rows", rows.len()),
                bytes: len.map_or(u128::MAX, |l| l as u128 * 4),
            };
            bytemuck::allocation::try_zeroed_vec::<f32>(len.ok_or_else(oom)?).map_err(|_| oom())
        };
        let mut hidden = Vec::with_capacity(hidden_layers.len());
        for &l in &hidden_layers {
            hidden.push((l, alloc(Some(hidden_len), "hidden states")?));
        }
        let mut attention = Vec::with_capacity(attention_layers.len());
        for &l in &attention_layers {
            attention.push((l, alloc(attention_len, "attention probabilities")?));
        }
        let windows = attention_layers
            .iter()
            .map(|&l| {
                (
                    l,
                    if config.is_local(l) {
                        config.sliding_window
                    } else {
                        0
                    },
                )
            })
            .collect();
        Ok(Self {
            out: Internals {
                windows,
                positions: rows.iter().map(|r| start + r).collect(),
                rows,
                context,
                n_head,
                hidden,
                attention,
            },
            n_embd: config.n_embd,
        })
    }

    /// Copies the recorded rows of the residual stream `x` (new tokens x n_embd) at `index`, when it
    /// is one of the probe's.
    pub(crate) fn hidden_at(&mut self, index: usize, x: &[f32]) {
        let d = self.n_embd;
        if let Some((_, buf)) = self.out.hidden.iter_mut().find(|(l, _)| *l == index) {
            for (dst, &r) in buf.chunks_exact_mut(d).zip(&self.out.rows) {
                dst.copy_from_slice(&x[r * d..(r + 1) * d]);
            }
        }
    }

    /// The buffer for `layer`'s attention probabilities and the rows to fill, when the probe asks
    /// for that layer.
    pub(crate) fn attention_slot(&mut self, layer: usize) -> Option<(&[usize], &mut [f32])> {
        let rows = &self.out.rows;
        self.out
            .attention
            .iter_mut()
            .find(|(l, _)| *l == layer)
            .map(|(_, buf)| (rows.as_slice(), buf.as_mut_slice()))
    }
}

fn sorted_unique(v: &[usize]) -> Vec<usize> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}
