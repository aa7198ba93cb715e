//! SentencePiece-style encoding of one text fragment, as llama.cpp does it for "llama" vocabularies
//! (llm_tokenizer_spm in llama-vocab.cpp): start from UTF-8 characters, repeatedly merge the adjacent
//! pair whose concatenation is the highest-scoring vocabulary entry (the leftmost on ties), and spell
//! leftover pieces that are not in the vocabulary as `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// A run of the text (byte offsets) in the doubly linked list of symbols.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of two adjacent symbols.
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bigram {
    // The heap's top is the highest score; among equal scores, the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// What the merge needs from the vocabulary.
pub(crate) struct Vocab<'a> {
    /// Token text to id.
    pub ids: &'a HashMap<String, u32>,
    /// Score of each token (tokenizer.ggml.scores).
    pub scores: &'a [f32],
    /// Fallback for a byte with no `<0xXX>` token and no single-character token.
    pub unk: Option<u32>,
}

struct Session<'a, 't> {
    vocab: &'a Vocab<'a>,
    text: &'t str,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
    rev_merge: HashMap<&'t str, (usize, usize)>,
}

/// Appends the token ids of `text` (spaces already replaced by '▁') to `out`.
pub(crate) fn encode(vocab: &Vocab<'_>, text: &str, out: &mut Vec<u32>) {
    let mut symbols = Vec::new();
    for (start, c) in text.char_indices() {
        let i = symbols.len();
        let len = c.len_utf8();
        symbols.push(Symbol {
            start,
            len,
            prev: i.checked_sub(1),
            next: (start + len < text.len()).then_some(i + 1),
        });
    }
    if symbols.is_empty() {
        return;
    }
    let mut s = Session {
        vocab,
        text,
        symbols,
        queue: BinaryHeap::new(),
        rev_merge: HashMap::new(),
    };
    for i in 1..s.symbols.len() {
        s.try_add_bigram(Some(i - 1), Some(i));
    }
    while let Some(b) = s.queue.pop() {
        let (l, r) = (s.symbols[b.left], s.symbols[b.right]);
        // Stale entry: one side has been merged into something else since it was queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
            continue;
        }
        s.symbols[b.left].len += r.len;
        s.symbols[b.right].len = 0;
        s.symbols[b.left].next = r.next;
        if let Some(n) = r.next {
            s.symbols[n].prev = Some(b.left);
        }
        s.try_add_bigram(l.prev, Some(b.left));
        s.try_add_bigram(Some(b.left), r.next);
    }
    let mut at = Some(0);
    while let Some(i) = at {
        s.resegment(i, out);
        at = s.symbols[i].next;
    }
}

impl<'t> Session<'_, 't> {
    fn piece(&self, i: usize) -> &'t str {
        let sym = self.symbols[i];
        &self.text[sym.start..sym.start + sym.len]
    }

    fn try_add_bigram(&mut self, left: Option<usize>, right: Option<usize>) {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let start = self.symbols[left].start;
        let size = self.symbols[left].len + self.symbols[right].len;
        let text = &self.text[start..start + size];
        let Some(&id) = self.vocab.ids.get(text) else {
            return;
        };
        let Some(&score) = self.vocab.scores.get(id as usize) else {
            return;
        };
        self.queue.push(Bigram {
            left,
            right,
            score,
            size,
        });
        self.rev_merge.insert(text, (left, right));
    }

    fn resegment(&self, i: usize, out: &mut Vec<u32>) {
        let piece = self.piece(i);
        if let Some(&id) = self.vocab.ids.get(piece) {
            out.push(id);
            return;
        }
        match self.rev_merge.get(piece) {
            // Only reached for pieces the vocabulary lacks, which merges never build; kept so the
            // recursion mirrors llama.cpp's exactly.
            Some(&(l, r)) if l != i && r != i => {
                self.resegment(l, out);
                self.resegment(r, out);
            }
            _ => {
                for b in piece.bytes() {
                    out.extend(self.byte_token(b));
                }
            }
        }
    }

    fn byte_token(&self, b: u8) -> Option<u32> {
        let ids = self.vocab.ids;
        ids.get(format!("<0x{b:02X}>").as_str())
            .or_else(|| std::str::from_utf8(&[b]).ok().and_then(|s| ids.get(s)))
            .copied()
            .or(self.vocab.unk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(entries: &[(&str, f32)]) -> (HashMap<String, u32>, Vec<f32>) {
        let ids = entries
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (t.to_string(), i as u32))
            .collect();
        (ids, entries.iter().map(|e| e.1).collect())
    }

    #[test]
    fn merges_highest_score_first_and_falls_back_to_bytes() {
        let (ids, scores) = vocab(&[
            ("<0x21>", 0.0),
            ("a", -1.0),
            ("b", -1.0),
            ("c", -1.0),
            ("ab", -5.0),
            ("bc", -2.0),
            ("abc", -3.0),
        ]);
        let v = Vocab {
            ids: &ids,
            scores: &scores,
            unk: None,
        };
        let mut out = Vec::new();
        // "bc" outranks "ab", then "a"+"bc" forms "abc"; "!" has only its byte token.
        encode(&v, "abc!", &mut out);
        assert_eq!(out, vec![6, 0]);
        out.clear();
        encode(&v, "", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn ties_go_to_the_leftmost_pair() {
        let (ids, scores) = vocab(&[("a", 0.0), ("aa", -1.0)]);
        let v = Vocab {
            ids: &ids,
            scores: &scores,
            unk: None,
        };
        let mut out = Vec::new();
        encode(&v, "aaa", &mut out);
        assert_eq!(out, vec![1, 0]);
    }
}
