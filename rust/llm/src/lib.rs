//! thermoconsensus-llm: local inference on GGUF models.
//!
//! * [`gguf`]: the GGUF v2/v3 reader (metadata, tensor infos, memory-mapped data), hardened against
//!   corrupt and hostile files;
//! * [`ggml_type`]: the tensor types and their block layouts;
//! * [`dequant`]: reference dequantisation of every supported block format;
//! * [`model`]: a model and its KV cache on the host or a device; the forward pass on the CPU
//!   (`cpu`, over the `weights` as the file maps them) and [`gpu`] its twin on a CUDA device;
//! * [`internals`]: hidden states and attention probabilities of a pass, recorded on request;
//! * [`generate`]: the decode loop, and [`constrain`] its logit biases and grammars (llguidance);
//! * [`speculative`] and [`contrastive`]: decoding with a second, smaller model; [`beam`]: (diverse)
//!   beam search.
#![deny(missing_docs)]

pub mod beam;
pub(crate) mod block;
pub mod chat;
pub mod config;
pub mod constrain;
pub mod contrastive;
mod cpu;
pub mod dequant;
pub mod embed;
pub mod error;
pub mod generate;
pub mod ggml_type;
pub mod gguf;
pub mod gpu;
pub mod internals;
pub mod matmul;
pub mod model;
pub mod prefix;
pub(crate) mod quant_dot;
#[cfg(target_arch = "x86_64")]
mod quant_dot_avx2;
#[cfg(target_arch = "x86_64")]
mod quant_dot_avx512;
pub(crate) mod quant_dot_tile;
pub mod sampler;
pub mod speculative;
mod spm;
pub mod tokenizer;
mod weights;

pub use config::{Architecture, Config};
pub use constrain::{Constraints, Grammar, GrammarMatcher, GrammarVocab};
pub use dequant::dequantize;
pub use error::{Error, Result};
pub use generate::{step_batch, Finish, GenerateParams, Sequence, Step, TokenInfo};
pub use ggml_type::GgmlType;
pub use gguf::{GgufFile, Header, TensorInfo, Value};
pub use internals::{Internals, Probe};
pub use model::{KvCache, Model};
pub use prefix::{PrefixCache, PrefixStats};
pub use sampler::{EntropyGuide, Sampler, SamplerParams};
pub use tokenizer::{StreamDecoder, Tokenizer};
