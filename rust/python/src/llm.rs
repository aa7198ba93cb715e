//! Bindings of the inference engine (`thermoconsensus.llm` wraps these).

use crate::detach::{run_detached, run_with_progress};
use crate::errors::llm_error;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use thermoconsensus_llm::generate::{Finish, GenerateParams, Sequence};
use thermoconsensus_llm::gguf::Array;
use thermoconsensus_llm::speculative::{self, Drafter, SpeculativeParams};
use thermoconsensus_llm::{dequantize, GgufFile, Value};
use thermoconsensus_llm::{Constraints, Grammar, GrammarVocab, PrefixCache};
use thermoconsensus_runtime::with_threads;

fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::U8(x) => x.into_pyobject(py)?.into_any(),
        Value::I8(x) => x.into_pyobject(py)?.into_any(),
        Value::U16(x) => x.into_pyobject(py)?.into_any(),
        Value::I16(x) => x.into_pyobject(py)?.into_any(),
        Value::U32(x) => x.into_pyobject(py)?.into_any(),
        Value::I32(x) => x.into_pyobject(py)?.into_any(),
        Value::U64(x) => x.into_pyobject(py)?.into_any(),
        Value::I64(x) => x.into_pyobject(py)?.into_any(),
        Value::F32(x) => x.into_pyobject(py)?.into_any(),
        Value::F64(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(x) => x.into_pyobject(py)?.to_owned().into_any(),
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => array_to_py(py, a)?,
    })
}

fn array_to_py<'py>(py: Python<'py>, a: &Array) -> PyResult<Bound<'py, PyAny>> {
    Ok(match a {
        Array::U8(v) => PyList::new(py, v)?.into_any(),
        Array::I8(v) => PyList::new(py, v)?.into_any(),
        Array::U16(v) => PyList::new(py, v)?.into_any(),
        Array::I16(v) => PyList::new(py, v)?.into_any(),
        Array::U32(v) => PyList::new(py, v)?.into_any(),
        Array::I32(v) => PyList::new(py, v)?.into_any(),
        Array::F32(v) => PyList::new(py, v)?.into_any(),
        Array::Bool(v) => PyList::new(py, v)?.into_any(),
        Array::String(v) => PyList::new(py, v.iter())?.into_any(),
        Array::U64(v) => PyList::new(py, v)?.into_any(),
        Array::I64(v) => PyList::new(py, v)?.into_any(),
        Array::F64(v) => PyList::new(py, v)?.into_any(),
        Array::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(array_to_py(py, item)?)?;
            }
            list.into_any()
        }
    })
}

fn open(py: Python<'_>, path: &str) -> PyResult<GgufFile> {
    let p = path.to_string();
    run_detached(py, move || GgufFile::open(&p), llm_error)
}

/// The header of a GGUF file: {"version", "alignment", "data_offset", "metadata", "tensors"}.
#[pyfunction]
fn gguf_header<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyDict>> {
    let file = open(py, path)?;
    let h = file.header();
    let out = PyDict::new(py);
    out.set_item("version", h.version)?;
    out.set_item("alignment", h.alignment)?;
    out.set_item("data_offset", h.data_offset)?;
    let meta = PyDict::new(py);
    for (k, v) in &h.metadata {
        meta.set_item(k, to_py(py, v)?)?;
    }
    out.set_item("metadata", meta)?;
    let tensors = PyList::empty(py);
    for t in &h.tensors {
        let d = PyDict::new(py);
        d.set_item("name", &t.name)?;
        d.set_item("dims", t.dims.clone())?;
        d.set_item("type", t.ggml_type.name())?;
        d.set_item("offset", t.offset)?;
        d.set_item("n_bytes", t.n_bytes)?;
        tensors.append(d)?;
    }
    out.set_item("tensors", tensors)?;
    Ok(out)
}

