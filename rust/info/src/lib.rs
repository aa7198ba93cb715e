//! thermoconsensus-info: information theory on samples and logits.
//!
//! * k-NN estimators (Kraskov, Stögbauer & Grassberger 2004): mutual information, conditional MI
//!   (Frenzel & Pompe 2007), transfer entropy (Schreiber 2000), active information storage and the
//!   Kozachenko-Leonenko entropy, exact max-norm neighbour search with a k-d tree, rayon-parallel and
//!   independent of the thread count;
//! * permutation significance tests, Ragwitz auto-embedding and pairwise TE networks with
//!   Benjamini-Hochberg FDR control.
//!
//! Conventions match JIDT's Kraskov calculators with normalisation and noise off; see each module.
#![deny(missing_docs)]

pub(crate) mod brute;
pub(crate) mod counts;
pub mod digamma;
pub mod discrete;
pub mod embed;
pub mod entropy;
pub mod error;
pub mod gpu;
pub(crate) mod grid;
pub mod kdtree;
pub mod ksg;
pub mod matrix;
pub mod multivariate;
pub mod network;
pub(crate) mod problem;
pub mod ragwitz;
pub(crate) mod search;
pub mod significance;
pub mod te;

pub use embed::TeEmbedding;
pub use entropy::entropy;
pub use error::{Error, Result};
pub use gpu::Compute;
pub use ksg::{
    conditional_mutual_information, conditional_mutual_information_on,
    conditional_mutual_information_with, local_conditional_mutual_information,
    local_mutual_information, mutual_information, mutual_information_on, mutual_information_with,
    Algorithm, KsgOptions, Norm,
};
pub use matrix::{Matrix, MatrixRef};
pub use multivariate::{
    multivariate_te, network_fdr, MultivariateTeSettings, TargetResult, Variable,
};
pub use network::{te_network, te_network_with_progress, TeNetwork};
pub use ragwitz::{ragwitz, RagwitzResult};
pub use significance::{JointSamples, SignificanceResult, Surrogates};
pub use te::{
    active_information_storage, local_active_information_storage, transfer_entropy, Conditionals,
    TeSamples,
};
pub use thermoconsensus_runtime::{run_with_threads, Error as RuntimeError, Progress};
