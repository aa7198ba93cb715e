//! The tensors of one transformer block, generic over where they live: `Weight`s and `Vec<f32>`s on the
//! host (`model.rs`), device matrices and buffers on a GPU (`gpu.rs`). One struct for both, so the two
//! cannot drift apart; [`Layer::try_map`] moves a block from one storage to the other field by field.

/// One block's matrices (`M`) and vectors (`V`): attention, optional biases and norms, feed-forward.
#[derive(Debug, Clone)]
pub(crate) struct Layer<M, V> {
    pub(crate) attn_norm: V,
    pub(crate) wq: M,
    pub(crate) wk: M,
    pub(crate) wv: M,
    pub(crate) wo: M,
    pub(crate) bq: Option<V>,
    pub(crate) bk: Option<V>,
    pub(crate) bv: Option<V>,
    pub(crate) q_norm: Option<V>,
    pub(crate) k_norm: Option<V>,
    pub(crate) post_attn_norm: Option<V>,
    pub(crate) ffn_norm: V,
    pub(crate) w_gate: M,
    pub(crate) w_up: M,
    pub(crate) w_down: M,
    pub(crate) post_ffn_norm: Option<V>,
}

impl<M, V> Layer<M, V> {
    /// The block with every matrix passed through `m` (with its GGUF name suffix, e.g. `"attn_q"`)
    /// and every vector through `v`; the first error stops it.
    pub(crate) fn try_map<M2, V2, E>(
        &self,
        mut m: impl FnMut(&M, &'static str) -> Result<M2, E>,
        mut v: impl FnMut(&V) -> Result<V2, E>,
    ) -> Result<Layer<M2, V2>, E> {
        let mut opt = |x: &Option<V>| x.as_ref().map(&mut v).transpose();
        let bq = opt(&self.bq)?;
        let bk = opt(&self.bk)?;
        let bv = opt(&self.bv)?;
        let q_norm = opt(&self.q_norm)?;
        let k_norm = opt(&self.k_norm)?;
        let post_attn_norm = opt(&self.post_attn_norm)?;
        let post_ffn_norm = opt(&self.post_ffn_norm)?;
        Ok(Layer {
            attn_norm: v(&self.attn_norm)?,
            ffn_norm: v(&self.ffn_norm)?,
            wq: m(&self.wq, "attn_q")?,
            wk: m(&self.wk, "attn_k")?,
            wv: m(&self.wv, "attn_v")?,
            wo: m(&self.wo, "attn_output")?,
            w_gate: m(&self.w_gate, "ffn_gate")?,
            w_up: m(&self.w_up, "ffn_up")?,
            w_down: m(&self.w_down, "ffn_down")?,
            bq,
            bk,
            bv,
            q_norm,
            k_norm,
            post_attn_norm,
            post_ffn_norm,
        })
    }
}