/// Tensor `name` of a GGUF file dequantised to float32, flat (ggml order: dims[0] fastest).
#[pyfunction]
fn gguf_tensor<'py>(
    py: Python<'py>,
    path: &str,
    name: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let file = open(py, path)?;
    let info = file.header().tensor(name).cloned().ok_or_else(|| {
        llm_error(
            py,
            thermoconsensus_llm::Error::InvalidArgument {
                name: "name",
                reason: format!("no tensor {name:?} in {path}"),
            },
        )
    })?;
    let n = usize::try_from(info.n_elements)
        .map_err(|_| crate::errors::memory_error(format!("tensor {name:?} is too large")))?;
    let data = run_detached(
        py,
        || {
            let mut out = vec![0.0f32; n];
            dequantize(info.ggml_type, file.tensor_data(&info), &mut out)?;
            Ok(out)
        },
        llm_error,
    )?;
    Ok(PyArray1::from_vec(py, data))
}

/// Renders a chat template (Jinja) for JSON-encoded messages (and tools); `None` template: Gemma's turns.
#[pyfunction]
#[pyo3(signature = (template, messages_json, add_generation_prompt, bos_token, eos_token, tools_json=None))]
fn render_chat_template(
    py: Python<'_>,
    template: Option<&str>,
    messages_json: &str,
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
    tools_json: Option<&str>,
) -> PyResult<String> {
    thermoconsensus_llm::chat::render(
        template.unwrap_or(thermoconsensus_llm::chat::GEMMA_TEMPLATE),
        messages_json,
        add_generation_prompt,
        bos_token,
        eos_token,
        tools_json,
    )
    .map_err(|e| llm_error(py, e))
}

/// Registers the inference functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gguf_header, m)?)?;
    m.add_function(wrap_pyfunction!(gguf_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(render_chat_template, m)?)?;
    m.add_class::<PyModel>()?;
    m.add_class::<PySequence>()?;
    m.add_function(wrap_pyfunction!(step_batch, m)?)?;
    Ok(())
}

const _: () = assert!(thermoconsensus_llm::prefix::DEFAULT_MIN_TOKENS == 8);

/// A loaded GGUF model (`thermoconsensus.llm.Model` wraps it).
#[pyclass(frozen, name = "Model", module = "thermoconsensus._core")]
pub struct PyModel {
    inner: std::sync::Arc<thermoconsensus_llm::Model>,
    tokenizer: std::result::Result<std::sync::Arc<thermoconsensus_llm::Tokenizer>, String>,
    /// The grammar engine's view of the vocabulary, built on the first constrained request (and
    /// again if a request names other end tokens).
    grammar_vocab: std::sync::Mutex<Option<(Vec<u32>, std::sync::Arc<GrammarVocab>)>>,
    /// The prefix cache shared by the sequences started over this model (None: off).
    prefix: std::sync::RwLock<Option<std::sync::Arc<PrefixCache>>>,
}

/// The grammar of a request: `(kind, text)` with kind "json_object" (text ignored), "json_schema"
/// (the schema as JSON text), "lark" or "regex".
fn parse_grammar(kind: &str, text: &str) -> thermoconsensus_llm::Result<Grammar> {
    let bad = |reason: String| thermoconsensus_llm::Error::InvalidArgument {
        name: "response_format",
        reason,
    };
    Ok(match kind {
        "json_object" => Grammar::JsonObject,
        "json_schema" => Grammar::JsonSchema(
            serde_json::from_str(text).map_err(|e| bad(format!("the schema is not JSON: {e}")))?,
        ),
        "lark" => Grammar::Lark(text.to_string()),
        "regex" => Grammar::Regex(text.to_string()),
        other => {
            return Err(bad(format!(
                "grammar kind must be json_object, json_schema, lark or regex, got {other:?}"
            )))
        }
    })
}

/// A model pass over `tokens` from an empty context.
type Pass = fn(
    &thermoconsensus_llm::Model,
    &[u32],
    &mut thermoconsensus_llm::KvCache,
) -> thermoconsensus_llm::Result<Vec<f32>>;

