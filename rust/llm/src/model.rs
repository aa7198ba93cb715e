//! A loaded model and its KV cache, each either on the host or on a device. [`Model`] dispatches every
//! pass to the CPU forward pass ([`crate::cpu`]) or to its GPU twin ([`crate::gpu`]); a cache is made
//! by its model only ([`Model::new_cache`]), so it lives where the weights live and fits their shape,
//! and a cache of another model is refused.

use crate::config::Config;
use crate::cpu::{HostKv, Segment};
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::gpu::{DeviceKv, DeviceWeights};
use crate::internals::{Internals, Probe, Recorder};
use crate::weights::Weights;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thermoconsensus_gpu::Executor;
use thermoconsensus_runtime::{Compute, Work};

/// Where a model's weights live: the mapped file only, or uploaded to a device as well.
#[derive(Debug)]
enum Placement {
    Host,
    Device(DeviceWeights),
}

/// A loaded model: the mapped file, its configuration and the layout of its tensors, placed on the
/// host or on a device.
#[derive(Debug)]
pub struct Model {
    weights: Weights,
    placement: Placement,
    /// Tells this model's caches from another's.
    id: u64,
}

/// Where a cache's keys and values live: with the weights of its model.
#[derive(Debug)]
enum KvStore {
    Host(HostKv),
    Device(DeviceKv),
}

/// Keys and values of the positions processed so far, per layer, on the device of the model that
/// made it ([`Model::new_cache`]).
#[derive(Debug)]
pub struct KvCache {
    store: KvStore,
    len: usize,
    capacity: usize,
    model: u64,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been processed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position from `len` on (to reuse a shared prefix).
    pub fn truncate(&mut self, len: usize) {
        let keep = len.min(self.len);
        match &mut self.store {
            KvStore::Host(kv) => kv.truncate(keep),
            // Device keys and values past `keep` are overwritten by the next pass.
            KvStore::Device(_) => {}
        }
        self.len = keep;
    }
}

