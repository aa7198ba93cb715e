//! Bindings of the sentence embedder (`thermoconsensus.embeddings` wraps these).

use crate::detach::{run_detached, run_in_pool};
use crate::errors::llm_error;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use std::sync::Arc;
use thermoconsensus_llm::embed::SentenceEmbedder as Engine;

/// A BERT-family sentence embedder loaded from a sentence-transformers folder (all-MiniLM-L6-v2).
#[pyclass(frozen, module = "thermoconsensus._core")]
pub struct SentenceEmbedder {
    inner: Arc<Engine>,
}

#[pymethods]
impl SentenceEmbedder {
    /// Loads `config.json`, `model.safetensors`, `tokenizer.json` (and `sentence_bert_config.json`)
    /// from the folder `path` (or the folder of the `model.safetensors` file `path`).
    #[new]
    fn new(py: Python<'_>, path: &str) -> PyResult<Self> {
        let p = path.to_string();
        let inner = run_detached(py, move || Engine::load(&p), llm_error)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Width of the sentence vectors.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Most tokens per input, specials included; longer inputs are truncated.
    #[getter]
    fn max_seq_length(&self) -> usize {
        self.inner.max_seq_length()
    }

    /// WordPiece ids of `text` as the model sees it (`[CLS] ... [SEP]`, truncated).
    fn tokenize(&self, py: Python<'_>, text: &str) -> PyResult<Vec<u32>> {
        self.inner.tokenize(text).map_err(|e| llm_error(py, e))
    }

    /// Unit-length sentence vectors of `texts` as a (len(texts), dim) float32 array, computed with
    /// the GIL released on `n_threads` threads (default: THERMOCONSENSUS_NUM_THREADS or all cores).
    #[pyo3(signature = (texts, n_threads=None))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let m = Arc::clone(&self.inner);
        let n = texts.len();
        let dim = m.dim();
        let flat = run_in_pool(py, n_threads, move || m.embed(&texts), llm_error)?;
        let arr = PyArray1::from_vec(py, flat);
        Ok(arr.reshape([n, dim])?.into_any())
    }
}

/// Registers the embedder class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SentenceEmbedder>()
}