impl PyModel {
    fn prefix_cache(&self) -> Option<std::sync::Arc<PrefixCache>> {
        self.prefix
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `pass` over `tokens` in a fresh cache, GIL released, on `n_threads`.
    fn fresh_run<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<u32>,
        n_threads: Option<usize>,
        pass: Pass,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let m = std::sync::Arc::clone(&self.inner);
        let out = run_detached(
            py,
            move || {
                let mut cache = m.new_cache(tokens.len().max(1))?;
                with_threads(n_threads, || pass(&m, &tokens, &mut cache))
            },
            llm_error,
        )?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// The constraints of one request: `logit_bias` and the grammar (built with the GIL released;
    /// the vocabulary trie is cached per model).
    fn constraints(
        &self,
        tokenizer: &std::sync::Arc<thermoconsensus_llm::Tokenizer>,
        logit_bias: Vec<(u32, f32)>,
        grammar: Option<(String, String)>,
        ends: &[u32],
    ) -> thermoconsensus_llm::Result<Constraints> {
        let n_vocab = self.inner.config().n_vocab;
        let mut c = Constraints::default().with_bias(logit_bias, n_vocab)?;
        if let Some((kind, text)) = grammar {
            let grammar = parse_grammar(&kind, &text)?;
            let vocab = {
                let mut cached = self
                    .grammar_vocab
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match cached.as_ref() {
                    Some((e, v)) if e.as_slice() == ends => std::sync::Arc::clone(v),
                    _ => {
                        let v = std::sync::Arc::new(GrammarVocab::new(
                            std::sync::Arc::clone(tokenizer),
                            n_vocab,
                            ends,
                        )?);
                        *cached = Some((ends.to_vec(), std::sync::Arc::clone(&v)));
                        v
                    }
                }
            };
            c.grammar = Some(vocab.matcher(&grammar)?);
        }
        Ok(c)
    }

    fn tok(&self, py: Python<'_>) -> PyResult<&std::sync::Arc<thermoconsensus_llm::Tokenizer>> {
        self.tokenizer.as_ref().map_err(|reason| {
            llm_error(
                py,
                thermoconsensus_llm::Error::InvalidArgument {
                    name: "tokenizer",
                    reason: reason.clone(),
                },
            )
        })
    }
}

#[pymethods]
impl PyModel {
    /// Maps and checks the model file at `path`; with a CUDA `device` ("auto" takes a GPU when present),
    /// copies the weights there.
    #[new]
    #[pyo3(signature = (path, device="cpu"))]
    fn new(py: Python<'_>, path: &str, device: &str) -> PyResult<Self> {
        let p = path.to_string();
        let on = crate::gpu::compute_for(py, device, &thermoconsensus_llm::Model::work())?;
        let model = run_detached(
            py,
            move || thermoconsensus_llm::Model::load(&p)?.place(&on),
            llm_error,
        )?;
        let tokenizer = thermoconsensus_llm::Tokenizer::from_header(model.file().header())
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string());
        Ok(Self {
            inner: std::sync::Arc::new(model),
            tokenizer,
            grammar_vocab: std::sync::Mutex::new(None),
            prefix: std::sync::RwLock::new(None),
        })
    }

    /// Turns on the prefix cache: later prompts reuse the keys and values of the longest prefix (of
    /// at least `min_tokens` tokens) they share with an earlier prompt, and the cache holds at most
    /// `budget_bytes`. A budget of 0 turns it off and frees what it held.
    // A literal default, so that the signature Python sees shows it (checked equal to the engine's).
    #[pyo3(signature = (budget_bytes, min_tokens=8))]
    fn set_prefix_cache(
        &self,
        py: Python<'_>,
        budget_bytes: usize,
        min_tokens: usize,
    ) -> PyResult<()> {
        let cache = if budget_bytes == 0 {
            None
        } else {
            Some(std::sync::Arc::new(
                PrefixCache::new(budget_bytes, min_tokens).map_err(|e| llm_error(py, e))?,
            ))
        };
        *self.prefix.write().unwrap_or_else(|e| e.into_inner()) = cache;
        Ok(())
    }