fn next_model_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Model {
    /// Maps the GGUF file at `path` and checks that every tensor the architecture needs is there with
    /// a consistent shape. The model runs on the CPU until placed ([`Model::place`]).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Format`] when it is not a model this
    /// engine runs.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            weights: Weights::load(path)?,
            placement: Placement::Host,
            id: next_model_id(),
        })
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.weights.config
    }

    /// Moves the weights to the device of `exec` (the model then runs there; see [`crate::gpu`]).
    ///
    /// # Errors
    /// [`Error::Runtime`] when a weight type has no GPU kernel or the device fails.
    pub fn to_device(mut self, exec: Arc<Executor>) -> Result<Self> {
        if self.weights.rope_freqs.is_some() {
            return Err(thermoconsensus_runtime::Error::Unsupported(
                "rope_freqs (Llama 3 RoPE scaling) has no GPU kernel yet; use device=\"cpu\""
                    .into(),
            )
            .into());
        }
        self.placement = Placement::Device(DeviceWeights::upload(&self.weights, exec)?);
        // Caches made before the move live on the host: they no longer fit.
        self.id = next_model_id();
        Ok(self)
    }

    /// The model placed on `compute`: unchanged for the CPU, its weights uploaded for a device.
    ///
    /// # Errors
    /// As [`Model::to_device`].
    pub fn place(self, compute: &Compute) -> Result<Self> {
        match compute {
            Compute::Cpu => Ok(self),
            Compute::Device(exec) => self.to_device(Arc::clone(exec)),
        }
    }

    /// What the device decision needs to know of inference: every option runs on the device and any
    /// model repays it (the weights are uploaded once, then every token runs there).
    pub fn work() -> Work {
        Work::sized(1, 1)
    }

    /// The name of the device the model runs on, or "cpu".
    pub fn device_name(&self) -> String {
        match &self.placement {
            Placement::Host => "cpu".to_string(),
            Placement::Device(dev) => dev.executor().name().to_string(),
        }
    }

    /// An empty cache for `capacity` positions, on the model's device.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the cache's size overflows or cannot be allocated,
    /// [`Error::Runtime`] when device memory cannot be allocated.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        let store = match &self.placement {
            Placement::Host => KvStore::Host(HostKv::new(self.config(), capacity)?),
            Placement::Device(dev) => KvStore::Device(dev.new_cache(self.config(), capacity)?),
        };
        Ok(KvCache {
            store,
            len: 0,
            capacity,
            model: self.id,
        })
    }

    /// A copy of `cache` (same model, same positions), for a sequence that forks after its prompt.
    ///
    /// # Errors
    /// As [`Model::copy_prefix`].
    pub fn copy_cache(&self, cache: &KvCache) -> Result<KvCache> {
        self.copy_prefix(cache, cache.len, cache.capacity)
    }

    /// True when `cache` was made by this model (as placed now), so its passes accept it.
    pub fn holds(&self, cache: &KvCache) -> bool {
        cache.model == self.id
    }

    /// A new cache of `capacity` positions holding the first `len` positions of `cache` (a shared
    /// prefix reused by another prompt; see [`crate::prefix`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a cache of another model or `len` beyond `cache.len()` or
    /// `capacity`; [`Error::OutOfMemory`] or [`Error::Runtime`] when the copy cannot be allocated.
    pub fn copy_prefix(&self, cache: &KvCache, len: usize, capacity: usize) -> Result<KvCache> {
        if !self.holds(cache) {
            return Err(misplaced_cache());
        }
        if len > cache.len || len > capacity {
            return Err(Error::InvalidArgument {
                name: "len",
                reason: format!(
                    "a prefix of {len} positions from a cache of {} into one of {capacity}",
                    cache.len
                ),
            });
        }
        let c = self.config();
        let store = match (&self.placement, &cache.store) {
            (Placement::Host, KvStore::Host(kv)) => {
                KvStore::Host(kv.copy_prefix(c, len, capacity)?)
            }
            (Placement::Device(dev), KvStore::Device(kv)) => {
                KvStore::Device(dev.copy_prefix(c, kv, cache.capacity, len, capacity)?)
            }
            _ => return Err(misplaced_cache()),
        };
        Ok(KvCache {
            store,
            len,
            capacity,
            model: self.id,
        })
    }

    /// The mapped file (metadata for the tokenizer and templates).
    pub fn file(&self) -> &GgufFile {
        self.weights.file()
    }

    /// Runs `tokens` through the model after the positions already in `cache`, appends their keys and
    /// values, and returns the logits of every new position (positions x vocabulary) when `all`, else of
    /// the last one only.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no tokens, a token outside the vocabulary, too little room in the
    /// cache or a cache of another model; [`Error::Runtime`] when the device fails.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache, all: bool) -> Result<Vec<f32>> {
        let start = self.check_tokens(tokens, cache)?;
        let logits = match (&self.placement, &mut cache.store) {
            (Placement::Host, KvStore::Host(kv)) => {
                let hidden = self.weights.hidden_on_host(tokens, kv, start);
                self.weights.logits_on_host(&hidden, all)
            }
            (Placement::Device(dev), KvStore::Device(kv)) => {
                let hidden = dev.hidden(&self.weights, kv, cache.capacity, tokens, start)?;
                dev.logits(self.config(), &hidden, all)?
            }
            _ => return Err(misplaced_cache()),
        };
        cache.len += tokens.len();
        Ok(logits)
    }

    /// [`Model::forward`] that also records what `probe` asks for: hidden states after chosen layers
    /// and attention probabilities of chosen layers, for chosen new positions (see
    /// [`crate::internals`]). The logits are those [`Model::forward`] returns, bit for bit.
    ///
    /// # Errors
    /// As [`Model::forward`]; [`Error::InvalidArgument`] for a layer or row the model or pass does
    /// not have; [`Error::OutOfMemory`] when the recording cannot be allocated; and
    /// [`Error::Runtime`] (unsupported) for a model on a device, whose kernels record nothing.
    pub fn forward_probed(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        all: bool,
        probe: &Probe,
    ) -> Result<(Vec<f32>, Internals)> {
        let start = self.check_tokens(tokens, cache)?;
        let mut rec = Recorder::new(probe, self.config(), start, tokens.len())?;
        let (Placement::Host, KvStore::Host(kv)) = (&self.placement, &mut cache.store) else {
            return Err(thermoconsensus_runtime::Error::Unsupported(
                "engine internals are recorded on the CPU only; load the model with device=\"cpu\""
                    .into(),
            )
            .into());
        };
        let hidden = self
            .weights
            .hidden_on_host_probed(tokens, kv, start, Some(&mut rec));
        let logits = self.weights.logits_on_host(&hidden, all);
        cache.len += tokens.len();
        Ok((logits, rec.out))
    }

    /// [`Model::forward`] for several independent sequences at once: each entry's tokens run after the
    /// positions in its own cache, and its logits come back in the same order (every new position when
    /// `all`, else the last). On the CPU this is one pass in which every weight matrix is read once for
    /// all the sequences' rows, so B sequences decode for little more than the cost of one; on a device
    /// the sequences still run one after another (batched device kernels are not written yet).
    ///
    /// # Errors
    /// As [`Model::forward`], for the first entry that fails its checks (no cache is then changed).
    pub fn forward_batch(
        &self,
        batch: &mut [(&[u32], &mut KvCache)],
        all: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let mut starts = Vec::with_capacity(batch.len());
        for (tokens, cache) in batch.iter() {
            starts.push(self.check_tokens(tokens, cache)?);
        }
        if let Placement::Device(_) = self.placement {
            return batch
                .iter_mut()
                .map(|(tokens, cache)| self.forward(tokens, cache, all))
                .collect();
        }
        let tokens: Vec<u32> = batch.iter().flat_map(|(t, _)| t.iter().copied()).collect();
        let rows: Vec<usize> = batch.iter().map(|(t, _)| t.len()).collect();
        let mut segments = Vec::with_capacity(batch.len());
        for (((_, cache), &start), &rows) in batch.iter_mut().zip(&starts).zip(&rows) {
            let KvStore::Host(kv) = &mut cache.store else {
                return Err(misplaced_cache());
            };
            segments.push(Segment { kv, start, rows });
        }
        let hidden = self.weights.hidden_on_host_batch(&tokens, &mut segments);
        drop(segments);
        let d = self.config().n_embd;
        // The output matrix too runs once over every wanted row of every sequence.
        let mut wanted = Vec::new();
        let mut first = 0;
        for &r in &rows {
            let keep = if all {
                first..first + r
            } else {
                first + r - 1..first + r
            };
            wanted.extend_from_slice(&hidden[keep.start * d..keep.end * d]);
            first += r;
        }
        let logits = self.weights.logits_on_host(&wanted, true);
        let n_vocab = self.config().n_vocab;
        let mut out = Vec::with_capacity(batch.len());
        let mut at = 0;
        for ((_, cache), &r) in batch.iter_mut().zip(&rows) {
            let n = if all { r } else { 1 };
            out.push(logits[at * n_vocab..(at + n) * n_vocab].to_vec());
            at += n;
            cache.len += r;
        }
        Ok(out)
    }

    /// Runs `tokens` as [`Model::forward`] does and returns the most likely next token (the first of equal
    /// logits). On a device the choice is made there and only the token comes back.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn forward_greedy(&self, tokens: &[u32], cache: &mut KvCache) -> Result<u32> {
        if let (Placement::Device(dev), KvStore::Device(kv)) = (&self.placement, &cache.store) {
            let start = self.check_tokens(tokens, cache)?;
            let hidden = dev.hidden(&self.weights, kv, cache.capacity, tokens, start)?;
            let token = dev.argmax(self.config(), &hidden)?;
            cache.len += tokens.len();
            return Ok(token);
        }
        let logits = self.forward(tokens, cache, false)?;
        Ok(logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(i, _)| i as u32))
    }

    /// The last layer's hidden states of the new positions after the final norm (positions x n_embd):
    /// what the output matrix turns into logits, and what sentence embeddings pool.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn hidden(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let start = self.check_tokens(tokens, cache)?;
        let hidden = match (&self.placement, &mut cache.store) {
            (Placement::Host, KvStore::Host(kv)) => self.weights.hidden_on_host(tokens, kv, start),
            (Placement::Device(dev), KvStore::Device(kv)) => {
                let hidden = dev.hidden(&self.weights, kv, cache.capacity, tokens, start)?;
                dev.executor().download(&hidden)?
            }
            _ => return Err(misplaced_cache()),
        };
        cache.len += tokens.len();
        Ok(hidden)
    }

    /// The checks every pass makes: tokens present, in the vocabulary, and fitting the cache, and a cache
    /// of this model. Returns the position the tokens start at.
    fn check_tokens(&self, tokens: &[u32], cache: &KvCache) -> Result<usize> {
        let c = self.config();
        if tokens.is_empty() {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: "no tokens to process".into(),
            });
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: format!("token id {t} is outside the vocabulary of {}", c.n_vocab),
            });
        }
        if cache.model != self.id {
            return Err(misplaced_cache());
        }
        if cache.len + tokens.len() > cache.capacity {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: format!(
                    "{} positions do not fit the context of {} ({} already used)",
                    tokens.len(),
                    cache.capacity,
                    cache.len
                ),
            });
        }
        Ok(cache.len)
    }
}

fn misplaced_cache() -> Error {
    Error::InvalidArgument {
        name: "cache",
        reason:
            "the cache was made by another model (or before the model moved to a device); make \
                 it with this model's new_cache"
                .into(),
    }
}
