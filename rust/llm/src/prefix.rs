//! A prefix cache: the keys and values of prompts already run, reused by later prompts that begin with
//! the same tokens (a chat's history, one prompt sampled k times, the rounds of a debate). A later prompt
//! copies the longest prefix it shares with any stored prompt and runs only the rest. Memory is bounded:
//! entries are evicted least recently used first to stay within a byte budget.
//!
//! The keys and values of a position depend only on the tokens up to it, so a reused prefix holds exactly
//! what a fresh prefill would compute for it (the same kernels on the same rows).

use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::model::{KvCache, Model};

/// Fewest shared tokens worth a copy (a template's first tokens alone are not).
pub const DEFAULT_MIN_TOKENS: usize = 8;

/// What a [`PrefixCache`] has done since it was made (or cleared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixStats {
    /// Prompts looked up.
    pub lookups: u64,
    /// Lookups that reused a stored prefix.
    pub hits: u64,
    /// Positions copied from stored prefixes instead of recomputed.
    pub reused_tokens: u64,
    /// Positions of every prompt looked up.
    pub prompt_tokens: u64,
    /// Prompts stored.
    pub insertions: u64,
    /// Entries dropped to stay within the budget.
    pub evictions: u64,
    /// Entries held when the statistics were read.
    pub entries: usize,
    /// Bytes held then (host or device memory, wherever the model's caches live).
    pub bytes: usize,
}

struct Entry {
    tokens: Vec<u32>,
    cache: KvCache,
    bytes: usize,
    last_used: u64,
}

struct Inner {
    entries: Vec<Entry>,
    clock: u64,
    stats: PrefixStats,
}

/// Stored prompt caches of one model, shared by the sequences started over it (thread-safe).
pub struct PrefixCache {
    budget: usize,
    min_tokens: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.stats();
        write!(
            f,
            "PrefixCache({} entries, {} of {} bytes)",
            s.entries, s.bytes, self.budget
        )
    }
}

/// Bytes a stored prefix of `len` positions holds: keys and values, f32, every layer.
fn entry_bytes(model: &Model, len: usize) -> usize {
    let c = model.config();
    let per_position = c.n_layer * 2 * c.n_head_kv * c.head_dim * std::mem::size_of::<f32>();
    len.saturating_mul(per_position)
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PrefixCache {
    /// A cache holding at most `budget_bytes`, reusing shared prefixes of at least `min_tokens` tokens.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `min_tokens` when it is 0.
    pub fn new(budget_bytes: usize, min_tokens: usize) -> Result<Self> {
        if min_tokens == 0 {
            return Err(Error::InvalidArgument {
                name: "min_tokens",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            budget: budget_bytes,
            min_tokens,
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                clock: 0,
                stats: PrefixStats::default(),
            }),
        })
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.budget
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only counters and whole entries behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The statistics so far.
    pub fn stats(&self) -> PrefixStats {
        let inner = self.lock();
        PrefixStats {
            entries: inner.entries.len(),
            bytes: inner.entries.iter().map(|e| e.bytes).sum(),
            ..inner.stats
        }
    }

    /// Drops every entry and resets the statistics.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.stats = PrefixStats::default();
    }

    /// A fresh cache of `capacity` positions holding the longest stored prefix of `prompt` (at most all
    /// but its last token, whose logits the caller needs), and that prefix's length; `None` when no
    /// stored prompt of `model` shares at least `min_tokens` with it.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] or [`Error::Runtime`] when the copy cannot be made.
    pub fn lookup(
        &self,
        model: &Model,
        prompt: &[u32],
        capacity: usize,
    ) -> Result<Option<(KvCache, usize)>> {
        let mut inner = self.lock();
        inner.stats.lookups += 1;
        inner.stats.prompt_tokens += prompt.len() as u64;
        let most = prompt.len().saturating_sub(1).min(capacity);
        let best = inner
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| model.holds(&e.cache))
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt).min(most)))
            .max_by_key(|&(_, len)| len);
        let Some((i, len)) = best.filter(|&(_, len)| len >= self.min_tokens) else {
            return Ok(None);
        };
        let copy = model.copy_prefix(&inner.entries[i].cache, len, capacity)?;
        inner.clock += 1;
        let now = inner.clock;
        inner.entries[i].last_used = now;
        inner.stats.hits += 1;
        inner.stats.reused_tokens += len as u64;
        Ok(Some((copy, len)))
    }

    /// Stores the first `tokens.len()` positions of `cache` (which ran `tokens`) for later prompts. An
    /// entry that is a prefix of `tokens` is replaced; nothing is stored when a held entry already covers
    /// `tokens`, when they are fewer than `min_tokens`, larger than the whole budget, or when the copy
    /// cannot be allocated (the cache is an optimisation and never fails a generation).
    pub fn insert(&self, model: &Model, tokens: &[u32], cache: &KvCache) {
        let bytes = entry_bytes(model, tokens.len());
        if tokens.len() < self.min_tokens
            || bytes > self.budget
            || cache.len() < tokens.len()
            || !model.holds(cache)
        {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let mine = |e: &Entry| model.holds(&e.cache);
        if let Some(e) = inner
            .entries
            .iter_mut()
            .find(|e| mine(e) && e.tokens.starts_with(tokens))
        {
            e.last_used = now;
            return;
        }
        inner
            .entries
            .retain(|e| !(mine(e) && tokens.starts_with(&e.tokens)));
        let mut held: usize = inner.entries.iter().map(|e| e.bytes).sum();
        while held + bytes > self.budget {
            let Some(oldest) = (0..inner.entries.len()).min_by_key(|&i| inner.entries[i].last_used)
            else {
                break;
            };
            held -= inner.entries.swap_remove(oldest).bytes;
            inner.stats.evictions += 1;
        }
        let Ok(copy) = model.copy_prefix(cache, tokens.len(), tokens.len()) else {
            return;
        };
        inner.entries.push(Entry {
            tokens: tokens.to_vec(),
            cache: copy,
            bytes,
            last_used: now,
        });
        inner.stats.insertions += 1;
    }
}