    /// The prefix cache's statistics (lookups, hits, reused_tokens, prompt_tokens, insertions,
    /// evictions, entries, bytes, budget_bytes), or None when it is off.
    fn prefix_cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(cache) = self.prefix_cache() else {
            return Ok(None);
        };
        let s = cache.stats();
        let d = PyDict::new(py);
        d.set_item("lookups", s.lookups)?;
        d.set_item("hits", s.hits)?;
        d.set_item("reused_tokens", s.reused_tokens)?;
        d.set_item("prompt_tokens", s.prompt_tokens)?;
        d.set_item("insertions", s.insertions)?;
        d.set_item("evictions", s.evictions)?;
        d.set_item("entries", s.entries)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("budget_bytes", cache.budget())?;
        Ok(Some(d))
    }

    /// Token ids of `text` (BOS first when `add_special` and the model wants it; control-token text
    /// parsed into those tokens when `parse_special`).
    #[pyo3(signature = (text, add_special=true, parse_special=false))]
    fn tokenize(
        &self,
        py: Python<'_>,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> PyResult<Vec<u32>> {
        self.tok(py)?
            .encode(text, add_special, parse_special)
            .map_err(|e| llm_error(py, e))
    }

    /// The bytes of `ids` (control tokens only when `special`).
    #[pyo3(signature = (ids, special=false))]
    fn detokenize_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<u32>,
        special: bool,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let bytes = self.tok(py)?.decode_bytes(&ids, special);
        Ok(pyo3::types::PyBytes::new(py, &bytes))
    }

    /// Hyper-parameters as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.config();
        let d = PyDict::new(py);
        d.set_item("architecture", format!("{:?}", c.arch).to_lowercase())?;
        d.set_item("n_vocab", c.n_vocab)?;
        d.set_item("n_embd", c.n_embd)?;
        d.set_item("n_layer", c.n_layer)?;
        d.set_item("n_head", c.n_head)?;
        d.set_item("n_head_kv", c.n_head_kv)?;
        d.set_item("head_dim", c.head_dim)?;
        d.set_item("n_ff", c.n_ff)?;
        d.set_item("n_ctx_train", c.n_ctx_train)?;
        d.set_item("rope_base", c.rope_base)?;
        d.set_item("rms_eps", c.rms_eps)?;
        d.set_item("sliding_window", c.sliding_window)?;
        d.set_item("device", self.inner.device_name())?;
        Ok(d)
    }

    /// Logits of every position of `tokens` run from an empty context (positions x vocabulary, flat).
    #[pyo3(signature = (tokens, n_threads=None))]
    fn logits<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<u32>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        self.fresh_run(py, tokens, n_threads, |m, t, c| m.forward(t, c, true))
    }

    /// Sum of the negative log-likelihoods of `window[j + 1]` for `j` in `first..len - 1`, each
    /// position given everything before it in `window` (one window of llama.cpp's perplexity).
    #[pyo3(signature = (window, first, n_threads=None))]
    fn window_nll(
        &self,
        py: Python<'_>,
        window: Vec<u32>,
        first: usize,
        n_threads: Option<usize>,
    ) -> PyResult<(f64, usize)> {
        let m = std::sync::Arc::clone(&self.inner);
        run_detached(
            py,
            move || {
                let n = window.len();
                if first + 1 >= n {
                    return Ok((0.0, 0));
                }
                let mut cache = m.new_cache(n)?;
                let logits = with_threads(n_threads, || m.forward(&window, &mut cache, true))?;
                let vocab = logits.len() / n;
                let scored = &logits[first * vocab..(n - 1) * vocab];
                let nll =
                    thermoconsensus_llm::generate::nll_sum(scored, vocab, &window[first + 1..])?;
                Ok((nll, n - 1 - first))
            },
            llm_error,
        )
    }

    /// Mean of the final-norm hidden states over `tokens`, unit length when `normalize`.
    #[pyo3(signature = (tokens, normalize, n_threads=None))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<u32>,
        normalize: bool,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let m = std::sync::Arc::clone(&self.inner);
        let out = run_detached(
            py,
            move || {
                let mut cache = m.new_cache(tokens.len().max(1))?;
                let h = with_threads(n_threads, || m.hidden(&tokens, &mut cache))?;
                Ok(thermoconsensus_llm::generate::mean_pool(
                    &h,
                    m.config().n_embd,
                    normalize,
                ))
            },
            llm_error,
        )?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// Final-norm hidden states of every position of `tokens` (positions x n_embd, flat).
    #[pyo3(signature = (tokens, n_threads=None))]
    fn hidden<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<u32>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        self.fresh_run(py, tokens, n_threads, |m, t, c| m.hidden(t, c))
    }

    /// Runs `tokens` from an empty context and records the engine's internals: the residual stream
    /// at each of `hidden_layers` (0: embeddings, n_layer: the last layer's output) and the attention
    /// probabilities of each of `attention_layers`, for the `positions` given (all when None). Returns
    /// a dict: rows, positions, context, n_head, logits (last position), hidden and attention (index
    /// -> flat array: rows x n_embd, rows x n_head x context) and windows (layer -> sliding window,
    /// 0 for none).
    #[pyo3(signature = (tokens, hidden_layers, attention_layers, positions=None, n_threads=None))]
    fn internals<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<u32>,
        hidden_layers: Vec<usize>,
        attention_layers: Vec<usize>,
        positions: Option<Vec<usize>>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let m = std::sync::Arc::clone(&self.inner);
        let probe = thermoconsensus_llm::Probe {
            hidden_layers,
            attention_layers,
            rows: positions,
        };
        let (logits, got) = run_detached(
            py,
            move || {
                let mut cache = m.new_cache(tokens.len().max(1))?;
                with_threads(n_threads, || {
                    m.forward_probed(&tokens, &mut cache, false, &probe)
                })
            },
            llm_error,
        )?;
        let d = PyDict::new(py);
        d.set_item("rows", got.rows)?;
        d.set_item("positions", got.positions)?;
        d.set_item("context", got.context)?;
        d.set_item("n_head", got.n_head)?;
        d.set_item("logits", PyArray1::from_vec(py, logits))?;
        d.set_item(
            "windows",
            got.windows
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )?;
        for (key, recorded) in [("hidden", got.hidden), ("attention", got.attention)] {
            let by_index = PyDict::new(py);
            for (i, values) in recorded {
                by_index.set_item(i, PyArray1::from_vec(py, values))?;
            }
            d.set_item(key, by_index)?;
        }
        Ok(d)
    }

    /// Greedy continuation: the `max_tokens` most likely next tokens after `tokens`, stopping early at
    /// any of `stop_ids`.
    #[pyo3(signature = (tokens, max_tokens, stop_ids, n_threads=None))]
    fn greedy(
        &self,
        py: Python<'_>,
        tokens: Vec<u32>,
        max_tokens: usize,
        stop_ids: Vec<u32>,
        n_threads: Option<usize>,
    ) -> PyResult<Vec<u32>> {
        let m = std::sync::Arc::clone(&self.inner);
        run_detached(
            py,
            move || {
                with_threads(n_threads, || {
                    thermoconsensus_llm::generate::greedy(&m, &tokens, max_tokens, &stop_ids)
                })
            },
            llm_error,
        )
    }

    /// Greedy speculative decoding (GIL released, Ctrl-C cancels): drafts from `draft` (a model with
    /// this vocabulary, stopping below `p_min`) or, when None, from n-grams of the text so far
    /// (`min_ngram..=max_ngram`), `n_draft` tokens per verifying pass at most. Returns (tokens, text,
    /// finish reason, statistics).
    #[pyo3(signature = (tokens, draft, min_ngram, max_ngram, p_min, n_ctx, n_draft, max_tokens,
        stop_ids, stop_strings, n_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate_speculative<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<u32>,
        draft: Option<PyRef<'py, PyModel>>,
        min_ngram: usize,
        max_ngram: usize,
        p_min: f32,
        n_ctx: usize,
        n_draft: usize,
        max_tokens: usize,
        stop_ids: Vec<u32>,
        stop_strings: Vec<String>,
        n_threads: Option<usize>,
    ) -> PyResult<(Vec<u32>, String, &'static str, Bound<'py, PyDict>)> {
        let tokenizer = std::sync::Arc::clone(self.tok(py)?);
        let target = std::sync::Arc::clone(&self.inner);
        let draft = draft.map(|d| std::sync::Arc::clone(&d.inner));
        let params = SpeculativeParams {
            max_tokens,
            n_ctx,
            n_draft,
            p_min,
            stop_tokens: stop_ids,
            stop_strings,
        };
        let out = run_with_progress(
            py,
            max_tokens,
            None,
            n_threads,
            |progress| {
                let drafter = match &draft {
                    Some(d) => Drafter::Model(d),
                    None => Drafter::PromptLookup {
                        min_ngram,
                        max_ngram,
                    },
                };
                speculative::generate_greedy(
                    &target,
                    drafter,
                    &tokenizer,
                    &tokens,
                    &params,
                    Some(progress),
                )
            },
            llm_error,
        )?;
        let stats = PyDict::new(py);
        stats.set_item("drafted", out.stats.drafted)?;
        stats.set_item("accepted", out.stats.accepted)?;
        stats.set_item("target_passes", out.stats.target_passes)?;
        stats.set_item("draft_passes", out.stats.draft_passes)?;
        Ok((out.tokens, out.text, out.finish.as_str(), stats))
    }

    /// (Diverse) beam search (GIL released, Ctrl-C cancels): `groups` groups of `beams` beams, each
    /// group penalised `diversity` per earlier group's choice of the same token at a step. Returns
    /// the hypotheses, each group's best first: (group, tokens, log probability, score, stopped).
    #[pyo3(signature = (tokens, beams, groups, diversity, length_penalty, n_ctx, max_tokens,
        stop_ids, n_threads=None))]
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::type_complexity)]
    fn beam_search(
        &self,
        py: Python<'_>,
        tokens: Vec<u32>,
        beams: usize,
        groups: usize,
        diversity: f32,
        length_penalty: f32,
        n_ctx: usize,
        max_tokens: usize,
        stop_ids: Vec<u32>,
        n_threads: Option<usize>,
    ) -> PyResult<Vec<(usize, Vec<u32>, f64, f64, bool)>> {
        let model = std::sync::Arc::clone(&self.inner);
        let params = thermoconsensus_llm::beam::BeamParams {
            beams,
            groups,
            diversity,
            length_penalty,
            max_tokens,
            n_ctx,
            stop_tokens: stop_ids,
        };
        let out = run_with_progress(
            py,
            max_tokens,
            None,
            n_threads,
            |progress| {
                thermoconsensus_llm::beam::beam_search(&model, &tokens, &params, Some(progress))
            },
            llm_error,
        )?;
        Ok(out
            .into_iter()
            .map(|h| (h.group, h.tokens, h.logprob, h.score, h.stopped))
            .collect())
    }

    /// Contrastive decoding (GIL released, Ctrl-C cancels): this model is the expert, `amateur` a
    /// smaller one of the same vocabulary; each step takes the argmax of (1 + beta) * expert - beta *
    /// amateur logits among tokens with expert probability >= alpha times its top one. Returns
    /// (tokens, text, finish reason, steps where the choice differed from the expert's argmax).
    #[pyo3(signature = (tokens, amateur, alpha, beta, n_ctx, max_tokens, stop_ids, stop_strings,
        n_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate_contrastive(
        &self,
        py: Python<'_>,
        tokens: Vec<u32>,
        amateur: PyRef<'_, PyModel>,
        alpha: f32,
        beta: f32,
        n_ctx: usize,
        max_tokens: usize,
        stop_ids: Vec<u32>,
        stop_strings: Vec<String>,
        n_threads: Option<usize>,
    ) -> PyResult<(Vec<u32>, String, &'static str, usize)> {
        let tokenizer = self.tokenizer.as_ref().ok().map(std::sync::Arc::clone);
        let expert = std::sync::Arc::clone(&self.inner);
        let amateur = std::sync::Arc::clone(&amateur.inner);
        let params = thermoconsensus_llm::contrastive::ContrastiveParams {
            max_tokens,
            n_ctx,
            alpha,
            beta,
            stop_tokens: stop_ids,
            stop_strings,
        };
        let out = run_with_progress(
            py,
            max_tokens,
            None,
            n_threads,
            |progress| {
                thermoconsensus_llm::contrastive::generate_contrastive(
                    &expert,
                    &amateur,
                    tokenizer.as_deref(),
                    &tokens,
                    &params,
                    Some(progress),
                )
            },
            llm_error,
        )?;
        Ok((out.tokens, out.text, out.finish.as_str(), out.changed))
    }

    /// Starts a generation: runs the prompt through a fresh context of `n_ctx` positions (GIL
    /// released); the returned generator then yields one token per `next()`. With `defer_prompt`
    /// the prompt is only admitted (a stored prefix copied) and runs in the first step, which
    /// `step_batch` shares with the other sequences' next tokens; such a sequence cannot be forked.
    /// `entropy_guide` (confident entropy, confident varentropy, fork varentropy, fork temperature,
    /// branches) turns on entropy-guided sampling.
    #[pyo3(signature = (tokens, n_ctx, temperature, top_k, top_p, min_p, repeat_penalty,
        frequency_penalty, presence_penalty, penalty_last_n, seed, max_tokens, stop_ids, stop_strings,
        top_n, n_threads=None, logit_bias=Vec::new(), grammar=None, defer_prompt=false,
        entropy_guide=None))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        py: Python<'_>,
        tokens: Vec<u32>,
        n_ctx: usize,
        temperature: f32,
        top_k: usize,
        top_p: f32,
        min_p: f32,
        repeat_penalty: f32,
        frequency_penalty: f32,
        presence_penalty: f32,
        penalty_last_n: usize,
        seed: u64,
        max_tokens: usize,
        stop_ids: Vec<u32>,
        stop_strings: Vec<String>,
        top_n: usize,
        n_threads: Option<usize>,
        logit_bias: Vec<(u32, f32)>,
        grammar: Option<(String, String)>,
        defer_prompt: bool,
        entropy_guide: Option<(f32, f32, f32, f32, usize)>,
    ) -> PyResult<PySequence> {
        let entropy_guide =
            entropy_guide.map(
                |(ce, cv, fv, ft, branches)| thermoconsensus_llm::EntropyGuide {
                    confident_entropy: ce,
                    confident_varentropy: cv,
                    fork_varentropy: fv,
                    fork_temperature: ft,
                    branches,
                },
            );
        let params = thermoconsensus_llm::SamplerParams {
            temperature,
            top_k,
            top_p,
            min_p,
            repeat_penalty,
            frequency_penalty,
            presence_penalty,
            penalty_last_n,
            seed,
            entropy_guide,
        };
        let sampler = thermoconsensus_llm::Sampler::new(params).map_err(|e| llm_error(py, e))?;
        let tokenizer = std::sync::Arc::clone(self.tok(py)?);
        let model = std::sync::Arc::clone(&self.inner);
        let m = std::sync::Arc::clone(&model);
        let generate = GenerateParams {
            max_tokens,
            n_ctx,
            stop_tokens: stop_ids,
            stop_strings,
            top_n,
        };
        let constraints = py
            .detach(|| self.constraints(&tokenizer, logit_bias, grammar, &generate.stop_tokens))
            .map_err(|e| llm_error(py, e))?;
        let prefix = self.prefix_cache();
        let sequence = run_detached(
            py,
            move || {
                with_threads(n_threads, || {
                    if defer_prompt {
                        Sequence::admit_with_prefix(&m, &tokens, sampler, generate, prefix)
                    } else {
                        Sequence::start_with_prefix(
                            &m,
                            &tokens,
                            sampler,
                            generate,
                            prefix.as_deref(),
                        )
                    }
                    .map(|s| s.with_constraints(constraints))
                })
            },
            llm_error,
        )?;
        Ok(PySequence {
            model,
            tokenizer,
            sequence: std::sync::Mutex::new(sequence),
            cancel: thermoconsensus_runtime::Progress::new(0),
            n_threads,
        })
    }
}

/// One generation in progress: the engine's decode loop ([`Sequence`]) over a shared model. `next()`
/// advances it by one token with the GIL released; `cancel()`, from any thread, ends it before the
/// next token.
#[pyclass(frozen, name = "Sequence", module = "thermoconsensus._core")]
pub struct PySequence {
    model: std::sync::Arc<thermoconsensus_llm::Model>,
    tokenizer: std::sync::Arc<thermoconsensus_llm::Tokenizer>,
    sequence: std::sync::Mutex<Sequence>,
    cancel: thermoconsensus_runtime::Progress,
    n_threads: Option<usize>,
}

/// A token as Python sees it: (id, log-probability, top alternatives, entropy).
type TokenTuple = (u32, f32, Vec<(u32, f32)>, f32);

/// A step as Python sees it: (text piece, the token or None on the closing step, stop token?).
type StepTuple = (String, Option<TokenTuple>, bool);

impl PySequence {
    fn locked(&self) -> std::sync::MutexGuard<'_, Sequence> {
        // A panic inside a step is contained by run_detached; the sequence is still consistent.
        self.sequence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl PySequence {
    /// Positions used in the context so far.
    #[getter]
    fn n_past(&self) -> usize {
        self.locked().n_past()
    }

    /// Prompt positions copied from the model's prefix cache rather than run.
    #[getter]
    fn reused_prefix(&self) -> usize {
        self.locked().reused_prefix()
    }

    /// Why the generation ended ("stop", "length", "context", "cancelled"), or None while it runs.
    #[getter]
    fn finish_reason(&self) -> Option<&'static str> {
        self.locked().finish().map(Finish::as_str)
    }

    /// The text generated so far (a stop string that ended it excluded).
    #[getter]
    fn text(&self) -> String {
        self.locked().text().to_string()
    }

    /// Another generation from the same prompt, sampled with `seed`: the prompt's keys and values
    /// are copied, not recomputed (GIL released). Only before the first `next()`.
    fn fork(&self, py: Python<'_>, seed: u64) -> PyResult<PySequence> {
        let n_threads = self.n_threads;
        let sequence = run_detached(
            py,
            || with_threads(n_threads, || self.locked().fork(&self.model, seed)),
            llm_error,
        )?;
        Ok(PySequence {
            model: std::sync::Arc::clone(&self.model),
            tokenizer: std::sync::Arc::clone(&self.tokenizer),
            sequence: std::sync::Mutex::new(sequence),
            cancel: thermoconsensus_runtime::Progress::new(0),
            n_threads,
        })
    }

    /// Asks the generation to end before its next token (callable from any thread).
    fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The next step, or None once the generation has ended: (piece of text now safe to show, the
    /// token sampled or None on the closing step, whether that token was a stop token).
    fn next(&self, py: Python<'_>) -> PyResult<Option<StepTuple>> {
        let n_threads = self.n_threads;
        let step = run_detached(
            py,
            || {
                with_threads(n_threads, || {
                    self.locked()
                        .step(&self.model, &self.tokenizer, Some(&self.cancel))
                })
            },
            llm_error,
        )?;
        Ok(step.map(step_tuple))
    }
}

/// A step as Python sees it.
fn step_tuple(s: thermoconsensus_llm::Step) -> StepTuple {
    let token = s.token.map(|t| (t.token, t.logprob, t.top, t.entropy));
    (s.piece, token, s.stop_token)
}

/// Advances every sequence by one token with one batched pass of their model over all of them (GIL
/// released): what `next()` on each does, with each weight read once for the batch. The sequences
/// must be distinct and share one model.
#[pyfunction]
pub fn step_batch(
    py: Python<'_>,
    sequences: Vec<PyRef<'_, PySequence>>,
) -> PyResult<Vec<Option<StepTuple>>> {
    let Some(first) = sequences.first() else {
        return Ok(Vec::new());
    };
    for (i, s) in sequences.iter().enumerate() {
        if !std::sync::Arc::ptr_eq(&s.model, &first.model) {
            return Err(crate::errors::invalid_input(format!(
                "sequences[{i}]: comes from another model than sequences[0]"
            )));
        }
        // Locking one sequence twice would deadlock.
        if sequences[..i].iter().any(|o| std::ptr::eq(&**o, &**s)) {
            return Err(crate::errors::invalid_input(format!(
                "sequences[{i}]: appears twice in the batch"
            )));
        }
    }
    let (model, tokenizer, n_threads) = (&first.model, &first.tokenizer, first.n_threads);
    let plain: Vec<&PySequence> = sequences.iter().map(|s| &**s).collect();
    let cancelled: Vec<bool> = plain.iter().map(|s| s.cancel.is_cancelled()).collect();
    let steps = run_detached(
        py,
        || {
            let mut guards: Vec<_> = plain.iter().map(|s| s.locked()).collect();
            let mut refs: Vec<&mut Sequence> = guards.iter_mut().map(|g| &mut **g).collect();
            with_threads(n_threads, || {
                thermoconsensus_llm::step_batch(model, &mut refs, tokenizer, &cancelled)
            })
        },
        llm_error,
    )?;
    Ok(steps.into_iter().map(|s| s.map(step_tuple)).collect())
}
